"""The Sienge sandbox: the public REST API v1 as docs/api-facts-sienge.md describes it, on localhost.

`/{subdomain}/public/api/v1/...` behind HTTP Basic auth, the `resultSetMetadata` + `results` envelope with
`limit` (default 100, max 200) and `offset`, customers newest first with day-granular date filters, a bare
array for `/payment-categories`, 403 `Permission denied` for resources the API user was not granted, and HTML
404 pages for unknown routes. Behaviours the facts mark GUESS are switches (see `SIENGE_SWITCHES`).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ponte.sandbox.server import Request, Response, Router, SandboxApp, as_response
from ponte.sandbox.sienge import contracts, customers
from ponte.sandbox.sienge.admin import add_admin_routes
from ponte.sandbox.sienge.lists import ListSpec, list_specs
from ponte.sandbox.switches import Switch
from ponte.sandbox.timeline import Timeline

MAX_LIMIT = 200
HTML_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_scenario(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(value.get(k), int) and value[k] >= 1 for k in ("after", "count")
    ):
        return 'expects null or {"after": k >= 1, "count": n >= 1}'
    return None


SIENGE_SWITCHES: tuple[Switch, ...] = (
    Switch("limit_over_max", "error", "limit above the maximum page: 'error' (400) or 'clamp' to it.", guess=True, choices=("error", "clamp")),
    Switch("max_limit", MAX_LIMIT, "Largest page served (Sienge documents 200). Test knob: a smaller one (with limit_over_max=clamp) makes a client page more without more data.", check=lambda v: None if v >= 1 else "must be at least 1"),
    Switch("modified_after_inclusive", True, "modifiedAfter/createdAfter include records of the given day.", guess=True),
    Switch("auth_style", "plain", "401 body: 'plain' always {\"message\":\"Unauthorized\"}; 'kong' says 'Invalid authentication credentials' for wrong ones.", guess=True, choices=("plain", "kong")),
    Switch("customer_date_format", "date", "Customers' createdAt/modifiedAt as 'date' (yyyy-MM-dd) or 'datetime' (ISO with offset).", guess=True, choices=("date", "datetime")),
    Switch("extra_fields", True, "Send fields real responses carry but the saved Swagger lacks (customers modifiedAtDateTime, socialName; creditors creationDate, lastModificationDate, contacts); names observed, value formats guessed.", guess=True),
    Switch("sales_contract_lists", False, "Sales contracts' customers/units/conditions/brokers as arrays (not the Swagger's objects).", guess=True),
    Switch("deny", [], "Resource paths the API user was not granted: 403 Permission denied (e.g. /units; repeatable).", check=lambda v: None if all(isinstance(p, str) for p in v) else "expects a list of paths"),
    Switch("insert_customers_after_requests", None, 'Scenario {"after": k, "count": n}: insert n new customers when the k-th customers request arrives.', check=_check_scenario),
)  # fmt: skip


class BadRequest(Exception):
    """A malformed parameter: answered 400 with Sienge's ResponseMessage object."""


class SiengeApp(SandboxApp):
    """Sienge REST v1 for one tenant (`subdomain`), with `records` customers generated lazily."""

    name = "sienge"
    extra_switches = SIENGE_SWITCHES

    def __init__(
        self,
        records: int = 500,
        seed: int = 42,
        subdomain: str = "demo",
        username: str = "demo-api",
        password: str = "demo-secret",
        switches: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(seed)
        self.records, self.subdomain, self.username = records, subdomain, username
        self.base_path = f"/{subdomain}/public/api/v1"
        self._credentials = (username, password)
        self._expected_auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.customers = Timeline(seed, 1, records, customers.FIRST_DAY, customers.LAST_DAY)
        self.contracts = Timeline(seed, 2, records // 5, contracts.FIRST_DAY, contracts.LAST_DAY, 0.2, 180)
        self.lists: dict[str, ListSpec] = list_specs(seed)
        units, enterprises = self.lists["/units"].rows, self.lists["/enterprises"].rows
        self.contract_refs = contracts.ContractRefs(units, {e["id"]: e for e in enterprises}, records)
        self._scenario_lock = threading.Lock()
        self._customer_requests, self._scenario_fired = 0, False
        self.api = Router()
        self.api.add("GET", "/customers", self._customers)
        self.api.add("GET", "/sales-contracts", self._sales_contracts)
        self.api.add("GET", "/payment-categories", lambda r: Response(200, self.lists["/payment-categories"].rows))
        self.api.add("GET", r"/cost-databases/(?P<id>\d+)/resources", self._resources)
        for path, spec in self.lists.items():
            if path != "/payment-categories":
                self.api.add("GET", re.escape(path), functools.partial(self._list, spec=spec))
        add_admin_routes(self)
        if switches:
            self.configure(**switches)

    # --- SandboxApp hooks ---------------------------------------------------------------------------------
    def in_scope(self, path: str) -> bool:
        """Kong fronts the whole tenant prefix (REST and bulk); other paths never reach it."""
        return path.startswith(f"/{self.subdomain}/public/api/")

    def error_body(self, status: int, message: str) -> Any:
        """Sienge's `ResponseMessage`."""
        return {"status": status, "developerMessage": message, "clientMessage": message}

    def on_configure(self, changes: Mapping[str, Any]) -> None:
        """A new insert scenario starts counting customers requests from zero."""
        if "insert_customers_after_requests" in changes:
            with self._scenario_lock:
                self._customer_requests, self._scenario_fired = 0, False

    def serve(self, request: Request) -> Response:
        """Auth, grants, routing; parameter errors become 400 ResponseMessage bodies."""
        if not request.path.startswith(self.base_path + "/"):
            return Response(404, HTML_404)
        refused = self._check_auth(request)
        if refused:
            return refused
        resource = request.path[len(self.base_path) :]
        if any(resource == p.rstrip("/") or resource.startswith(p.rstrip("/") + "/") for p in self.switches["deny"]):
            return Response(403, {"message": "Permission denied"})
        handler, params, exists = self.api.match(request.method, resource)
        if handler is None:
            if exists:
                return Response(405, self.error_body(405, f"Request method '{request.method}' not supported"))
            return Response(404, HTML_404)
        request.params = params
        try:
            return as_response(handler(request))
        except BadRequest as exc:
            return Response(400, self.error_body(400, str(exc)))

    def _check_auth(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization")
        if header == self._expected_auth or self._decode_basic(header) == self._credentials:
            return None
        plain = self.switches["auth_style"] == "plain" or not header
        message = "Unauthorized" if plain else "Invalid authentication credentials"
        return Response(401, {"message": message}, {"WWW-Authenticate": 'Basic realm="sienge"'})

    @staticmethod
    def _decode_basic(header: str | None) -> tuple[str, str] | None:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except ValueError:
            return None
        return user, password

    # --- paging and parameters ----------------------------------------------------------------------------
    def page(
        self, request: Request, rows: Sequence[Any], build: Callable[[Any], Any] | None = None, default_limit: int = 100
    ) -> dict[str, Any]:
        """The standard envelope for one page of `rows` (`count` is the total, not the page size)."""
        limit, offset = _int(request, "limit", default_limit), _int(request, "offset", 0)
        largest = self.switches["max_limit"]
        if limit < 1 or (limit > largest and self.switches["limit_over_max"] == "error"):
            raise BadRequest(f"O parâmetro limit deve estar entre 1 e {largest} (recebido: {limit}).")
        if offset < 0:
            raise BadRequest(f"O parâmetro offset não pode ser negativo (recebido: {offset}).")
        limit = min(limit, largest)
        chunk = rows[offset : offset + limit]
        results = [build(x) for x in chunk] if build else list(chunk)
        return {"resultSetMetadata": {"count": len(rows), "offset": offset, "limit": limit}, "results": results}

    def day_bounds(self, request: Request) -> tuple[tuple[int | None, int | None], tuple[int | None, int | None]]:
        """((createdAfter, createdBefore), (modifiedAfter, modifiedBefore)) as inclusive day ordinals."""
        shift = 0 if self.switches["modified_after_inclusive"] else 1
        after = [_day(request, name) for name in ("createdAfter", "modifiedAfter")]
        before = [_day(request, name) for name in ("createdBefore", "modifiedBefore")]
        lows = [None if d is None else d + shift for d in after]
        return (lows[0], before[0]), (lows[1], before[1])

    # --- resources ----------------------------------------------------------------------------------------
    def _customers(self, request: Request) -> Response:
        self._run_insert_scenario()
        created, modified = self.day_bounds(request)
        only_active = request.query.get("onlyActive", "").lower() == "true"
        cpf, cnpj = request.query.get("cpf"), request.query.get("cnpj")
        timeline, seed = self.customers, self.seed
        rows: Sequence[int]
        if cpf or cnpj:
            found = customers.find_by_document(seed, cnpj or cpf or "", company=bool(cnpj))
            if cpf and cnpj and found != customers.find_by_document(seed, cpf, company=False):
                found = None
            ok = found is not None and timeline.matches(found, created, modified)
            rows = [found] if ok and found and (not only_active or customers.is_active(seed, found)) else []
        else:
            extra = functools.partial(customers.is_active, seed) if only_active else None
            rows = timeline.select(created, modified, extra, "active" if only_active else None)
        style, extra = self.switches["customer_date_format"], self.switches["extra_fields"]
        return Response(200, self.page(request, rows, lambda i: customers.customer(seed, i, timeline, style, extra)))

    def _run_insert_scenario(self) -> None:
        scenario = self.switches["insert_customers_after_requests"]
        if not scenario:
            return
        with self._scenario_lock:
            self._customer_requests += 1
            if self._scenario_fired or self._customer_requests < scenario["after"]:
                return
            self._scenario_fired = True
        self.customers.insert(scenario["count"], self.now())

    def _sales_contracts(self, request: Request) -> Response:
        created, modified = self.day_bounds(request)
        wanted: dict[str, frozenset[int]] = {}
        for name in ("customerId", "companyId", "enterpriseId", "unitId", "situation"):
            raw = request.query.get(name, "").strip()
            if raw and not (name in ("companyId", "enterpriseId") and raw == "0"):  # 0 is the documented default
                try:
                    wanted[name] = frozenset(int(v) for v in raw.split(","))
                except ValueError:
                    raise BadRequest(f"Parâmetro {name} inválido: {raw}") from None
        extra = contracts.matcher(self.seed, self.contract_refs, wanted)
        rows = self.contracts.select(created, modified, extra, tuple(sorted(wanted.items())) if wanted else None)
        as_lists, refs, timeline = self.switches["sales_contract_lists"], self.contract_refs, self.contracts
        return Response(
            200, self.page(request, rows, lambda i: contracts.contract(self.seed, i, timeline, refs, as_lists))
        )

    def _resources(self, request: Request) -> Response:
        database_id = int(request.params["id"])
        rows = self.lists["/cost-databases"].extra.get(database_id)
        if rows is None:
            message = f"Tabela de custos unitários {database_id} não encontrada."
            return Response(404, self.error_body(404, message))
        status = request.query.get("status")
        if status:
            rows = [r for r in rows if r["status"] == status.upper()]
        return Response(200, self.page(request, rows))

    def _list(self, request: Request, spec: ListSpec) -> Response:
        rows = spec.select(request.query)
        build = None
        if spec.undocumented and not self.switches["extra_fields"]:
            build = functools.partial(_without, names=spec.undocumented)
        body = self.page(request, rows, build, default_limit=spec.default_limit)
        if spec.links:
            body["links"] = self._links(request, body["resultSetMetadata"])
        return Response(200, body)

    def _links(self, request: Request, meta: Mapping[str, int]) -> list[dict[str, str]]:
        href = f"{self.base_path}{request.path[len(self.base_path) :]}?limit={meta['limit']}&offset="
        links = [{"rel": "self", "href": f"{href}{meta['offset']}"}]
        if meta["offset"] + meta["limit"] < meta["count"]:
            links.append({"rel": "next", "href": f"{href}{meta['offset'] + meta['limit']}"})
        if meta["offset"] > 0:
            links.append({"rel": "previous", "href": f"{href}{max(0, meta['offset'] - meta['limit'])}"})
        return links


def _without(row: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A row minus the fields the Swagger lacks (`extra_fields` off)."""
    return {k: v for k, v in row.items() if k not in names}


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"O parâmetro {name} deve ser um número inteiro (recebido: {raw}).") from None


def _day(request: Request, name: str) -> int | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        if not _DAY.match(raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw).toordinal()
    except ValueError:
        raise BadRequest(f"O parâmetro {name} deve estar no formato yyyy-MM-dd (recebido: {raw}).") from None


__all__ = ["SIENGE_SWITCHES", "BadRequest", "SiengeApp"]
