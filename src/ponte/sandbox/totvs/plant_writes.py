"""Write calls of the plant's API (SicFar → TOTVS): production appointments and lot status, all guesses [G].

The seed only says "POST para TOTVS API → TOTVS atualiza OP e estoque" with `/ordens-producao` and `/lotes`;
the shapes here are the sandbox's reading of it:

- `POST /ordens-producao/{numero}/apontamentos` `{"documento", "lote", "quantidade", "perdas": [{"motivo",
  "quantidade"}], "dataApontamento", "responsavel"}` → 201 with the appointment and its `id`. Like Protheus's
  MATA250 it is NOT idempotent: posted twice, the order's produced quantity (SC2 `C2_QUJE`) and the lot's stock
  (SB8 `B8_SALDO`) grow twice. Refusals in the TOTVS error model: 404 unknown order; 422 order closed
  (`C2_DATRF` set), lot not the order's, quantity over the order's remainder (`C2_QUANT - C2_QUJE`); 400 a
  malformed body (one `details` entry per field).
- `GET /ordens-producao/{numero}/apontamentos?documento=&lote=` → the order's appointments (TOTVS collection),
  so a client can look one up by its document before posting again.
- `PATCH /lotes/{lote}` `{"status", "codigoProduto"?}` → 200 with the lot (as `GET /lotes` shows it, now with
  that `status`); idempotent. 404 unknown lot, 400 a status outside LOT_STATUSES.

Switch `commit_then_drop_every` (N > 0): every Nth write call is committed, then the connection is closed
without an answer — the lost answer after which a careless client posts twice.
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
from ponte.sandbox.totvs.pharma import Plant
from ponte.sandbox.totvs.query import Row, param
from ponte.sandbox.totvs.tables import Table

LOT_STATUSES = ("QUARENTENA", "LIBERADO", "REPROVADO", "BLOQUEADO")
DEFAULT_LOT_STATUS = "LIBERADO"  # lots the sandbox generated: released stock


class PlantWrites:
    """The write endpoints; `collection` pages a list the way the flavour's reads do."""

    def __init__(
        self,
        switches: Switches,
        plant: Plant,
        branch: str,
        now: Callable[[], dt.datetime],
        collection: Callable[[Request, list[Row]], dict[str, Any]],
        order_view: Callable[[Row], Row],
        lot_view: Callable[[Row], Row],
    ) -> None:
        self.switches, self.plant, self.branch, self.now = switches, plant, branch, now
        self.collection, self.order_view, self.lot_view = collection, order_view, lot_view
        self.appointments: list[Row] = []
        self.writes = 0
        self.lock = threading.Lock()

    # --- appointments ---------------------------------------------------------------------------------------
    def post_appointment(self, request: Request) -> Response:
        body = json_object(request)
        wanted = _appointment_body(body)
        sc2, sb8 = self.plant.sc2, self.plant.sb8
        with sc2.lock, sb8.lock, self.lock:
            order = self._order(request.params["numero"])
            number = self.order_view(order)["numero"]
            if order["C2_DATRF"].strip():
                raise _refused(
                    "Ordem de produção encerrada.",
                    f"OP {number} was closed on {order['C2_DATRF']} (C2_DATRF)",
                    "OP_ENCERRADA",
                )
            if wanted["lote"] != order["_lote"]:
                raise _refused(
                    "Lote não encontrado para a ordem de produção.",
                    f"lot '{wanted['lote']}' is not the lot of OP {number} ('{order['_lote']}')",
                    "LOTE_INEXISTENTE",
                )
            remainder = round(order["C2_QUANT"] - order["C2_QUJE"], 2)
            if wanted["quantidade"] > remainder:
                raise _refused(
                    "Quantidade excede o saldo da ordem de produção.",
                    f"quantidade {wanted['quantidade']} > C2_QUANT {order['C2_QUANT']} - C2_QUJE {order['C2_QUJE']}"
                    f" = {remainder}",
                    "SALDO_INSUFICIENTE",
                )
            moment = self.now()
            sc2.change(order, {"C2_QUJE": order["C2_QUJE"] + wanted["quantidade"]}, moment)
            add_to_lot(self.plant, self.branch, order, wanted["quantidade"], moment)
            appointment = {
                "id": f"{len(self.appointments) + 1:09d}",
                "numero": number,
                **wanted,
                "criadoEm": moment.isoformat(timespec="milliseconds"),
            }
            self.appointments.append(appointment)
            return self._answer(Response(201, appointment))

    def list_appointments(self, request: Request) -> Response:
        with self.plant.sc2.lock:
            number = self.order_view(self._order(request.params["numero"]))["numero"]
        filters = {name: param(request, name) for name in ("documento", "lote")}
        with self.lock:
            rows = [
                a
                for a in self.appointments
                if a["numero"] == number and all(not v or a[k] == v for k, v in filters.items())
            ]
        return Response(200, self.collection(request, rows))

    # --- lots -----------------------------------------------------------------------------------------------
    def patch_lot(self, request: Request) -> Response:
        body = json_object(request)
        status = body.get("status")
        if status not in LOT_STATUSES:
            raise bad_request(
                "Status de lote inválido.",
                f"status must be one of {', '.join(LOT_STATUSES)}, got {status!r}",
                [detail("status", f"Informe um de: {', '.join(LOT_STATUSES)}.")],
            )
        lot, product = request.params["lote"], body.get("codigoProduto")
        sb8 = self.plant.sb8
        with sb8.lock, self.lock:
            rows = [
                r
                for r in sb8.live(self.branch)
                if r["B8_LOTECTL"].strip() == lot and (not product or r["B8_PRODUTO"].strip() == product)
            ]
            if not rows:
                raise not_found(f"no lot '{lot}'" + (f" of product '{product}'" if product else ""),
                                "Lote não encontrado.")  # fmt: skip
            moment = self.now()
            for row in rows:
                sb8.change(row, {}, moment)
                row["_status"] = status
            return self._answer(Response(200, self.lot_view(rows[0])))

    # --- helpers --------------------------------------------------------------------------------------------
    def _order(self, number: str) -> Row:
        sc2: Table = self.plant.sc2
        for row in sc2.live(self.branch):
            if f"{row['C2_NUM']}{row['C2_ITEM']}{row['C2_SEQUEN']}".strip() == number.strip():
                return row
        raise not_found(f"no production order '{number}' in branch {self.branch}", "Ordem de produção não encontrada.")

    def _answer(self, response: Response) -> Response:
        """Committed already; every Nth write (switch commit_then_drop_every) loses its answer."""
        every = self.switches["commit_then_drop_every"]
        self.writes += 1
        if every and self.writes % every == 0:
            response.drop, response.fault = True, "commit_then_drop"
        return response


def add_to_lot(plant: Plant, branch: str, order: Row, quantity: float, moment: dt.datetime) -> None:
    """Production enters stock in the order's lot (SB8), created (in QUARENTENA) on the first appointment."""
    sb8 = plant.sb8
    product, lot = order["C2_PRODUTO"].strip(), order["_lote"]
    for row in sb8.live(branch):
        if row["B8_PRODUTO"].strip() == product and row["B8_LOTECTL"].strip() == lot:
            sb8.change(row, {"B8_SALDO": row["B8_SALDO"] + quantity, "B8_QTDORI": row["B8_QTDORI"] + quantity},
                       moment)  # fmt: skip
            return
    values = {
        "B8_FILIAL": branch, "B8_PRODUTO": product, "B8_LOCAL": order["C2_LOCAL"].strip(), "B8_LOTECTL": lot,
        "B8_DATA": moment.date(), "B8_SALDO": quantity, "B8_QTDORI": quantity,
    }  # fmt: skip
    sb8.insert(values, moment, status="QUARENTENA")


def lot_status(row: Row) -> str:
    """A lot's status as the plant API shows it (set by PATCH /lotes/{lote}; generated lots are released)."""
    return row.get("_status") or DEFAULT_LOT_STATUS


def _refused(message: str, detailed: str, code: str) -> TotvsError:
    return TotvsError(422, message, detailed, code=code)


def _appointment_body(body: dict[str, Any]) -> dict[str, Any]:
    """The appointment's fields, or a 400 naming every bad one (TOTVS `details`)."""
    problems = []
    for name in ("documento", "lote"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            problems.append(detail(name, f"Campo {name} obrigatório."))
    quantity = body.get("quantidade")
    if not isinstance(quantity, int | float) or isinstance(quantity, bool) or quantity <= 0:
        problems.append(detail("quantidade", "Quantidade deve ser um número maior que zero."))
    losses = body.get("perdas") or []
    if not isinstance(losses, list) or not all(
        isinstance(p, dict) and isinstance(p.get("motivo"), str) and isinstance(p.get("quantidade"), int | float)
        and p["quantidade"] >= 0
        for p in losses
    ):  # fmt: skip
        problems.append(detail("perdas", "Perdas: lista de {motivo, quantidade >= 0}."))
    if problems:
        raise bad_request("Apontamento inválido.", "; ".join(p["message"] for p in problems), problems)
    return {
        "documento": body["documento"].strip(),
        "lote": body["lote"].strip(),
        "quantidade": quantity,
        "perdas": losses,
        "dataApontamento": body.get("dataApontamento"),
        "responsavel": body.get("responsavel"),
    }


__all__ = ["DEFAULT_LOT_STATUS", "LOT_STATUSES", "PlantWrites", "add_to_lot", "lot_status"]
