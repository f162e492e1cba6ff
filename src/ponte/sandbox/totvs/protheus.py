"""Protheus REST under `/rest` (api-facts §6.1): OAuth2 password grant, genericQuery, the MRP production orders.

- Auth: Basic (Protheus user) [C] or `Bearer` from `POST /rest/api/oauth2/v1/token?grant_type=password&
  username=U&password=P` (query parameters; headers of those names also work [C3]; a form body too) → 201
  `{"access_token","refresh_token","scope":"default","token_type":"Bearer","expires_in":3600}` [G status/body];
  `grant_type=refresh_token&refresh_token=RT` [C3] rotates the refresh token [G switch]. Access 1 h, refresh
  24 h [C]. `POST /rest/api/framework/v1/invalidateToken` (Bearer, optional refresh_token) kills them [C].
- Header `TenantId: <empresa>,<filial>` on every data request [C3]: `01,01` and `01,02`; missing or unknown →
  400 [G].
- `GET /rest/api/framework/v1/genericQuery?tables=SB1&fields=&where=&order=&page=&pageSize=&DeletedFilter=&
  FilialFilter=` [C] → `{"items":[{lower-case columns}],"hasNext"}` [C3]; stored values (padding, YYYYMMDD);
  one table per query in the sandbox (no joins, no FromQry).
- `GET /rest/api/pcp/v1/mrpproductionorders` (+ `/{branchId}/{code}`) [C] TTALK MRPProductionOrders, built
  from SC2: `productionAmount` is the open balance (T4Q_SALDO = C2_QUANT - C2_QUJE), dates ISO.
- Writes (protheus_writes.py): a production appointment (SD3, MATA250) and a lot's status, the services an
  installation publishes itself [G]; SD3 is also readable through genericQuery (the look-up before posting).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from ponte.sandbox.credentials import bearer
from ponte.sandbox.server import Request, Response
from ponte.sandbox.switches import Switches
from ponte.sandbox.totvs.errors import TotvsError, bad_request, detail, not_found
from ponte.sandbox.totvs.flavour import NO_STORE, UserFlavourApi
from ponte.sandbox.totvs.pharma import TENANTS, Plant
from ponte.sandbox.totvs.protheus_writes import APPOINTMENT_PATH, LOT_STATUS_PATH, ProtheusWrites
from ponte.sandbox.totvs.query import Row, fields, names, order, paging, param, truthy, window
from ponte.sandbox.totvs.tables import SYSTEM_COLUMNS, Table, iso_date, stamp_text
from ponte.sandbox.totvs.tokens import TokenStore
from ponte.sandbox.totvs.where import parse

PREFIX = "/rest"
MRP_FIELDS = (
    "branchId", "productionOrder", "code", "product", "warehouse", "quantity", "productionAmount", "startDate",
    "deliveryDate", "type", "situation",
)  # fmt: skip
MRP_FILTERS = ("branchId", "productionOrder", "code", "product", "warehouse", "startDate", "deliveryDate")
SITUATIONS = {"N": "1", "S": "2", "U": "3"}  # C2_STATUS -> T4Q_SITUA 1=Normal 2=Sacramentada 3=Suspensa


class ProtheusApi(UserFlavourApi):
    """The Protheus flavour over the plant's tables."""

    name = "protheus"
    page_size_switch = "protheus_page_size_default"
    missing_credentials = "Missing credentials: send Basic auth or a Bearer token."
    missing_scheme = "Basic"

    def __init__(
        self,
        switches: Switches,
        tokens: TokenStore,
        plant: Plant,
        user: str,
        password: str,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__(switches, tokens, user, password)
        self.plant = plant
        self.open.add("POST", f"{PREFIX}/api/oauth2/v1/token", self.token)
        self.routes.add("POST", f"{PREFIX}/api/framework/v1/invalidateToken", self.invalidate)
        self.routes.add("GET", f"{PREFIX}/api/framework/v1/genericQuery", self.generic_query)
        self.routes.add("GET", f"{PREFIX}/api/pcp/v1/mrpproductionorders", self.mrp_orders)
        self.routes.add(
            "GET", f"{PREFIX}/api/pcp/v1/mrpproductionorders/(?P<branch>[^/]+)/(?P<code>[^/]+)", self.mrp_order
        )
        # SicFar → TOTVS (protheus_writes.py): an installation's own MATA250 and lot-status services [G]
        self.writes = ProtheusWrites(switches, plant, self.branch, now or (lambda: dt.datetime.now(dt.UTC)))
        self.routes.add("POST", f"{PREFIX}{APPOINTMENT_PATH}", self.writes.post_appointment)
        self.routes.add("POST", f"{PREFIX}{LOT_STATUS_PATH}", self.writes.post_lot_status)
        self.routes.add("GET", f"{PREFIX}{LOT_STATUS_PATH}", self.writes.list_lot_status)

    # --- auth ---------------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        """Password and refresh_token grants; credentials in the query, in headers or in a form body."""
        grant = self._credential(request, "grant_type")
        if not grant:
            raise bad_request("Parâmetro grant_type obrigatório.", "grant_type is required (password or refresh_token)")
        if grant == "password":
            user, password = self._credential(request, "username"), self._credential(request, "password")
            request.context["user"] = user
            if (user, password) != self.credentials:
                raise TotvsError(401, "Usuário ou senha inválidos.", "invalid username or password", code="401")
            access, refresh, ttl = self.tokens.issue(self.name, user or "", with_refresh=True)
        elif grant == "refresh_token":
            refresh_token = self._credential(request, "refresh_token")
            if not refresh_token:
                raise bad_request("Parâmetro refresh_token obrigatório.", "refresh_token is required")
            access, refresh, ttl = self.tokens.refresh(self.name, refresh_token)
        else:
            raise bad_request("grant_type não suportado.", f"unsupported grant_type '{grant}'")
        body = {"access_token": access, "refresh_token": refresh, "scope": "default", "token_type": "Bearer", "expires_in": ttl}  # fmt: skip
        return Response(self.switches["protheus_token_status"], body, dict(NO_STORE))

    def _credential(self, request: Request, name: str) -> str | None:
        value = param(request, name, headers_too=True)
        if value is None and request.body and "json" not in request.headers.get("Content-Type", "").lower():
            form = request.context.setdefault("form", _form(request.body))
            value = form.get(name)
        return value

    def branch(self, request: Request) -> str:
        """The branch (filial) of the TenantId header."""
        raw = request.headers.get("TenantId")
        if raw is None or not raw.strip():
            if not self.switches["protheus_tenant_required"]:
                return "01"
            raise bad_request(
                "Cabeçalho TenantId obrigatório.",
                "the TenantId header (<empresa>,<filial>, e.g. 01,01) is required",
                [detail("TenantId", "Informe a empresa e a filial.")],
            )
        tenant = ",".join(part.strip() for part in raw.split(","))
        if tenant not in TENANTS:
            raise bad_request("Empresa/filial inválida.", f"unknown TenantId '{raw}'; known: {', '.join(TENANTS)}")
        request.context["tenant"] = tenant
        return TENANTS[tenant]

    def invalidate(self, request: Request) -> Response:
        """Kill the Bearer token used (and `refresh_token` when given)."""
        token = bearer(request.headers.get("Authorization"))
        if not token:
            raise bad_request("Token não informado.", "invalidateToken needs the Bearer token to invalidate")
        killed = self.tokens.invalidate(self.name, token, param(request, "refresh_token", headers_too=True))
        return Response(200, {"code": "200", "message": "Token invalidado.", "invalidated": killed})

    # --- genericQuery -------------------------------------------------------------------------------------
    def generic_query(self, request: Request) -> Response:
        branch = self.branch(request)
        table = self._table(request)
        stamped = table.alias in {t.upper() for t in self.switches["protheus_row_stamp"]}
        known = table.column_names(stamped)
        chosen = self._fields(request, known)
        keep = parse(param(request, "where", headers_too=True) or "", table.alias, table.columns, stamped)
        hide_deleted = truthy(request, "DeletedFilter", True)
        own_branch = truthy(request, "FilialFilter", True)
        paged = paging(request, self.switches, self.switches[self.page_size_switch])
        with table.lock:
            rows = [
                row
                for row in table.rows
                if (not hide_deleted or row["D_E_L_E_T_"] != "*")
                and (not own_branch or row[table.branch_field].strip() == branch)
                and keep(row)
            ]
            ordered = order(rows, param(request, "order"), known, self.switches, ("R_E_C_N_O_",), _stored_value)
            chunk, has_next = window(ordered, paged)
            items = [render_row(row, chosen) for row in chunk]
        body: dict[str, Any] = {"items": items, "hasNext": has_next}
        if self.switches["protheus_remaining_records"]:
            body["remainingRecords"] = max(0, len(rows) - paged.offset - len(chunk))
        return Response(200, body)

    def _table(self, request: Request) -> Table:
        raw = (param(request, "tables", headers_too=True) or "").strip()
        if not raw:
            raise bad_request("Parâmetro tables obrigatório.", "tables is required, e.g. tables=SC2")
        aliases = [a.strip().upper() for a in raw.replace("|", ",").split(",") if a.strip()]
        if len(aliases) != 1:
            raise bad_request(
                "Consulta com mais de uma tabela não suportada.",
                f"tables '{raw}': the sandbox answers one table per genericQuery (no joins, no FromQry)",
            )
        try:
            return self.plant.table(aliases[0])
        except KeyError:
            raise bad_request(
                "Tabela inválida.", f"invalid object name '{aliases[0]}010' (the sandbox has SB1, SC2, SB8, SD3)"
            ) from None

    def _fields(self, request: Request, known: list[str]) -> list[str]:
        wanted = names(param(request, "fields", headers_too=True))
        if not wanted:
            return known
        chosen = []
        for name in wanted:
            upper = name.upper()
            if upper in known:
                chosen.append(upper)
            elif self.switches["unknown_fields"] == "error" or upper in SYSTEM_COLUMNS:
                raise bad_request("Parâmetro fields inválido.", f"invalid column name '{name}'")
        return chosen or known

    # --- MRP production orders ----------------------------------------------------------------------------
    def mrp_orders(self, request: Request) -> Response:
        branch = self.branch(request)
        wanted = {name: param(request, name) for name in MRP_FILTERS if param(request, name)}
        branch = (wanted.pop("branchId", None) or branch).strip()
        with self.plant.sc2.lock:
            items = [_mrp(row) for row in self.plant.sc2.live(branch)]
        items = [item for item in items if all(str(item[k]) == v.strip() for k, v in wanted.items())]
        if not items and self.switches["mrp_empty_is_404"]:
            raise not_found("no production order matches the filters", "Nenhuma ordem de produção encontrada.")
        paged = paging(request, self.switches, self.switches[self.page_size_switch])
        ordered = order(items, param(request, "order"), MRP_FIELDS, self.switches, ("branchId", "productionOrder"))
        chunk, has_next = window(ordered, paged)
        return Response(200, {"items": fields(chunk, param(request, "fields"), MRP_FIELDS, self.switches), "hasNext": has_next})  # fmt: skip

    def mrp_order(self, request: Request) -> Response:
        self.branch(request)
        branch, code = request.params["branch"].strip(), request.params["code"].strip()
        with self.plant.sc2.lock:
            for row in self.plant.sc2.live(branch):
                item = _mrp(row)
                if item["code"] == code or item["productionOrder"] == code:
                    return Response(200, fields([item], param(request, "fields"), MRP_FIELDS, self.switches)[0])
        raise not_found(f"production order {branch}/{code} not found", "Ordem de produção não encontrada.")


def _form(body: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _stored_value(row: Row, key: str) -> Any:
    if key == "S_T_A_M_P_":
        return row["_stamp"].isoformat()
    return row.get(key)


def render_row(row: Row, columns: list[str]) -> Row:
    """A stored row as genericQuery answers it: lower-case names, the stamp as text, D_E_L_E_T_ '' or '*'."""
    out: Row = {}
    for name in columns:
        if name == "S_T_A_M_P_":
            out["s_t_a_m_p_"] = stamp_text(row["_stamp"])
        elif name == "D_E_L_E_T_":
            out["d_e_l_e_t_"] = row["D_E_L_E_T_"].strip()
        else:
            out[name.lower()] = row[name]
    return out


def _mrp(row: Row) -> Row:
    """An SC2 row as an MRPProductionOrder (T4Q) item."""
    number = f"{row['C2_NUM']}{row['C2_ITEM']}{row['C2_SEQUEN']}".strip()
    closed = bool(row["C2_DATRF"].strip())
    kind = "5" if closed else ("1" if row["C2_TPOP"] == "P" else "2")  # 1=Planejada 2=Firme 5=Fechada
    return {
        "branchId": row["C2_FILIAL"].strip(),
        "productionOrder": number,
        "code": f"{row['C2_FILIAL'].strip()}{number}",
        "product": row["C2_PRODUTO"].strip(),
        "warehouse": row["C2_LOCAL"].strip(),
        "quantity": row["C2_QUANT"],
        "productionAmount": round(max(0.0, row["C2_QUANT"] - row["C2_QUJE"]), 2),
        "startDate": iso_date(row["C2_DATPRI"]),
        "deliveryDate": iso_date(row["C2_DATPRF"]),
        "type": kind,
        "situation": SITUATIONS.get(row["C2_STATUS"].strip(), "1"),
    }


__all__ = ["MRP_FIELDS", "PREFIX", "ProtheusApi", "render_row"]
