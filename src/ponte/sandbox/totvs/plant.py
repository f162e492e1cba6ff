"""The plant's own TOTVS API under `/plant/api` (seeds/sicfar-totvs-integrations.md), a facade over Protheus.

The seed configures `baseUrl .../api`, endpoints `/ordens-producao`, `/produtos`, `/lotes` and a bearer token
from `/auth/token`; everything else is the sandbox's reading of it, hence guesses [G]: a JSON body
`{"client_id","client_secret"}` → `{"access_token","token_type":"Bearer","expires_in":900}` (no refresh token),
the TOTVS collection envelope `{hasNext, items}` with `page`/`pageSize` (default 20) and `order`/`fields`,
camelCase Portuguese fields, and an `atualizadoDesde` filter (ISO date-time; without offset it is Brasília
time) on all three lists. The facade reads branch 01,01 (the Barbalha plant) of the same SB1/SC2/SB8 rows the
Protheus flavour serves, without the deleted ones; `atualizadoEm` is the row's last change (S_T_A_M_P_ where
the table has one) in Brasília time with milliseconds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from ponte.sandbox.credentials import bearer
from ponte.sandbox.server import Request, Response
from ponte.sandbox.switches import Switches
from ponte.sandbox.totvs.auth import json_object
from ponte.sandbox.totvs.errors import TotvsError, bad_request, unauthorized
from ponte.sandbox.totvs.flavour import NO_STORE, FlavourApi
from ponte.sandbox.totvs.pharma import BRT, Plant
from ponte.sandbox.totvs.plant_writes import PlantWrites, lot_status
from ponte.sandbox.totvs.query import Row, param
from ponte.sandbox.totvs.tables import iso_date
from ponte.sandbox.totvs.tokens import TokenStore

PREFIX = "/plant/api"
BRANCH = "01"


class PlantApi(FlavourApi):
    """SicFar's view of TOTVS: products (SKUs and inputs) with nominal speeds, production orders, lots."""

    name = "plant"
    page_size_switch = "plant_page_size_default"

    def __init__(
        self,
        switches: Switches,
        tokens: TokenStore,
        plant: Plant,
        client_id: str,
        client_secret: str,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__(switches, tokens)
        self.plant = plant
        self.client = (client_id, client_secret)
        self.open.add("POST", f"{PREFIX}/auth/token", self.token)
        self.routes.add("GET", f"{PREFIX}/produtos", self.produtos)
        self.routes.add("GET", f"{PREFIX}/ordens-producao", self.ordens)
        self.routes.add("GET", f"{PREFIX}/lotes", self.lotes)
        # SicFar → TOTVS (plant_writes.py): appointments on an order, lot status
        writes = PlantWrites(switches, plant, BRANCH, now or (lambda: dt.datetime.now(dt.UTC)),
                             lambda request, rows: self.collection(request, rows), _ordem, _lote)  # fmt: skip
        self.writes = writes
        appointments = f"{PREFIX}/ordens-producao/(?P<numero>[^/]+)/apontamentos"
        self.routes.add("POST", appointments, writes.post_appointment)
        self.routes.add("GET", appointments, writes.list_appointments)
        self.routes.add("PATCH", f"{PREFIX}/lotes/(?P<lote>[^/]+)", writes.patch_lot)

    def token(self, request: Request) -> Response:
        if "x-www-form-urlencoded" in request.headers.get("Content-Type", "").lower():
            body: dict[str, Any] = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
            request.context["body"] = body
        else:
            body = json_object(request)
        client_id, secret = body.get("client_id"), body.get("client_secret")
        request.context["user"] = client_id
        if not client_id or not secret:
            raise bad_request("Credenciais obrigatórias.", "client_id and client_secret are required")
        if (client_id, secret) != self.client:
            raise TotvsError(401, "Credenciais inválidas.", "invalid client_id or client_secret", code="401")
        access, _, ttl = self.tokens.issue(self.name, str(client_id), with_refresh=False)
        return Response(200, {"access_token": access, "token_type": "Bearer", "expires_in": ttl}, dict(NO_STORE))

    def authenticate(self, request: Request) -> None:
        token = bearer(request.headers.get("Authorization"))
        if not token:
            raise unauthorized("Missing Bearer token (POST /plant/api/auth/token).")
        request.context["user"] = self.tokens.subject(self.name, token)

    # --- lists --------------------------------------------------------------------------------------------
    def _since(self, request: Request) -> dt.datetime | None:
        raw = (param(request, "atualizadoDesde") or "").strip()
        if not raw:
            return None
        text = raw.replace("Z", "+00:00")
        if re.search(r"\d \d{2}:?\d{2}$", text):  # an unencoded '+' of the offset arrives as a space
            text = f"{text[: text.rindex(' ')]}+{text[text.rindex(' ') + 1 :]}"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise bad_request(
                "Parâmetro atualizadoDesde inválido.", f"atualizadoDesde must be an ISO 8601 date-time, got '{raw}'"
            ) from None
        return moment.replace(tzinfo=BRT) if moment.tzinfo is None else moment

    def _list(self, request: Request, table_rows: list[Row], build: Any, default_order: tuple[str, ...]) -> Response:
        since = self._since(request)
        inclusive = self.switches["plant_since_inclusive"]
        rows = [
            build(row)
            for row in table_rows
            if since is None or (row["_stamp"] >= since if inclusive else row["_stamp"] > since)
        ]
        known = list(build(table_rows[0])) if table_rows else list(default_order)
        return Response(200, self.collection(request, rows, known=known, default_order=default_order))

    def produtos(self, request: Request) -> Response:
        with self.plant.sb1.lock:
            return self._list(request, self.plant.sb1.live(BRANCH), _produto, ("codigo",))

    def ordens(self, request: Request) -> Response:
        with self.plant.sc2.lock:
            return self._list(request, self.plant.sc2.live(BRANCH), _ordem, ("numero",))

    def lotes(self, request: Request) -> Response:
        with self.plant.sb8.lock:
            return self._list(request, self.plant.sb8.live(BRANCH), _lote, ("codigoProduto", "lote"))


def updated_at(row: Row) -> str:
    """The row's last change in Brasília time, ISO 8601 with milliseconds and offset."""
    return row["_stamp"].astimezone(BRT).isoformat(timespec="milliseconds")


def _produto(row: Row) -> Row:
    speed = row["B1_XVELNOM"]
    return {
        "codigo": row["B1_COD"].strip(),
        "descricao": row["B1_DESC"].strip(),
        "tipo": row["B1_TIPO"].strip(),
        "unidade": row["B1_UM"].strip(),
        "velocidadeNominal": speed if speed else None,
        "ativo": row["B1_ATIVO"] != "N",
        "atualizadoEm": updated_at(row),
    }


def status(row: Row) -> str:
    """ABERTA (nothing produced yet), EM_PRODUCAO (open with production), ENCERRADA (C2_DATRF set)."""
    if row["C2_DATRF"].strip():
        return "ENCERRADA"
    return "EM_PRODUCAO" if row["C2_QUJE"] > 0 else "ABERTA"


def _ordem(row: Row) -> Row:
    return {
        "numero": f"{row['C2_NUM']}{row['C2_ITEM']}{row['C2_SEQUEN']}".strip(),
        "codigoProduto": row["C2_PRODUTO"].strip(),
        "lote": row["_lote"],
        "quantidadePlanejada": row["C2_QUANT"],
        "quantidadeProduzida": row["C2_QUJE"],
        "linha": row["_linha"],
        "status": status(row),
        "inicioPrevisto": iso_date(row["C2_DATPRI"]),
        "fimPrevisto": iso_date(row["C2_DATPRF"]),
        "atualizadoEm": updated_at(row),
    }


def _lote(row: Row) -> Row:
    return {
        "codigoProduto": row["B8_PRODUTO"].strip(),
        "lote": row["B8_LOTECTL"].strip(),
        "fabricacao": iso_date(row["B8_DATA"]),
        "validade": iso_date(row["B8_DTVALID"]),
        "quantidade": row["B8_SALDO"],
        "status": lot_status(row),
        "atualizadoEm": updated_at(row),
    }


__all__ = ["PREFIX", "PlantApi", "status", "updated_at"]
