"""Stock of one Bling account: balances per product and deposit, `POST /estoques` postings, product lots.

Physical stock (`saldoFisico`) lives on simple products and variations, per deposit; the virtual balance
(`saldoVirtual`) is physical minus what open sales orders reserve. Kits (formato E, `estrutura.tipoEstoque` V)
have no stock of their own: their balance is how many kits the components make; a parent with variations shows
the sum of its children. Some products are at zero or negative so `filtroSaldoEstoque` has work to do.

`POST /estoques` [C names, C3 meaning]: B (balanço) sets the deposit's physical balance to `quantidade`,
E (entrada) adds, S (saída) subtracts; kits are refused [C3 estoqueuni: composites cannot be moved through the API;
the error's wording is a guess].
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import threading
from typing import Any, NamedTuple

from ponte.sandbox import brdata as br
from ponte.sandbox.bling.catalog import Catalog
from ponte.sandbox.bling.company import Company, Rec, ident
from ponte.sandbox.bling.errors import BlingError, field

SALT = 1000
BASE_MOVEMENT = 23_110_000_000
BASE_LOT = 12_340_000_000
NAMESPACE = "ESTOQUES"


class Movement(NamedTuple):
    """One applied stock posting: its id and what moved (what the stock webhook reports)."""

    id: int
    product: int
    deposit: int
    operacao: str
    quantidade: float


class Stock:
    """Balances of one account; every read and write holds the account's lock (callers pass it in)."""

    def __init__(self, seed: int, company: Company, catalog: Catalog, lock: threading.RLock) -> None:
        self.seed, self.company, self.catalog, self.lock = seed, company, catalog, lock
        self.deposits = {d.id: d for d in catalog.deposits}
        self.default_deposit = next(d.id for d in catalog.deposits if d.data["padrao"])
        self._physical: dict[tuple[int, int], float] = {}
        self._reserved: dict[tuple[int, int], float] = {}
        self._movements = itertools.count()
        active = [d.id for d in catalog.deposits if d.data["situacao"] == 1]
        for pid in catalog.stocked:
            h = br.mix(seed, pid, SALT)
            roll = h % 100
            if roll < 12:
                continue  # out of stock everywhere
            if roll < 15:
                self._physical[(pid, active[0])] = -float(1 + (h >> 8) % 3)
                continue
            self._physical[(pid, active[0])] = float(1 + (h >> 8) % 250)
            if len(active) > 1 and (h >> 20) % 10 < 4:
                self._physical[(pid, active[1])] = float(1 + (h >> 24) % 30)
            if len(active) > 2 and (h >> 32) % 10 < 3:
                self._physical[(pid, active[2])] = float(5 + (h >> 36) % 120)

    # --- reads ------------------------------------------------------------------------------------------------
    def reserve(self, pid: int, quantity: float) -> None:
        """Open sales orders reserve stock in the default deposit (lowers saldoVirtual only)."""
        if pid in self.catalog.by_id and self.catalog.by_id[pid].data["formato"] == "S":
            key = (pid, self.default_deposit)
            self._reserved[key] = self._reserved.get(key, 0.0) + quantity

    def at(self, pid: int, did: int) -> tuple[float, float]:
        """(saldoFisico, saldoVirtual) of a product in one deposit."""
        rec = self.catalog.by_id.get(pid)
        if rec is None or rec.data["tipo"] == "S":
            return 0.0, 0.0
        formato = rec.data["formato"]
        if formato == "E":
            parts = [
                (c["produto"]["id"], c["quantidade"]) for c in rec.data.get("estrutura", {}).get("componentes", [])
            ]
            if not parts:
                return 0.0, 0.0
            pairs = [self.at(cid, did) for cid, _ in parts]
            physical = min(max(0.0, math.floor(p[0] / q)) for p, (_, q) in zip(pairs, parts, strict=True))
            virtual = min(max(0.0, math.floor(p[1] / q)) for p, (_, q) in zip(pairs, parts, strict=True))
            return float(physical), float(virtual)
        if formato == "V":
            pairs = [self.at(child, did) for child in rec.extra.get("children", [])]
            return sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        physical = self._physical.get((pid, did), 0.0)
        return physical, physical - self._reserved.get((pid, did), 0.0)

    def listed_deposits(self, pid: int) -> list[int]:
        """Deposits a balance lists: every active one, plus inactive ones still holding stock."""
        return [d.id for d in self.catalog.deposits if d.data["situacao"] == 1 or self.at(pid, d.id) != (0.0, 0.0)]

    def totals(self, pid: int) -> tuple[float, float, list[dict[str, Any]]]:
        """(saldoFisicoTotal, saldoVirtualTotal, depositos[]) as `/estoques/saldos` reports them."""
        per = []
        physical_total = virtual_total = 0.0
        for did in self.listed_deposits(pid):
            physical, virtual = self.at(pid, did)
            per.append({"id": did, "saldoFisico": physical, "saldoVirtual": virtual})
            if not self.deposits[did].data["desconsiderarSaldo"]:
                physical_total += physical
                virtual_total += virtual
        return physical_total, virtual_total, per

    def virtual_total(self, pid: int, did: int | None = None) -> float:
        """saldoVirtualTotal (all deposits, or one)."""
        return self.at(pid, did)[1] if did is not None else self.totals(pid)[1]

    # --- writes -----------------------------------------------------------------------------------------------
    def post(self, body: Any, refuse_variation_parent: bool) -> Movement:
        """Validate and apply one `POST /estoques` body; returns the applied movement (with the new id)."""
        if not isinstance(body, dict):
            raise _invalid([field(1, "O corpo da requisição deve ser um objeto.", "body", NAMESPACE)])
        errors: list[dict[str, Any]] = []
        product = _ref_id(body.get("produto"))
        deposit = _ref_id(body.get("deposito"))
        operation = body.get("operacao")
        quantity = body.get("quantidade")
        rec = self.catalog.by_id.get(product) if product is not None else None
        if product is None:
            errors.append(field(10, "O produto deve ser informado.", "produto", NAMESPACE))
        elif rec is None or rec.excluded:
            errors.append(field(11, f"Produto {product} não encontrado.", "produto", NAMESPACE))
        elif rec.data["formato"] == "E":  # [C3] refused; the wording is the sandbox's guess
            errors.append(
                field(12, "Não é possível lançar estoque de produtos com composição (kits).", "produto", NAMESPACE)
            )
        elif rec.data["formato"] == "V" and refuse_variation_parent:
            errors.append(
                field(13, "Lance o estoque nas variações do produto, não no produto pai.", "produto", NAMESPACE)
            )
        elif rec.data["tipo"] == "S":
            errors.append(field(14, "Serviços não possuem controle de estoque.", "produto", NAMESPACE))
        if deposit is None:
            errors.append(field(20, "O depósito deve ser informado.", "deposito", NAMESPACE))
        elif deposit not in self.deposits:
            errors.append(field(21, f"Depósito {deposit} não encontrado.", "deposito", NAMESPACE))
        elif self.deposits[deposit].data["situacao"] != 1:
            errors.append(field(22, "O depósito informado está inativo.", "deposito", NAMESPACE))
        if operation not in ("B", "E", "S"):
            errors.append(
                field(30, "A operação deve ser B (balanço), E (entrada) ou S (saída).", "operacao", NAMESPACE)
            )
        if not _number(quantity):
            errors.append(field(40, "A quantidade deve ser informada.", "quantidade", NAMESPACE))
        elif quantity < 0 or (operation in ("E", "S") and quantity == 0):
            errors.append(field(41, "A quantidade informada é inválida.", "quantidade", NAMESPACE))
        for name in ("preco", "custo"):
            if name in body and body[name] is not None and not _number(body[name]):
                errors.append(field(50, f"O campo {name} deve ser numérico.", name, NAMESPACE))
        if errors:
            raise _invalid(errors)
        assert product is not None and deposit is not None
        key = (product, deposit)
        with self.lock:
            current = self._physical.get(key, 0.0)
            amount = float(quantity)
            self._physical[key] = (
                amount if operation == "B" else current + amount if operation == "E" else current - amount
            )
            seq = next(self._movements)
        movement = ident(BASE_MOVEMENT, self.company.no, seq, self.seed, SALT + 1)
        return Movement(movement, product, deposit, str(operation), float(quantity))

    def kits_with(self, pid: int) -> list[int]:
        """Kits (formato E) that list `pid` as a component: their balance moves with it."""
        return [
            rec.id
            for rec in self.catalog.products
            if rec.data["formato"] == "E"
            and any(c["produto"]["id"] == pid for c in rec.data.get("estrutura", {}).get("componentes", []))
        ]


def _ref_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _invalid(fields: list[dict[str, Any]]) -> BlingError:
    return BlingError(
        400,
        "VALIDATION_ERROR",
        "Não foi possível salvar o lançamento de estoque",
        "O lançamento de estoque não pode ser salvo, pois ocorreram problemas em sua validação.",
        fields,
    )


# --- lots -----------------------------------------------------------------------------------------------------
def lots(seed: int, company: Company, catalog: Catalog, cap: dt.datetime) -> list[Rec]:
    """One to three lots per lot-controlled product (beauty, pet food, grocery), oldest first."""
    out: list[Rec] = []
    default = next(d.id for d in catalog.deposits if d.data["padrao"])
    second = next(d.id for d in catalog.deposits if not d.data["padrao"] and d.data["situacao"] == 1)
    seq = 0
    for pid in catalog.lot_products:
        h = br.mix(seed, pid, SALT + 2)
        product = catalog.by_id[pid]
        made = product.created.date()
        for k in range(1 + h % 3):
            step = dt.timedelta(days=(h >> (8 + 4 * k)) % 15 if k == 0 else 20 + (h >> (8 + 4 * k)) % 120)
            if k and made + step > cap.date():
                break
            made = min(made + step, cap.date())
            valid = made + dt.timedelta(days=180 + (h >> (20 + 3 * k)) % 540)
            lot_id = ident(BASE_LOT, company.no, seq, seed, SALT + 3)
            created = dt.datetime.combine(made + dt.timedelta(days=2), dt.time(9, 30)) + dt.timedelta(seconds=seq)
            data = {
                "idLote": lot_id,
                "codigoLote": f"L{made:%y%m}-{(h >> (30 + k)) % 10000:04d}",
                "dataFabricacao": made.isoformat(),
                "dataValidade": valid.isoformat(),
                "diasPermitidoVenda": int(15 + (h >> 40) % 4 * 15),
                "codigoAgregacao": "",
                "produto": {"id": pid},
                "deposito": {"id": second if (h >> (44 + k)) % 5 == 0 else default},
                "status": 2 if valid < cap.date() else 1,
            }
            out.append(Rec(lot_id, data, created, created))
            seq += 1
    return out
