"""The ProExtend sandbox: the academic platform's integration API (ERP -> ProExtend) on localhost.

Faithful to /work/shared/seeds/proextend-sync-flow.md, the only source:

- base path `/{instituicao}/api/integration/v1` (the real API: https://{instituicao}.proextend.com.br/api/
  integration/v1); other institutions get 404;
- `Authorization: Bearer pex_...` on every request (missing/wrong: 401 `{"success": false, "message": ...}`);
  60 requests/min per key (429 with Retry-After);
- `POST /{units,areas,courses,subjects,professors,students,enrollments}/sync` with `{"<entity>": [...]}` of at most
  100 records -> `{"success": true, "message": "Sincronização de ... concluída.", "data": {created, updated,
  failed}}`; upsert by `code`; enrollments replace the whole student list; validation and dependency errors
  -> 422 `{"success": false, "message": "Erro de validação", "errors": {...}}` (`proextend_store.py`);
- `GET /sync-status`, `GET /units?per_page=&page=&search=`, `GET /units/{code}`, `GET /professors/{code}`,
  `GET /professors/{code}/subjects`, `GET /enrollments/{code}` (and, a guess, the same list/get for every entity).

Guessed behaviours are switches (`proextend_switches.py`). Admin endpoints under `/_sandbox/proextend/`.

    app = ProExtendApp(api_key="pex_sandbox_key")         # run_in_thread(app) for tests
    ponte sandbox proextend --port 8768                   # or python -m ponte.sandbox proextend
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ponte.sandbox.api_keys import ApiKeyApp, ApiKeyError
from ponte.sandbox.gates import Admission
from ponte.sandbox.proextend.store import ENTITIES, Store
from ponte.sandbox.proextend.switches import PROEXTEND_OVERRIDES, PROEXTEND_SWITCHES
from ponte.sandbox.server import Request, Response, Router

DEFAULT_API_KEY = "pex_sandbox_key"
DEFAULT_INSTITUTION = "demo"
API_SUFFIX = "/api/integration/v1"
ENTITY_PATTERN = "(?P<entity>" + "|".join(ENTITIES) + ")"


class ApiError(ApiKeyError):
    """An error answer in ProExtend's shape: {"success": false, "message": ..., "errors"?: {...}}."""

    def response(self) -> Response:
        body: dict[str, Any] = {"success": False, "message": self.message}
        if self.errors is not None:
            body["errors"] = dict(self.errors)
        return Response(self.status, body)


class ProExtendApp(ApiKeyApp):
    """ProExtend's integration API for one institution, reachable with any of `api_keys`."""

    name = "proextend"
    default_api_key = DEFAULT_API_KEY
    error = ApiError
    missing_key_text = "API Key inválida ou ausente."
    not_found_text = "Recurso não encontrado."
    wrong_method_text = "Método {method} não permitido."
    extra_switches = PROEXTEND_OVERRIDES + PROEXTEND_SWITCHES
    real_clock_zone = dt.UTC

    def __init__(
        self,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        institution: str = DEFAULT_INSTITUTION,
        seed: int = 42,
        switches: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(api_keys, seed)
        self.institution = institution
        self.base_path = f"/{institution}{API_SUFFIX}"
        self.store = Store(self.switches)
        self.api = Router()
        self.api.add("POST", f"/{ENTITY_PATTERN}/sync", self._sync)
        self.api.add("GET", "/sync-status", self._status)
        self.api.add("GET", f"/{ENTITY_PATTERN}", self._list)
        self.api.add("GET", f"/{ENTITY_PATTERN}/(?P<code>[^/]+)", self._get)
        self.api.add("GET", "/professors/(?P<code>[^/]+)/subjects", self._professor_enrollments)
        self.admin.add("GET", "/_sandbox/proextend/entities", lambda r: (200, {}, self.store.totals()))
        self.admin.add("GET", f"/_sandbox/proextend/{ENTITY_PATTERN}", self._admin_entity)
        self.admin.add("POST", "/_sandbox/proextend/reset", self._admin_reset)
        if switches:
            self.configure(**switches)

    # --- SandboxApp hooks ---------------------------------------------------------------------------------
    def in_scope(self, path: str) -> bool:
        """Anything under /{instituicao}/api passes the gates; other paths are plain 404s."""
        return path.startswith(f"/{self.institution}/api/")

    def refuse(self, request: Request, admission: Admission) -> Response:
        """429 in the API's error shape (message guessed from the seed's status table)."""
        response = ApiError(429, "Limite de taxa excedido. Tente novamente mais tarde.").response()
        response.headers.update(admission.headers)
        return response

    def error_body(self, status: int, message: str) -> Any:
        """Injected failures and sandbox errors in the API's error shape."""
        return {"success": False, "message": message}

    def log_fields(self, request: Request, response: Response) -> dict[str, Any]:
        """The API key masked (never in clear)."""
        return {"api_key": _mask(request.headers.get("Authorization"))}

    def given_key(self, request: Request) -> str:
        """The `pex_...` key of `Authorization: Bearer`."""
        scheme, _, given = (request.headers.get("Authorization") or "").strip().partition(" ")
        return given.strip() if scheme.lower() == "bearer" and given.startswith("pex_") else ""

    # --- endpoints ----------------------------------------------------------------------------------------
    def _stamp(self) -> str:
        return self.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _sync(self, request: Request) -> Response:
        entity = request.params["entity"]
        spec = ENTITIES[entity]
        try:
            body = orjson.loads(request.body) if request.body.strip() else {}
        except orjson.JSONDecodeError:
            body = {}  # Laravel reads an unparsable JSON body as no input: the wrapper is then missing
        records = body.get(entity) if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            message = (
                f"O campo {entity} é obrigatório." if records in (None, []) else f"O campo {entity} deve ser um array."
            )
            raise ApiError(422, "Erro de validação", {entity: [message]})
        limit = self.switches["max_batch_items"]
        if limit and len(records) > limit:
            raise ApiError(
                self.switches["over_limit_status"],
                "Erro de validação",
                {entity: [f"O campo {entity} não pode ter mais de {limit} itens."]},
            )
        counts, errors = self.store.sync(entity, records, self._stamp())
        if errors and self.switches["batch_mode"] == "atomic":
            raise ApiError(422, "Erro de validação", self._shape(entity, records, errors))
        body_out: dict[str, Any] = {
            "success": True,
            "message": f"Sincronização de {spec.done} concluída.",
            "data": counts,
        }
        if errors:
            body_out["data"]["errors"] = self._shape(entity, records, errors)
        return Response(200, body_out)

    def _shape(self, entity: str, records: list[Any], errors: Mapping[int, Mapping[str, list[str]]]) -> dict[str, Any]:
        style = self.switches["batch_error_style"]
        shaped: dict[str, Any] = {}
        for position, fields in errors.items():
            if style == "dotted":
                for field, messages in fields.items():
                    shaped[f"{entity}.{position}.{field}"] = list(messages)
            elif style == "per_record":
                record = records[position]
                code = record.get("code") if isinstance(record, dict) else None
                shaped[str(position)] = {"code": code, **{f: list(m) for f, m in fields.items()}}
            else:
                for field, messages in fields.items():
                    bucket = shaped.setdefault(field.split(".")[0], [])
                    bucket.extend(m for m in messages if m not in bucket)
        return shaped

    def _status(self, request: Request) -> Response:
        last = self.store.last_sync
        last_sync = None
        if last is not None:
            moment = dt.datetime.fromisoformat(last.replace("Z", "+00:00"))
            minutes = max(0, int((self.now() - moment).total_seconds() // 60))
            last_sync = {"timestamp": last, "minutes_ago": minutes}
        data = {
            "last_sync": last_sync,
            "entities": self.store.totals(),
            "api_client": {
                "name": "Integração - Acesso Completo",
                "scope": "full",
                "rate_limit": self.switches["rate_limit"],
            },
        }
        return Response(200, {"success": True, "data": data})

    def _list(self, request: Request) -> Response:
        entity = request.params["entity"]
        per_page = _int(request.query.get("per_page"), 15, "per_page")
        page = _int(request.query.get("page"), 1, "page")
        if per_page > 100:
            if self.switches["per_page_over_max"] == "error":
                raise ApiError(422, "Erro de validação", {"per_page": ["O campo per_page não pode ser maior que 100."]})
            per_page = 100
        search = request.query.get("search", "").strip().lower()
        with self.store.lock:
            rows = [_public(code, row) for code, row in self.store.data[entity].items()]
        if search:
            rows = [r for r in rows if search in r["code"].lower() or search in str(r.get("name", "")).lower()]
        total = len(rows)
        start = (page - 1) * per_page
        meta = {
            "current_page": page,
            "last_page": max(1, math.ceil(total / per_page)),
            "per_page": per_page,
            "total": total,
        }
        return Response(200, {"success": True, "data": rows[start : start + per_page], "meta": meta})

    def _get(self, request: Request) -> Response:
        entity, code = request.params["entity"], request.params["code"]
        with self.store.lock:
            row = self.store.data[entity].get(code)
        if row is None:
            raise ApiError(404, ENTITIES[entity].missing)
        return Response(200, {"success": True, "data": _public(code, row)})

    def _professor_enrollments(self, request: Request) -> Response:
        code = request.params["code"]
        with self.store.lock:
            if code not in self.store.data["professors"]:
                raise ApiError(404, ENTITIES["professors"].missing)
            rows = [
                _public(c, row)
                for c, row in self.store.data["enrollments"].items()
                if row.get("professor_code") == code
            ]
        return Response(200, {"success": True, "data": rows})

    # --- admin --------------------------------------------------------------------------------------------
    def _admin_entity(self, request: Request) -> tuple[int, dict[str, str], Any]:
        entity = request.params["entity"]
        with self.store.lock:
            rows = [_public(code, row) for code, row in self.store.data[entity].items()]
        return 200, {}, {"entity": entity, "total": len(rows), "records": rows}

    def _admin_reset(self, request: Request) -> tuple[int, dict[str, str], Any]:
        self.store.reset()
        self.reset_limits()
        return 200, {}, {"status": "ok"}


def _public(code: str, row: Mapping[str, Any]) -> dict[str, Any]:
    out = {"code": code, **{k: v for k, v in row.items() if k != "code"}}
    out.pop("responsible", None)
    return out


def _int(raw: str | None, default: int, name: str) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "Erro de validação", {name: [f"O campo {name} deve ser um número inteiro."]}) from None
    if value < 1:
        raise ApiError(422, "Erro de validação", {name: [f"O campo {name} deve ser pelo menos 1."]})
    return value


def _mask(header: str | None) -> str | None:
    if not header:
        return None
    token = header.partition(" ")[2] or header
    return token[:4] + "…" + token[-2:] if len(token) > 8 else "…"


__all__ = ["DEFAULT_API_KEY", "DEFAULT_INSTITUTION", "ApiError", "ProExtendApp"]
