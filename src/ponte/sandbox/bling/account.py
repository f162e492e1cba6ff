"""One Bling account's complete data set (contacts, catalogue, stock, lots, orders), built from (seed, company).

Build order matters: suppliers and customers exist before products and orders point at them, and open orders
reserve stock. Each account has its own lock (writes: `POST /estoques`, admin touches) and its own rate gate,
because Bling limits requests per account [C].
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

from ponte.sandbox.bling import catalog as catalog_mod
from ponte.sandbox.bling import contacts as contacts_mod
from ponte.sandbox.bling import sales as sales_mod
from ponte.sandbox.bling import stock as stock_mod
from ponte.sandbox.bling.company import Company, Rec
from ponte.sandbox.gates import RateGate
from ponte.sandbox.switches import Switches

DATA_END = dt.datetime(2026, 6, 30, 23, 0)  # no generated record changed after this (the default clock: 1 July)


@dataclass
class Account:
    """Everything one company's token can read."""

    company: Company
    people: contacts_mod.People
    catalog: catalog_mod.Catalog
    stock: stock_mod.Stock
    lots: list[Rec]
    orders: list[Rec]
    production: list[Rec]
    gate: RateGate
    lock: threading.RLock
    contacts_by_id: dict[int, Rec] = field(default_factory=dict)
    orders_by_id: dict[int, Rec] = field(default_factory=dict)
    production_by_id: dict[int, Rec] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return self.company.slug


def build(seed: int, company: Company, switches: Switches, products: int, contacts: int, orders: int) -> Account:
    """Generate the account's data (deterministic for seed and company number)."""
    lock = threading.RLock()
    people = contacts_mod.build(seed, company, contacts, DATA_END)
    catalog = catalog_mod.build(seed, company, products, people.suppliers, DATA_END)
    stock = stock_mod.Stock(seed, company, catalog, lock)
    order_recs, reservations = sales_mod.build_orders(seed, company, orders, catalog, people, DATA_END)
    for product_id, quantity in reservations:
        stock.reserve(product_id, quantity)
    production = sales_mod.build_production(seed, company, catalog, order_recs, DATA_END)
    return Account(
        company=company,
        people=people,
        catalog=catalog,
        stock=stock,
        lots=stock_mod.lots(seed, company, catalog, DATA_END),
        orders=order_recs,
        production=production,
        gate=RateGate(switches),
        lock=lock,
        contacts_by_id={r.id: r for r in people.contacts},
        orders_by_id={r.id: r for r in order_recs},
        production_by_id={r.id: r for r in production},
    )
