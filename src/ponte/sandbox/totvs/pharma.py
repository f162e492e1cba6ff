"""The pharmaceutical plant behind the Protheus flavour (and the plant's own API): SicFar/Farmace-like data.

Company 01 has two branches. 01,01 (Barbalha/CE) makes large-volume parenteral solutions in plastic bottles on
Bottelpack lines (SPEP-01/02: soro fisiológico, glicose, Ringer) and small-volume ampoules on Pró Maquia lines
(SPPV-01/02); 01,02 (Juazeiro do Norte/CE) makes ampoules only (SPPV-03 Pró Maquia, SPPV-04 Bausch+Strobel).
SB1 holds finished products (PA, with their nominal line speed in B1_XVELNOM, units/min), raw materials (MP)
and packaging (EM); SC2 production orders over the last months, the recent ones still open (C2_DATRF blank);
SB8 the lots: one per order that produced something (the lot number is on the order's C2_OBS, as plants often
write it) plus suppliers' lots of MP/EM. A few rows are deleted (D_E_L_E_T_ '*'), a few products inactive.

Everything is a pure function of the seed; all stamps are before `ANCHOR`, so a touch with the real clock
always lands after them.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

from ponte.sandbox.brdata import mix
from ponte.sandbox.totvs.tables import Table

SALT = 900
ANCHOR = dt.datetime(2026, 11, 20, 21, 0, tzinfo=dt.UTC)  # the data's "today": last stamp before this
BRT = dt.timezone(dt.timedelta(hours=-3))


@dataclass(frozen=True)
class Branch:
    code: str  # B?_FILIAL
    name: str
    city: str
    lines: tuple[str, ...]
    first_order: int  # first C2_NUM
    lot_base: int


BRANCHES: dict[str, Branch] = {
    "01": Branch("01", "FARMACE MATRIZ BARBALHA", "Barbalha/CE", ("SPEP-01", "SPEP-02", "SPPV-01", "SPPV-02"), 4101, 100),
    "02": Branch("02", "FARMACE FILIAL JUAZEIRO", "Juazeiro do Norte/CE", ("SPPV-03", "SPPV-04"), 7301, 500),
}  # fmt: skip
TENANTS = {f"01,{code}": code for code in BRANCHES}
COST_CENTERS = {"SPEP-01": "311001", "SPEP-02": "311002", "SPPV-01": "312001", "SPPV-02": "312002", "SPPV-03": "322001", "SPPV-04": "322002"}  # fmt: skip


@dataclass(frozen=True)
class Product:
    code: str
    desc: str
    kind: str  # PA / MP / EM
    um: str
    group: str
    weight: float
    gross: float
    speed: float  # units per minute on its line (PA only)
    family: str  # SPEP / SPPV (PA), "" otherwise
    batch: int  # typical batch size (PA) or purchase size (MP/EM)
    shelf_months: int
    per_box: int  # units per shipping box (B8_SALDO2 = second unit of measure)


def _pa(code: str, desc: str, family: str, speed: float, batch: int, volume_ml: float) -> Product:
    ampoule = family == "SPPV"
    net = volume_ml / 1000
    gross = net + (0.006 if ampoule else 0.028 * max(net, 0.25))
    return Product(
        code, desc, "PA", "AM" if ampoule else "FR", "0102" if ampoule else "0101", round(net, 4), round(gross, 4),
        speed, family, batch, 36 if ampoule else 24, 200 if ampoule else (48 if volume_ml <= 250 else 24),
    )  # fmt: skip


def _mp(code: str, desc: str, um: str = "KG", batch: int = 500, shelf: int = 48) -> Product:
    return Product(code, desc, "MP", um, "0201", 1.0, 1.0, 0.0, "", batch, shelf, 1)


def _em(code: str, desc: str, um: str = "UN", batch: int = 50000, weight: float = 0.002) -> Product:
    return Product(code, desc, "EM", um, "0301", weight, weight, 0.0, "", batch, 60, 1)


CATALOGUE: tuple[Product, ...] = (
    _pa("PA0001", "SOL CLORETO SODIO 0,9% 100ML", "SPEP", 160, 24000, 100),
    _pa("PA0002", "SOL CLORETO SODIO 0,9% 250ML", "SPEP", 140, 20000, 250),
    _pa("PA0003", "SOL CLORETO SODIO 0,9% 500ML", "SPEP", 110, 16000, 500),
    _pa("PA0004", "SOL CLORETO SODIO 0,9% 1000ML", "SPEP", 70, 9000, 1000),
    _pa("PA0005", "SOL GLICOSE 5% 250ML", "SPEP", 140, 20000, 250),
    _pa("PA0006", "SOL GLICOSE 5% 500ML", "SPEP", 110, 16000, 500),
    _pa("PA0007", "SOL GLICOSE 5% 1000ML", "SPEP", 70, 9000, 1000),
    _pa("PA0008", "SOL GLICOFISIOLOGICA 500ML", "SPEP", 110, 16000, 500),
    _pa("PA0009", "SOL RINGER C/ LACTATO 500ML", "SPEP", 110, 16000, 500),
    _pa("PA0010", "SOL RINGER SIMPLES 500ML", "SPEP", 110, 16000, 500),
    _pa("PA0011", "AGUA P/ IRRIGACAO 1000ML", "SPEP", 70, 9000, 1000),
    _pa("PA0012", "SOL MANITOL 20% 250ML", "SPEP", 120, 12000, 250),
    _pa("PA0101", "AGUA P/ INJECAO 5ML AMP", "SPPV", 380, 120000, 5),
    _pa("PA0102", "AGUA P/ INJECAO 10ML AMP", "SPPV", 330, 100000, 10),
    _pa("PA0103", "CLORETO POTASSIO 19,1% 10ML AMP", "SPPV", 320, 80000, 10),
    _pa("PA0104", "CLORETO SODIO 20% 10ML AMP", "SPPV", 320, 80000, 10),
    _pa("PA0105", "BICARBONATO SODIO 8,4% 10ML AMP", "SPPV", 300, 60000, 10),
    _pa("PA0106", "GLICOSE 50% 10ML AMP", "SPPV", 300, 80000, 10),
    _pa("PA0107", "GLICOSE 25% 10ML AMP", "SPPV", 300, 60000, 10),
    _pa("PA0108", "GLUCONATO CALCIO 10% 10ML AMP", "SPPV", 300, 50000, 10),
    _pa("PA0109", "SULFATO MAGNESIO 50% 10ML AMP", "SPPV", 300, 50000, 10),
    _pa("PA0110", "DIPIRONA 500MG/ML 2ML AMP", "SPPV", 360, 150000, 2),
    _pa("PA0111", "METOCLOPRAMIDA 5MG/ML 2ML AMP", "SPPV", 360, 100000, 2),
    _pa("PA0112", "ONDANSETRONA 2MG/ML 2ML AMP", "SPPV", 360, 60000, 2),
    _pa("PA0113", "FUROSEMIDA 10MG/ML 2ML AMP", "SPPV", 360, 80000, 2),
    _pa("PA0114", "DEXAMETASONA 4MG/ML 2,5ML AMP", "SPPV", 350, 80000, 2.5),
    _pa("PA0115", "CLORETO SODIO 0,9% 10ML AMP", "SPPV", 330, 100000, 10),
    _pa("PA0116", "RANITIDINA 25MG/ML 2ML AMP", "SPPV", 360, 60000, 2),
    _mp("MP0001", "CLORETO DE SODIO USP/EP", batch=1000),
    _mp("MP0002", "GLICOSE ANIDRA USP", batch=1000),
    _mp("MP0003", "CLORETO DE POTASSIO USP"),
    _mp("MP0004", "BICARBONATO DE SODIO USP"),
    _mp("MP0005", "DIPIRONA SODICA MONOIDRATADA", batch=250),
    _mp("MP0006", "LACTATO DE SODIO 60%", "L", 200),
    _mp("MP0007", "CLORETO DE CALCIO DIIDRATADO", batch=100),
    _mp("MP0008", "SULFATO MAGNESIO HEPTAHIDRAT.", batch=200),
    _mp("MP0009", "GLUCONATO DE CALCIO USP", batch=200),
    _mp("MP0010", "MANITOL USP", batch=500),
    _mp("MP0011", "CLORIDRATO DE METOCLOPRAMIDA", batch=25),
    _mp("MP0012", "CLORIDRATO DE ONDANSETRONA", batch=10),
    _mp("MP0013", "FUROSEMIDA USP", batch=25),
    _mp("MP0014", "FOSFATO SODICO DEXAMETASONA", batch=10),
    _em("EM0001", "POLIPROPILENO BLOW-FILL-SEAL", "KG", 5000, 1.0),
    _em("EM0002", "AMPOLA VIDRO INCOLOR 2ML", batch=300000),
    _em("EM0003", "AMPOLA VIDRO INCOLOR 5ML", batch=200000),
    _em("EM0004", "AMPOLA VIDRO INCOLOR 10ML", batch=200000),
    _em("EM0005", "AMPOLA VIDRO AMBAR 2ML", batch=200000),
    _em("EM0006", "CAIXA EMBARQUE SORO C/24", batch=5000, weight=0.35),
    _em("EM0007", "CAIXA EMBARQUE AMPOLAS C/200", batch=5000, weight=0.3),
    _em("EM0008", "ROTULO SORO FISIOLOGICO 500ML", batch=100000, weight=0.001),
    _em("EM0009", "TAMPA PROTETORA PORTA DUPLA", batch=100000),
)
BY_CODE = {p.code: p for p in CATALOGUE}
_SOROS_ONLY = {"MP0001", "MP0002", "MP0006", "MP0010", "EM0001", "EM0006", "EM0008", "EM0009"}
DELETED_PRODUCTS = {"01": {"PA0116"}, "02": {"PA0116", "EM0009"}}  # ranitidine was withdrawn (2020)
INACTIVE_PRODUCTS = {"01": {"PA0012", "MP0010"}, "02": {"PA0107"}}


def catalogue(branch: str) -> list[Product]:
    """The products registered in a branch's SB1 (01: everything; 02: the ampoule plant's items)."""
    if branch == "01":
        return list(CATALOGUE)
    return [p for p in CATALOGUE if p.family != "SPEP" and p.code not in _SOROS_ONLY]


def _moment(day: dt.date, h: int) -> dt.datetime:
    """A working-hours moment (07:00-22:59 Brasília) on a day, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(7 + h % 16, (h >> 8) % 60, (h >> 16) % 60), BRT).replace(
        microsecond=((h >> 24) % 1000) * 1000
    )


def _before_anchor(moment: dt.datetime) -> dt.datetime:
    return min(moment, ANCHOR - dt.timedelta(minutes=5))


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when it is shorter): a lot's expiry."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass
class Plant:
    """The three tables, both branches."""

    sb1: Table
    sc2: Table
    sb8: Table
    sd3: Table = field(default_factory=lambda: Table("SD3"))  # movements: empty until appointments are posted

    def table(self, alias: str) -> Table:
        return {"SB1": self.sb1, "SC2": self.sc2, "SB8": self.sb8, "SD3": self.sd3}[alias.upper()]


def build(seed: int, orders: int) -> Plant:
    """Generate the plant: `orders` production orders in branch 01, half as many in branch 02."""
    plant = Plant(Table("SB1"), Table("SC2"), Table("SB8"))
    for branch in BRANCHES.values():
        _products(seed, plant.sb1, branch)
    for branch in BRANCHES.values():
        _orders(seed, plant.sc2, branch, orders if branch.code == "01" else orders // 2)
    for branch in BRANCHES.values():
        _lots(seed, plant, branch)
    return plant


def _products(seed: int, sb1: Table, branch: Branch) -> None:
    today = ANCHOR.date()
    for k, p in enumerate(catalogue(branch.code)):
        h = mix(seed, k + 1000 * int(branch.code), SALT + 1)
        recent = h % 5 == 0  # about one in five changed in the last month
        days = 1 + (h >> 8) % (30 if recent else 700)
        stamp = _before_anchor(_moment(today - dt.timedelta(days=days), h >> 20))
        values = {
            "B1_FILIAL": branch.code, "B1_COD": p.code, "B1_DESC": p.desc[:30], "B1_TIPO": p.kind, "B1_UM": p.um,
            "B1_LOCPAD": "01" if p.kind == "PA" else "02", "B1_GRUPO": p.group, "B1_PESO": p.weight,
            "B1_PESBRU": p.gross, "B1_ATIVO": "N" if p.code in INACTIVE_PRODUCTS[branch.code] else "S",
            "B1_XVELNOM": p.speed,
        }  # fmt: skip
        sb1.insert(values, stamp, deleted=p.code in DELETED_PRODUCTS[branch.code])


def _line(branch: Branch, product: Product, h: int) -> str:
    lines = [line for line in branch.lines if line.startswith(product.family)]
    return lines[h % len(lines)]


def _orders(seed: int, sc2: Table, branch: Branch, count: int) -> None:
    today = ANCHOR.date()
    products = [
        p
        for p in catalogue(branch.code)
        if p.kind == "PA" and p.code not in DELETED_PRODUCTS[branch.code] | INACTIVE_PRODUCTS[branch.code]
    ]
    span = 150
    for i in range(count):
        h = mix(seed, i + 100_000 * int(branch.code), SALT + 2)
        product = products[h % len(products)]
        emitted = today - dt.timedelta(days=span - (span * i) // max(count, 1) - 1)
        lead = 5 + (h >> 8) % 21 if (h >> 6) % 3 == 0 else 1 + (h >> 8) % 4
        start = emitted + dt.timedelta(days=lead)
        end = start + dt.timedelta(days=1 + (h >> 13) % 2)
        quantity = max(1000, product.batch * (50 + (h >> 16) % 51) // 100 // 100 * 100)
        line = _line(branch, product, h >> 24)
        lot_day = start
        lot = f"{lot_day.year % 100:02d}{lot_day.month:02d}{branch.lot_base + i:04d}"
        closed = end < today - dt.timedelta(days=2)
        status = "N"
        if closed:
            done = end + dt.timedelta(days=(h >> 30) % 2)
            produced = quantity * (960 + (h >> 32) % 41) // 1000
            stamp = _moment(done, h >> 34)
        elif start <= today:
            done = None
            produced = quantity * ((h >> 32) % 90) // 100
            stamp = _moment(today, h >> 34)
            status = "U" if (h >> 40) % 25 == 0 else "N"
        else:
            done, produced = None, 0
            stamp = _moment(emitted, h >> 34)
        values = {
            "C2_FILIAL": branch.code, "C2_NUM": f"{branch.first_order + i:06d}", "C2_ITEM": "01", "C2_SEQUEN": "001",
            "C2_PRODUTO": product.code, "C2_LOCAL": "01", "C2_QUANT": quantity, "C2_QUJE": produced,
            "C2_UM": product.um, "C2_EMISSAO": emitted, "C2_DATPRI": start, "C2_DATPRF": end, "C2_DATRF": done,
            "C2_STATUS": status, "C2_TPOP": "P" if start > today + dt.timedelta(days=3) and h % 3 == 0 else "F",
            "C2_CC": COST_CENTERS[line], "C2_OBS": f"LOTE {lot} - {line}",
        }  # fmt: skip
        sc2.insert(values, _before_anchor(stamp), deleted=(h >> 44) % 33 == 0, lote=lot, linha=line)


def _lots(seed: int, plant: Plant, branch: Branch) -> None:
    today = ANCHOR.date()
    sb8 = plant.sb8
    for k, order in enumerate(plant.sc2.rows):
        if order["C2_FILIAL"] != branch.code or order["D_E_L_E_T_"] == "*" or order["C2_QUJE"] <= 0:
            continue
        h = mix(seed, k, SALT + 3)
        product = BY_CODE[order["C2_PRODUTO"].strip()]
        made = dt.date.fromisoformat(_iso(order["C2_DATRF"] if order["C2_DATRF"].strip() else order["C2_DATPRI"]))
        produced = order["C2_QUJE"]
        age = (today - made).days
        left = produced if age < 10 else produced * max(0, 100 - age - (h % 30)) // 100
        reserved = left * ((h >> 8) % 20) // 100 if left and age < 45 else 0
        values = {
            "B8_FILIAL": branch.code, "B8_PRODUTO": product.code, "B8_LOCAL": "01", "B8_LOTECTL": order["_lote"],
            "B8_NUMLOTE": "", "B8_DATA": made, "B8_DTVALID": add_months(made, product.shelf_months),
            "B8_SALDO": left, "B8_SALDO2": round(left / product.per_box, 2), "B8_QTDORI": produced,
            "B8_EMPENHO": reserved, "B8_LOTEFOR": "",
        }  # fmt: skip
        moved = made + dt.timedelta(days=min(age, (h >> 16) % 60))
        stamp = _before_anchor(_moment(min(moved, today), h >> 24))
        sb8.insert(values, stamp, deleted=(h >> 40) % 40 == 0)
    bought = [p for p in catalogue(branch.code) if p.kind != "PA" and p.code not in DELETED_PRODUCTS[branch.code]]
    for k, product in enumerate(bought):
        for n in range(2 + mix(seed, k, SALT + 4) % 2):
            h = mix(seed, k * 10 + n + 1000 * int(branch.code), SALT + 5)
            received = today - dt.timedelta(days=5 + (h % 300))
            quantity = product.batch * (1 + (h >> 10) % 4)
            used = quantity * ((h >> 14) % 101) // 100 if (today - received).days > 20 else 0
            supplier_lot = f"{'NAC' if (h >> 22) % 2 else 'IMP'}{received:%y%m}-{(h >> 24) % 1000:03d}"
            values = {
                "B8_FILIAL": branch.code, "B8_PRODUTO": product.code, "B8_LOCAL": "02",
                "B8_LOTECTL": f"{product.kind}{received:%y%m}{(h >> 34) % 100:02d}{n}",
                "B8_NUMLOTE": "", "B8_DATA": received, "B8_DTVALID": add_months(received, product.shelf_months),
                "B8_SALDO": quantity - used, "B8_SALDO2": 0, "B8_QTDORI": quantity, "B8_EMPENHO": 0,
                "B8_LOTEFOR": supplier_lot,
            }  # fmt: skip
            stamp = _before_anchor(_moment(received + dt.timedelta(days=(h >> 40) % 20), h >> 44))
            sb8.insert(values, stamp, deleted=(h >> 52) % 30 == 0)


def _iso(stored: str) -> str:
    return f"{stored[:4]}-{stored[4:6]}-{stored[6:8]}"


__all__ = ["ANCHOR", "BRANCHES", "BY_CODE", "CATALOGUE", "TENANTS", "Branch", "Plant", "Product", "build", "catalogue"]
