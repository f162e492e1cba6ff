"""Write calls of Protheus (SicFar → TOTVS): production appointment (MATA250 / SD3) and lot status, guesses [G].

TOTVS publishes no standard REST endpoint for either (targets/totvs-protheus.yml): installations write their own
service (TLPP/WSRESTFUL calling MATA250 by ExecAuto). The sandbox serves the paths target-totvs defaults to and
behaves as such a service over the plant's tables:

- `POST /rest/api/pcp/v1/productionappointments` (TenantId) `{"D3_OP", "D3_TM", "D3_QUANT", "D3_LOTECTL",
  "D3_DOC", "D3_COD"?, "D3_PERDA"?, "D3_EMISSAO"? YYYYMMDD, "D3_PARCTOT"? P|T}` → 201 with the SD3 row written
  (trimmed, `D3_NUMSEQ` its sequence). NOT idempotent, like MATA250: posted twice, two SD3 rows, and the order's
  C2_QUJE and the lot's SB8 stock grow twice. `D3_PARCTOT` T also closes the order (C2_DATRF). Without `D3_COD`
  the product comes from the order, as MATA250's trigger on D3_OP fills it (switch `protheus_product_from_order`).
- The look-up before posting is standard genericQuery: `tables=SD3&where=D3_DOC = '...' AND D3_ESTORNO = ' '`.
- `POST /rest/api/est/v1/lotstatus` `{"B8_LOTECTL", "status", "B8_PRODUTO"?}` → 200 `{B8_PRODUTO, B8_LOTECTL,
  status}`; idempotent. `GET` of the same path (`?B8_LOTECTL=&B8_PRODUTO=`) lists lots with their status.

Refusals come in the TOTVS error model with the code under `errorCode` (SetRestFault's JSON; switch
`protheus_error_code_field`): 400 a malformed body (one `details` entry per field), 404 unknown order or lot,
422 order closed, lot not the order's, product not the order's, quantity over the order's remainder, an exit
movement type (TM 501-999), a lot number shared by several products without B8_PRODUTO. Every Nth write loses
its answer after committing with `commit_then_drop_every`, as on the plant API.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from ponte.sandbox.server import Request, Response
from ponte.sandbox.switches import Switches
from ponte.sandbox.totvs.auth import json_object
from ponte.sandbox.totvs.errors import TotvsError, bad_request, detail, not_found
from ponte.sandbox.totvs.pharma import BRT, Plant
from ponte.sandbox.totvs.plant_writes import LOT_STATUSES, add_to_lot, lot_status
from ponte.sandbox.totvs.query import Row, param
from ponte.sandbox.totvs.tables import store_date

APPOINTMENT_PATH = "/api/pcp/v1/productionappointments"
LOT_STATUS_PATH = "/api/est/v1/lotstatus"
SD3_ANSWER = ("D3_FILIAL", "D3_NUMSEQ", "D3_DOC", "D3_OP", "D3_COD", "D3_TM", "D3_QUANT", "D3_PERDA", "D3_LOTECTL",
              "D3_LOCAL", "D3_EMISSAO", "D3_PARCTOT")  # fmt: skip


class ProtheusWrites:
    """The write services; `branch(request)` is the TenantId's filial (400 without one, as every Protheus call)."""

    def __init__(
        self, switches: Switches, plant: Plant, branch: Callable[[Request], str], now: Callable[[], dt.datetime]
    ) -> None:
        self.switches, self.plant, self.branch, self.now = switches, plant, branch, now
        self.lock = threading.Lock()
        self.writes = 0

    # --- production appointment (MATA250) ---------------------------------------------------------------------
    def post_appointment(self, request: Request) -> Response:
        return self._answering(self._post_appointment, request)

    def _post_appointment(self, request: Request) -> Response:
        branch = self.branch(request)
        wanted = _appointment_body(json_object(request))
        sc2, sb8, sd3 = self.plant.sc2, self.plant.sb8, self.plant.sd3
        with sc2.lock, sb8.lock, sd3.lock, self.lock:
            order = self._order(branch, wanted["D3_OP"])
            number, product = wanted["D3_OP"], order["C2_PRODUTO"].strip()
            if order["C2_DATRF"].strip():
                raise _refused("Ordem de produção encerrada.", f"OP {number} was closed on {order['C2_DATRF']} (C2_DATRF)",
                               "OPENCERRADA")  # fmt: skip
            if wanted["D3_LOTECTL"] != order["_lote"]:
                raise _refused("Lote não pertence à ordem de produção.",
                               f"lot '{wanted['D3_LOTECTL']}' is not the lot of OP {number} ('{order['_lote']}')",
                               "LOTEINVALIDO")  # fmt: skip
            given = wanted.get("D3_COD")
            if given is None and not self.switches["protheus_product_from_order"]:
                raise bad_request("Apontamento inválido.", "D3_COD is required",
                                  [detail("D3_COD", "Campo D3_COD obrigatório.")])  # fmt: skip
            if given is not None and given != product:
                raise _refused("Produto diferente do produto da ordem de produção.",
                               f"D3_COD '{given}' is not the product of OP {number} ('{product}')", "PRODDIF")  # fmt: skip
            quantity = wanted["D3_QUANT"]
            remainder = round(order["C2_QUANT"] - order["C2_QUJE"], 2)
            if quantity > remainder:
                raise _refused("Quantidade excede o saldo da ordem de produção.",
                               f"D3_QUANT {quantity} > C2_QUANT {order['C2_QUANT']} - C2_QUJE {order['C2_QUJE']}"
                               f" = {remainder}", "QTDMAIOR")  # fmt: skip
            moment = self.now()
            day = wanted.get("D3_EMISSAO") or moment.astimezone(BRT).strftime("%Y%m%d")
            changes: Row = {"C2_QUJE": order["C2_QUJE"] + quantity}
            if wanted["D3_PARCTOT"] == "T":  # a total appointment closes the order
                changes["C2_DATRF"] = day
            sc2.change(order, changes, moment)
            add_to_lot(self.plant, branch, order, quantity, moment)
            values = {
                "D3_FILIAL": branch, "D3_TM": wanted["D3_TM"], "D3_COD": product, "D3_UM": order["C2_UM"].strip(),
                "D3_QUANT": quantity, "D3_PERDA": wanted["D3_PERDA"], "D3_OP": number,
                "D3_LOCAL": order["C2_LOCAL"].strip(), "D3_DOC": wanted["D3_DOC"], "D3_EMISSAO": day, "D3_CF": "PR0",
                "D3_LOTECTL": wanted["D3_LOTECTL"], "D3_NUMSEQ": f"{len(sd3.rows) + 1:06d}",
                "D3_PARCTOT": wanted["D3_PARCTOT"], "D3_ESTORNO": "",
            }  # fmt: skip
            row = sd3.insert(values, moment)
            return self._dropping(Response(201, {name: _plain(row[name]) for name in SD3_ANSWER}))

    # --- lot status ---------------------------------------------------------------------------------------------
    def post_lot_status(self, request: Request) -> Response:
        return self._answering(self._post_lot_status, request)

    def _post_lot_status(self, request: Request) -> Response:
        branch = self.branch(request)
        body = json_object(request)
        status, lot, product = body.get("status"), body.get("B8_LOTECTL"), body.get("B8_PRODUTO")
        problems = []
        if not isinstance(lot, str) or not lot.strip():
            problems.append(detail("B8_LOTECTL", "Campo B8_LOTECTL obrigatório."))
        if status not in LOT_STATUSES:
            problems.append(detail("status", f"Informe um de: {', '.join(LOT_STATUSES)}."))
        if problems:
            raise bad_request("Status de lote inválido.", "; ".join(p["message"] for p in problems), problems)
        sb8 = self.plant.sb8
        with sb8.lock, self.lock:
            rows = self._lots(branch, str(lot).strip(), product.strip() if isinstance(product, str) else None)
            if not rows:
                raise not_found(f"no lot '{lot}' in branch {branch}", "Lote não encontrado.")
            if len({r["B8_PRODUTO"].strip() for r in rows}) > 1:
                raise _refused("Lote existe para mais de um produto: informe B8_PRODUTO.",
                               f"lot '{lot}' has products {sorted({r['B8_PRODUTO'].strip() for r in rows})}",
                               "LOTEAMBIGUO")  # fmt: skip
            moment = self.now()
            for row in rows:
                sb8.change(row, {}, moment)
                row["_status"] = status
            return self._dropping(Response(200, _lot(rows[0])))

    def list_lot_status(self, request: Request) -> Response:
        return self._answering(self._list_lot_status, request)

    def _list_lot_status(self, request: Request) -> Response:
        branch = self.branch(request)
        lot, product = (param(request, "B8_LOTECTL") or "").strip(), (param(request, "B8_PRODUTO") or "").strip()
        with self.plant.sb8.lock:
            rows = [_lot(r) for r in self._lots(branch, lot or None, product or None)]
        return Response(200, {"items": rows, "hasNext": False})

    # --- helpers ----------------------------------------------------------------------------------------------
    def _order(self, branch: str, number: str) -> Row:
        for row in self.plant.sc2.live(branch):
            if f"{row['C2_NUM']}{row['C2_ITEM']}{row['C2_SEQUEN']}".strip() == number:
                return row
        raise not_found(f"no production order '{number}' (SC2) in branch {branch}", "Ordem de produção não encontrada.")

    def _lots(self, branch: str, lot: str | None, product: str | None) -> list[Row]:
        return [
            r
            for r in self.plant.sb8.live(branch)
            if (lot is None or r["B8_LOTECTL"].strip() == lot)
            and (product is None or r["B8_PRODUTO"].strip() == product)
        ]

    def _answering(self, handler: Callable[[Request], Response], request: Request) -> Response:
        """The handler's answer; a refusal in the TOTVS model with its code under `protheus_error_code_field`."""
        try:
            return handler(request)
        except TotvsError as error:
            body = error.body(self.switches["error_code_type"])
            field = self.switches["protheus_error_code_field"]
            if field != "code":
                body = {field: body.pop("code"), **body}
            return Response(error.status, body, dict(error.headers))

    def _dropping(self, response: Response) -> Response:
        """Committed already; every Nth write (switch commit_then_drop_every) loses its answer."""
        every = self.switches["commit_then_drop_every"]
        self.writes += 1
        if every and self.writes % every == 0:
            response.drop, response.fault = True, "commit_then_drop"
        return response


def _refused(message: str, detailed: str, code: str) -> TotvsError:
    return TotvsError(422, message, detailed, code=code)


def _plain(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _lot(row: Row) -> Row:
    return {"B8_PRODUTO": row["B8_PRODUTO"].strip(), "B8_LOTECTL": row["B8_LOTECTL"].strip(), "status": lot_status(row)}


def _is_stored_date(value: Any) -> bool:
    """'YYYYMMDD' of a real day."""
    if not isinstance(value, str) or len(value) != 8 or not value.isdigit():
        return False
    try:
        store_date(value)
    except ValueError:
        return False
    return True


def _appointment_body(body: dict[str, Any]) -> Row:
    """The SD3 fields, trimmed, or a 400 naming every bad one (TOTVS `details`)."""
    problems = []
    widths = {"D3_OP": 14, "D3_TM": 3, "D3_LOTECTL": 10, "D3_DOC": 9}
    for name, width in widths.items():
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(detail(name, f"Campo {name} obrigatório."))
        elif len(value.strip()) > width:
            problems.append(detail(name, f"Campo {name} excede o tamanho {width}."))
    code = body.get("D3_COD")
    if code is not None and (not isinstance(code, str) or not code.strip() or len(code.strip()) > 15):
        problems.append(detail("D3_COD", "Campo D3_COD inválido (até 15 caracteres)."))
    for name, positive in (("D3_QUANT", True), ("D3_PERDA", False)):
        value = body.get(name, None if positive else 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0 or (positive and value == 0):
            problems.append(detail(name, f"{name} deve ser um número {'maior que zero' if positive else '>= 0'}."))
    tm = str(body.get("D3_TM") or "").strip()
    if tm.isdigit() and int(tm) > 500:
        problems.append(
            detail("D3_TM", "Tipo de movimento de saída (501-999) não permitido em apontamento de produção.")
        )
    emission = body.get("D3_EMISSAO")
    if emission is not None and not _is_stored_date(emission):
        problems.append(detail("D3_EMISSAO", "Data D3_EMISSAO inválida (AAAAMMDD)."))
    if body.get("D3_PARCTOT", "P") not in ("P", "T"):
        problems.append(detail("D3_PARCTOT", "D3_PARCTOT deve ser P (parcial) ou T (total)."))
    if problems:
        raise bad_request("Apontamento inválido.", "; ".join(p["message"] for p in problems), problems)
    return {
        "D3_OP": body["D3_OP"].strip(), "D3_TM": tm, "D3_LOTECTL": body["D3_LOTECTL"].strip(),
        "D3_DOC": body["D3_DOC"].strip(), "D3_COD": code.strip() if isinstance(code, str) else None,
        "D3_QUANT": body["D3_QUANT"], "D3_PERDA": body.get("D3_PERDA", 0), "D3_EMISSAO": emission,
        "D3_PARCTOT": body.get("D3_PARCTOT", "P"),
    }  # fmt: skip


__all__ = ["APPOINTMENT_PATH", "LOT_STATUS_PATH", "ProtheusWrites"]
