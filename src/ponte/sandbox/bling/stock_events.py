"""The webhook events a stock change sends, with `data` as docs/api-facts-bling-totvs.md §4 documents it.

One movement (a `POST /estoques`, a simulated sale) sends `stock.<action>` [C: data `{produto{id}, deposito{id,
saldoFisico, saldoVirtual}, operacao, quantidade, saldoFisicoTotal, saldoVirtualTotal}`; key order as in the
captured real event, C3] and, with the `webhook_virtual_stock` switch, `virtual_stock.updated` for the product
and for every kit it is part of [C: `{produto{id}, saldoFisicoTotal, saldoVirtualTotal, vinculoComplexo,
depositos[]}`; Bling sends virtual_stock for composite products]. Whether a posting sends `stock.created` or
`stock.updated` is the `webhook_stock_action` guess (a captured real balance posting sent `stock.created`).
The balances are read when the events are built, under the account's lock: right after the change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from ponte.sandbox.bling.stock import Movement, Stock
from ponte.sandbox.bling.webhooks import envelope


def stock_data(stock: Stock, movement: Movement) -> dict[str, Any]:
    """`data` of the stock event of one movement."""
    physical, virtual = stock.at(movement.product, movement.deposit)
    physical_total, virtual_total, _ = stock.totals(movement.product)
    return {
        "produto": {"id": movement.product},
        "saldoFisicoTotal": physical_total,
        "saldoVirtualTotal": virtual_total,
        "deposito": {"id": movement.deposit, "saldoFisico": physical, "saldoVirtual": virtual},
        "operacao": movement.operacao,
        "quantidade": movement.quantidade,
    }


def virtual_stock_data(stock: Stock, pid: int) -> dict[str, Any]:
    """`data` of virtual_stock.updated for a product (vinculoComplexo: never more than 200 linked products here)."""
    physical_total, virtual_total, per = stock.totals(pid)
    return {
        "produto": {"id": pid},
        "saldoFisicoTotal": physical_total,
        "saldoVirtualTotal": virtual_total,
        "vinculoComplexo": False,
        "depositos": per,
    }


def events(
    stock: Stock,
    company_id: str,
    movements: Iterable[Movement],
    action: str,
    virtual: bool,
    moment: dt.datetime,
) -> list[dict[str, Any]]:
    """The envelopes of a change, in the order Bling would send them: stock events, then virtual_stock ones."""
    moved = list(movements)
    out = [envelope(f"stock.{action}", company_id, stock_data(stock, m), date=moment) for m in moved]
    if virtual:
        products: list[int] = []
        for m in moved:
            for pid in (m.product, *stock.kits_with(m.product)):
                if pid not in products:
                    products.append(pid)
        out += [
            envelope("virtual_stock.updated", company_id, virtual_stock_data(stock, p), date=moment) for p in products
        ]
    return out
