"""The RetailPortal sandbox: RetailPortal's product-catalogue ingest API (ERP -> portal) on localhost.

Faithful to /work/shared/seeds/retailportal-best-practices.md (chapter 9), the only source:

- `X-API-Key` header on every request (missing/wrong: 401); 100 requests/min per key, job polls included (429
  with Retry-After);
- `POST /erp-data/product/batch` (also PUT): a JSON array of 1..1,000 products -> 202 `{"jobId": ...}`; the job
  runs asynchronously at ~4 items/s (`retailportal_jobs.py`), upserting by `erpId` (idempotent re-sends);
- `GET /erp-data/jobs/{jobId}` (path is a guess: the seed polls jobs but never names the endpoint): state,
  counts, duration and per-item errors. The 202 names it in a `Location` header and as `statusUrl`; switches
  take the other reasonable choices (`job_status_links`, `job_status_route`, `job_success_state`,
  `item_error_field`) so clients can be tested against a server whose guesses differ;
- `GET /erp-data/product/get-latest-integration` -> `{"lastDateTime": ...}`;
- `GET /erp-data/integration-history[/{entityType}]?horas=24` -> one summary per batch, single-item errors;
- `GET /erp-data/batch-job-report` (the seed names only "/batch-job-report": shape guessed);
- single-item `POST /erp-data/product` and `PUT /erp-data/product/{erpId}` (seed §9.1 "POST / PUT único").

Admin endpoints under `/_sandbox/retailportal/` (`retailportal_admin.py`). Error bodies are guessed:
`{"success": false, "status": n, "message": "...", "errors": [...]}`.

    app = RetailPortalApp(api_key="rp_sandbox_key")       # run_in_thread(app) for tests
    ponte sandbox retailportal --port 8769                # or python -m ponte.sandbox retailportal
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ponte.sandbox.api_keys import ApiKeyApp, ApiKeyError
from ponte.sandbox.gates import Admission
from ponte.sandbox.retailportal.admin import add_admin_routes
from ponte.sandbox.retailportal.jobs import ENTITY, FINAL, Store, iso_z, validate
from ponte.sandbox.retailportal.switches import RETAILPORTAL_OVERRIDES, RETAILPORTAL_SWITCHES
from ponte.sandbox.server import Request, Response, Router

BASE_PATH = "/erp-data"
DEFAULT_API_KEY = "rp_sandbox_key"


class ApiError(ApiKeyError):
    """An error answer in RetailPortal's (guessed) shape (`errors`: a list)."""

    def response(self) -> Response:
        body: dict[str, Any] = {"success": False, "status": self.status, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return Response(self.status, body)


class RetailPortalApp(ApiKeyApp):
    """RetailPortal's ERP ingest API for products, one tenant reachable with any of `api_keys`."""

    name = "retailportal"
    default_api_key = DEFAULT_API_KEY
    error = ApiError
    missing_key_text = "API Key ausente ou inválida (cabeçalho X-API-Key)."
    not_found_text = "Recurso não encontrado: {path}"
    wrong_method_text = "Método {method} não permitido em {path}."
    base_path = BASE_PATH
    extra_switches = RETAILPORTAL_OVERRIDES + RETAILPORTAL_SWITCHES

    def __init__(
        self,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        seed: int = 42,
        switches: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(api_keys, seed)
        self.store = Store(self.switches)
        self.api = Router()
        for method in ("POST", "PUT"):
            self.api.add(method, "/product/batch", self._batch)
        self.api.add("POST", "/product", self._single)
        self.api.add("PUT", r"/product/(?P<erp_id>-?\d+)", self._single)
        self.api.add("GET", r"/jobs/(?P<job_id>[^/]+)", functools.partial(self._job, "jobs"))
        self.api.add("GET", r"/product/batch/(?P<job_id>[^/]+)", functools.partial(self._job, "product-batch"))
        self.api.add("GET", "/product/get-latest-integration", self._latest)
        self.api.add("GET", "/integration-history", self._history)
        self.api.add("GET", r"/integration-history/(?P<entity>[^/]+)", self._history)
        self.api.add("GET", "/batch-job-report", self._report)
        add_admin_routes(self)
        if switches:
            self.configure(**switches)

    # --- SandboxApp hooks ---------------------------------------------------------------------------------
    def in_scope(self, path: str) -> bool:
        """Everything under /erp-data passes the gates; other paths are plain 404s."""
        return path == BASE_PATH or path.startswith(f"{BASE_PATH}/")

    def refuse(self, request: Request, admission: Admission) -> Response:
        """429 in the API's error shape."""
        limit, window = self.switches["rate_limit"], self.switches["rate_window_seconds"]
        message = f"Limite de requisições excedido: {limit} por {window:g} s por chave de API."
        response = ApiError(429, message).response()
        response.headers.update(admission.headers)
        return response

    def error_body(self, status: int, message: str) -> Any:
        """Injected failures and sandbox errors in the API's error shape."""
        return {"success": False, "status": status, "message": message}

    def log_fields(self, request: Request, response: Response) -> dict[str, Any]:
        """The API key masked (never in clear), in the log and in the logged headers."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("authorization", "x-api-key")}
        return {"api_key": _mask(request.headers.get("X-API-Key")), "headers": headers}

    def given_key(self, request: Request) -> str:
        """The `X-API-Key` header."""
        return request.headers.get("X-API-Key") or ""

    # --- endpoints ----------------------------------------------------------------------------------------
    def _body(self, request: Request) -> Any:
        try:
            return orjson.loads(request.body) if request.body.strip() else None
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"JSON inválido: {exc}") from None

    def _batch(self, request: Request) -> Response:
        body = self._body(request)
        items = body.get("items") if isinstance(body, dict) else body  # {"items": [...]} accepted too (guess)
        if not isinstance(items, list):
            raise ApiError(400, "O corpo deve ser um array JSON de produtos.")
        if not items:
            raise ApiError(400, "O lote está vazio.")
        limit = self.switches["max_batch_items"]
        if limit and len(items) > limit:
            status = self.switches["over_limit_status"]
            raise ApiError(status, f"O lote excede o limite de {limit} itens ({len(items)} enviados).")
        operation = f"{request.method} /product/batch"
        job = self.store.submit(request.context["api_key"], operation, items)
        route = "/jobs" if self.switches["job_status_route"] == "jobs" else "/product/batch"
        location = f"{BASE_PATH}{route}/{job.id}"
        links = self.switches["job_status_links"]
        body = {
            "success": True,
            "jobId": job.id,
            "state": self.store.state_name(job),
            "entityType": ENTITY,
            "totalItems": job.total,
            "message": "Lote aceito para processamento.",
        }
        if links in ("both", "body"):
            body["statusUrl"] = location
        return Response(202, body, {"Location": location} if links in ("both", "location") else {})

    def _single(self, request: Request) -> Response:
        item = self._body(request)
        operation = f"{request.method} /product" + ("/{erpId}" if "erp_id" in request.params else "")
        if "erp_id" in request.params and isinstance(item, dict):
            path_id = int(request.params["erp_id"])
            if item.setdefault("erpId", path_id) != path_id:
                errors = [{"field": "erpId", "message": "erpId é imutável e deve coincidir com o da URL."}]
                self.store.log_error(operation, item.get("erpId"), errors)
                raise ApiError(400, "Erro de validação.", errors)
        errors = validate(item)
        erp_id = item.get("erpId") if isinstance(item, dict) else None
        if errors:
            self.store.log_error(operation, erp_id, errors)
            raise ApiError(400, "Erro de validação.", errors)
        with self.store.lock:
            self.store.tick()
            created = self.store.upsert(item, None)
            product = dict(self.store.products[erp_id])
        return Response(201 if created else 200, product)

    def _job(self, route: str, request: Request) -> Response:
        if route != self.switches["job_status_route"]:
            raise ApiError(404, f"Recurso não encontrado: {request.path}")
        with self.store.lock:
            self.store.tick()
            job = self.store.jobs.get(request.params["job_id"])
            if job is None:
                raise ApiError(404, f"Job {request.params['job_id']} não encontrado.")
            return Response(200, self.store.job_view(job))

    def _latest(self, request: Request) -> Response:
        with self.store.lock:
            self.store.tick()
            latest = self.store.latest
        if latest is None:
            if self.switches["empty_latest"] == "404":
                raise ApiError(404, "Nenhuma integração concluída.")
            latest = {"lastDateTime": None, "jobId": None, "entityType": ENTITY}
        return Response(200, latest)

    def _history(self, request: Request) -> Response:
        raw = request.query.get("horas")
        try:
            hours = float(raw) if raw not in (None, "") else 24.0
        except ValueError:
            raise ApiError(400, "horas deve ser numérico.") from None
        self.store.tick()
        return Response(200, self.store.history_view(request.params.get("entity"), hours))

    def _report(self, request: Request) -> Response:
        with self.store.lock:
            self.store.tick()
            jobs = list(self.store.jobs.values())
            views = [self.store.job_view(j) for j in jobs]
            report = {
                "generatedAt": iso_z(self.store.moment()),
                "jobs": len(jobs),
                "byState": {s: sum(1 for v in views if v["state"] == s) for s in {v["state"] for v in views}},
                "finishedJobs": sum(1 for j in jobs if j.state in FINAL),
                "totalItems": sum(v["totalItems"] for v in views),
                "successCount": sum(v["successCount"] for v in views),
                "failureCount": sum(v["failureCount"] for v in views),
                "recentJobs": [{k: v[k] for k in ("jobId", "state", "totalItems", "successCount", "failureCount", "duration")} for v in views[-50:]],
            }  # fmt: skip
        return Response(200, report)


def _mask(value: str | None) -> str | None:
    if not value:
        return None
    return value[:3] + "***" if len(value) > 6 else "***"


__all__ = ["BASE_PATH", "DEFAULT_API_KEY", "RetailPortalApp"]
