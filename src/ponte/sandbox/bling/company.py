"""The Bling accounts (companies) of the sandbox, record ids, and the stored-record wrapper with hidden times.

Company 1 is `loja-matriz`, 2 `loja-filial` (same CNPJ root, branch 0002: a seller with one Bling account per
CNPJ), then `loja-3`, `loja-4` ... Everything is a pure function of (seed, company number), so adding companies
never changes the data of the first ones. Ids look like the real API's (11 digits, growing over time) and are
unique across companies: company slots are interleaved in one id space per resource.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ponte.sandbox import brdata as br

MAX_COMPANIES = 64
ZERO_DATE = "0000-00-00"  # how an unset date is stored; rendered per the `empty_date` switch
SALT = 700
ID_STRIDE = 97

TRADE_NAMES = (
    "Aurora", "Casa Tropical", "Vila Moda", "Mundo Pet", "Bazar Horizonte", "Empório Serra Azul", "Ateliê Ipê",
    "Nova Era Store", "Litoral Outlet", "Cerrado Shop", "Jequitibá Utilidades", "Bela Vista Presentes",
)  # fmt: skip


@dataclass(frozen=True)
class Company:
    """One Bling account: what `GET /empresas/me/dados-basicos` answers, plus where it is."""

    no: int
    slug: str
    id: str
    nome: str
    fantasia: str
    cnpj: str
    email: str
    data_contrato: str
    city: br.City

    def basic(self) -> dict[str, Any]:
        """`/empresas/me/dados-basicos` [C] BLING-SPEC: id (32 hex = webhook companyId), nome, cnpj, email, dataContrato."""
        return {
            "id": self.id,
            "nome": self.nome,
            "cnpj": self.cnpj,
            "email": self.email,
            "dataContrato": self.data_contrato,
        }


def slug_for(no: int) -> str:
    """loja-matriz, loja-filial, loja-3, loja-4, ..."""
    return {1: "loja-matriz", 2: "loja-filial"}.get(no, f"loja-{no}")


def companies(seed: int, n: int) -> list[Company]:
    """The first n companies for a seed."""
    if not 1 <= n <= MAX_COMPANIES:
        raise ValueError(f"companies must be between 1 and {MAX_COMPANIES}")
    return [_company(seed, no) for no in range(1, n + 1)]


def _company(seed: int, no: int) -> Company:
    group = 1 if no <= 2 else no  # matriz and filial are one business
    h = br.mix(seed, group, SALT)
    trade = TRADE_NAMES[h % len(TRADE_NAMES)] if group == 1 else TRADE_NAMES[(h + no) % len(TRADE_NAMES)]
    root = f"{br.mix(seed, group, SALT + 1) % 10**8:08d}"
    base = f"{root}{'0002' if no == 2 else '0001'}"
    cnpj = base + br.cnpj_check_digits(base)
    suffix = " - Filial" if no == 2 else ""
    domain = br.slug(trade).replace("&", "e")
    contract = dt.date(2019, 1, 15) + dt.timedelta(days=br.mix(seed, no, SALT + 2) % 1800)
    return Company(
        no=no,
        slug=slug_for(no),
        id=f"{br.mix(seed, no, SALT + 3):016x}{br.mix(seed, no, SALT + 4):016x}",
        nome=f"{trade} Comércio Eletrônico LTDA{suffix}",
        fantasia=f"{trade}{suffix}",
        cnpj=br.format_cnpj(cnpj),
        email=f"{'filial' if no == 2 else 'contato'}@{domain}.com.br",
        data_contrato=contract.isoformat(),
        city=br.city(seed, group, SALT + 5),
    )


def ident(base: int, company_no: int, seq: int, seed: int, salt: int) -> int:
    """Id of the seq-th record (from 0) of a resource for a company: growing with seq, unique across companies."""
    slot = seq * MAX_COMPANIES + company_no - 1
    return base + slot * ID_STRIDE + br.mix(seed, slot, salt) % ID_STRIDE


@dataclass
class Rec:
    """A stored record: the full (detail) object plus what the API never shows."""

    id: int
    data: dict[str, Any]
    created: dt.datetime  # naive Brasília time: dataInclusao filters
    modified: dt.datetime  # hidden last change: dataAlteracao filters (no v3 record carries it [C])
    excluded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def spread(seed: int, salt: int, i: int, n: int, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """The i-th (from 0) of n moments growing strictly from start to end (so ids and creation agree)."""
    step = (end - start).total_seconds() / max(1, n)
    jitter = br.mix(seed, i, salt) % max(1, int(step * 0.8))
    return (start + dt.timedelta(seconds=int(step * i) + jitter)).replace(microsecond=0)


def later(
    seed: int, salt: int, i: int, created: dt.datetime, share: float, max_days: int, cap: dt.datetime
) -> dt.datetime:
    """A last-change moment: `share` of records were changed up to max_days after creation (never after cap)."""
    h = br.mix(seed, i, salt)
    if (h & 1023) >= share * 1024:
        return created
    moment = created + dt.timedelta(days=(h >> 10) % (max_days + 1), seconds=(h >> 20) % 36_000)
    return min(moment, cap)


def render_dates(value: Any, style: str) -> Any:
    """A copy of a record with unset dates as the `empty_date` switch says ('zeros' returns it unchanged)."""
    if style == "zeros":
        return value
    blank = None if style == "null" else ""
    return _replace(value, blank)


def _replace(value: Any, blank: Any) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, blank) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, blank) for v in value]
    return blank if value == ZERO_DATE else value
