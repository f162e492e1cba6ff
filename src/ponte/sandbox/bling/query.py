"""Query parameters the way Bling v3 reads them: `pagina`/`limite`, `name[]` arrays, date and date-time bounds.

- Paging: `pagina` (default 1) and `limite` (default 100); more than 100 is clamped or refused (switch
  `limite_over_max`, a guess); no paging metadata, a page past the end is `{"data": []}` [C]/[C3].
- Arrays are repeated bracket keys, `idsProdutos[]=1&idsProdutos[]=2` [C]; PHP-style `idsProdutos[0]=1` is read
  the same way.
- Dates: "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD", local time (America/Sao_Paulo, -03:00, no DST since 2019); bounds
  are inclusive, a date-only upper bound means the end of that day; an `...Inicial`/`...Final` pair wider than one
  year is a 400 [C] /limites#filtros.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ponte.sandbox.bling.errors import BlingError, field, validation
from ponte.sandbox.server import Request

T = TypeVar("T")
MAX_LIMITE = 100
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def integer(request: Request, name: str, default: int | None = None, minimum: int | None = None) -> int | None:
    """An integer query parameter; malformed or below `minimum` is a 400 VALIDATION_ERROR."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, f"O parâmetro {name} deve ser um número inteiro.") from None
    if minimum is not None and value < minimum:
        raise _bad(name, f"O parâmetro {name} deve ser maior ou igual a {minimum}.")
    return value


def choice(request: Request, name: str, allowed: Sequence[str], default: str | None = None) -> str | None:
    """A parameter restricted to an enum (as text)."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    if raw not in allowed:
        raise _bad(name, f"O parâmetro {name} deve ser um dos valores: {', '.join(allowed)}.")
    return raw


def array(request: Request, name: str) -> list[str]:
    """Every value of `name[]` (and `name[0]`, `name[1]` ...), in order, blanks dropped."""
    pattern = re.compile(rf"^{re.escape(name)}\[\d*\]$")
    values: list[str] = []
    for key, found in request.query_all.items():
        if pattern.match(key):
            values.extend(v.strip() for v in found if v.strip())
    return values


def int_array(request: Request, name: str) -> list[int]:
    """`array` as integers, duplicates dropped (first occurrence kept)."""
    out: list[int] = []
    for raw in array(request, name):
        try:
            value = int(raw)
        except ValueError:
            raise _bad(name, f"O parâmetro {name}[] deve conter apenas números inteiros.") from None
        if value not in out:
            out.append(value)
    return out


@dataclass(frozen=True)
class Page:
    """Which slice of a result list one request asks for."""

    pagina: int
    limite: int

    def of(self, rows: Sequence[T]) -> list[T]:
        start = (self.pagina - 1) * self.limite
        return list(rows[start : start + self.limite])


def page(request: Request, over_max: str) -> Page:
    """`pagina`/`limite`; `over_max` 'clamp' or 'error' for limite > 100."""
    pagina = integer(request, "pagina", 1, minimum=1) or 1
    limite = integer(request, "limite", MAX_LIMITE, minimum=1) or MAX_LIMITE
    if limite > MAX_LIMITE:
        if over_max == "error":
            raise _bad("limite", f"O parâmetro limite deve ser no máximo {MAX_LIMITE}.")
        limite = MAX_LIMITE
    return Page(pagina, limite)


# --- dates ----------------------------------------------------------------------------------------------------
def parse_moment(raw: str, name: str, end_of_day: bool) -> dt.datetime:
    """A naive local date-time; a bare date is 00:00:00 (or 23:59:59 for upper bounds)."""
    try:
        if _DATETIME.match(raw):
            return dt.datetime.strptime(raw, "%Y-%m-%d %H:%M:%S")
        if _DATE.match(raw):
            day = dt.datetime.strptime(raw, "%Y-%m-%d")
            return day.replace(hour=23, minute=59, second=59) if end_of_day else day
    except ValueError:
        pass
    raise _bad(name, f"O parâmetro {name} deve estar no formato AAAA-MM-DD HH:MM:SS ou AAAA-MM-DD.")


def one_year_after(moment: dt.datetime) -> dt.datetime:
    """The same local moment a year later (29 Feb -> 28 Feb)."""
    try:
        return moment.replace(year=moment.year + 1)
    except ValueError:
        return moment.replace(year=moment.year + 1, day=28)


@dataclass(frozen=True)
class Range:
    """Inclusive naive local bounds; None = open."""

    low: dt.datetime | None = None
    high: dt.datetime | None = None

    def __contains__(self, moment: object) -> bool:
        if not isinstance(moment, dt.datetime):
            return False
        return (self.low is None or moment >= self.low) and (self.high is None or moment <= self.high)

    @property
    def open(self) -> bool:
        return self.low is None and self.high is None


def date_range(request: Request, prefix: str, now: dt.datetime, open_ranges_limited: bool) -> Range:
    """`<prefix>Inicial` / `<prefix>Final`, checked against the one-year rule [C].

    With both bounds the rule always applies; a lone lower bound is measured against `now` only when
    `open_ranges_limited` (switch `one_year_rule_open_ranges`, a guess).
    """
    low_name, high_name = f"{prefix}Inicial", f"{prefix}Final"
    raw_low, raw_high = request.query.get(low_name, "").strip(), request.query.get(high_name, "").strip()
    low = parse_moment(raw_low, low_name, end_of_day=False) if raw_low else None
    high = parse_moment(raw_high, high_name, end_of_day=True) if raw_high else None
    # the rule compares the values as sent (a bare date is its midnight): 2025-01-01..2026-01-01 is one year
    end = parse_moment(raw_high, high_name, end_of_day=False) if raw_high else (now if open_ranges_limited else None)
    if low is not None and end is not None and end > one_year_after(low):
        raise validation(
            "O intervalo entre as datas informadas não pode ser maior que um ano.",
            [field(1, f"O período entre {low_name} e {high_name} deve ser de no máximo um ano.", low_name, "FILTROS")],
        )
    return Range(low, high)


def local_naive(moment: dt.datetime) -> dt.datetime:
    """An aware moment as naive Brasília time (the form date filters compare)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.timezone(dt.timedelta(hours=-3))).replace(tzinfo=None)


def day_of(text: str) -> dt.datetime | None:
    """A record's 'YYYY-MM-DD' field as a naive midnight (None for empty / zero dates)."""
    if not text or text.startswith("0000"):
        return None
    return dt.datetime.strptime(text[:10], "%Y-%m-%d")


def filtered(rows: Sequence[T], *tests: Callable[[T], bool] | None) -> list[T]:
    """The rows passing every test (None tests are skipped)."""
    active = [t for t in tests if t is not None]
    return [row for row in rows if all(t(row) for t in active)]


def _bad(name: str, description: str) -> BlingError:
    return validation(description, [field(2, description, name, "FILTROS")])


__all__ = [
    "MAX_LIMITE",
    "Page",
    "Range",
    "array",
    "choice",
    "date_range",
    "day_of",
    "filtered",
    "int_array",
    "integer",
    "local_naive",
    "one_year_after",
    "page",
    "parse_moment",
]
