"""The TOTVS API standard's collection rules, shared by the three flavours (api-facts §5).

- `page` (default 1, min 1) and `pageSize` (default per flavour, switch) with **multiplier semantics**:
  `page=2&pageSize=4` answers rows 5-8; `hasNext` says whether rows remain [C] TTALK / TDN guide.
- `order=a,-b` (`-` = descending) [C]; `fields=a,b` keeps only those keys [C].
- pageSize above `page_size_max` is a 400 in the error model (or clamped, switch) [G].
Query parameter names are matched case-insensitively (`pagesize` = `pageSize`), as the TOTVS REST servers do
[G]. `CaseRouter` matches paths case-insensitively too (RM is an ASP.NET host; its routes ignore case).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ponte.sandbox.server import Request, Router
from ponte.sandbox.switches import Switches
from ponte.sandbox.totvs.errors import bad_request, detail

Row = dict[str, Any]


class CaseRouter(Router):
    """A Router matching paths case-insensitively, with named groups URL-decoded into `request.params`."""

    flags = re.IGNORECASE

    def params(self, found: re.Match[str]) -> dict[str, str]:
        return {k: unquote(v) for k, v in found.groupdict().items()}


def params(request: Request) -> dict[str, str]:
    """The query with lower-case names (last value wins), cached on the request."""
    cached = request.context.get("lower_query")
    if cached is None:
        cached = {k.lower(): v for k, v in request.query.items()}
        request.context["lower_query"] = cached
    return cached


def param(request: Request, name: str, headers_too: bool = False) -> str | None:
    """A query parameter by case-insensitive name; with `headers_too`, a header of that name as fallback."""
    value = params(request).get(name.lower())
    if value is None and headers_too:
        value = request.headers.get(name)
    return value


def integer(request: Request, name: str, default: int, minimum: int = 1) -> int:
    raw = (param(request, name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Parâmetro {name} inválido.", f"{name} must be an integer, got '{raw}'") from None
    if value < minimum:
        raise bad_request(f"Parâmetro {name} inválido.", f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Paging:
    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def paging(request: Request, switches: Switches, default_size: int) -> Paging:
    """`page` and `pageSize` checked against the switches (over the max: 400 or clamp)."""
    page = integer(request, "page", 1)
    size = integer(request, "pageSize", default_size)
    most = switches["page_size_max"]
    if size > most:
        if switches["page_size_over_max"] == "error":
            raise bad_request(
                "Parâmetro pageSize inválido.",
                f"pageSize must be between 1 and {most}, got {size}",
                [detail("pageSize", f"O tamanho máximo de página é {most}.")],
            )
        size = most
    return Paging(page, size)


def window(rows: Sequence[Any], paged: Paging) -> tuple[list[Any], bool]:
    """(rows of the page, hasNext) with multiplier semantics."""
    chunk = list(rows[paged.offset : paged.offset + paged.size])
    return chunk, paged.offset + paged.size < len(rows)


def names(raw: str | None) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def order(
    rows: list[Row],
    raw: str | None,
    known: Iterable[str],
    switches: Switches,
    default: Sequence[str] = (),
    value: Callable[[Row, str], Any] | None = None,
) -> list[Row]:
    """Sort by `order=a,-b` (case-insensitive names among `known`), then by `default` keys, stably."""
    lookup = {k.lower(): k for k in known}
    keys: list[tuple[str, bool]] = []
    for part in names(raw):
        descending = part.startswith("-")
        name = part.lstrip("+-").strip()
        if name.lower() not in lookup:
            if switches["unknown_fields"] == "ignore":
                continue
            raise bad_request("Parâmetro order inválido.", f"cannot order by unknown field '{name}'")
        keys.append((lookup[name.lower()], descending))
    keys += [(k, False) for k in default if k not in {name for name, _ in keys}]
    get = value or (lambda row, key: row.get(key))
    out = list(rows)
    for key, descending in reversed(keys):
        out.sort(key=lambda row, key=key: _sort_key(get(row, key)), reverse=descending)
    return out


def fields(items: list[Row], raw: str | None, known: Iterable[str], switches: Switches) -> list[Row]:
    """Keep only the keys named in `fields=` (case-insensitive), in the rows' own key order."""
    wanted = names(raw)
    if not wanted:
        return items
    lookup = {k.lower(): k for k in known}
    chosen: set[str] = set()
    for name in wanted:
        if name.lower() in lookup:
            chosen.add(lookup[name.lower()])
        elif switches["unknown_fields"] == "error":
            raise bad_request("Parâmetro fields inválido.", f"unknown field '{name}'")
    return [{k: v for k, v in row.items() if k in chosen} for row in items]


def collection(
    request: Request,
    rows: list[Row],
    switches: Switches,
    default_size: int,
    known: Iterable[str] | None = None,
    default_order: Sequence[str] = (),
    total: bool = False,
) -> dict[str, Any]:
    """One page of an ISO-style collection: `{"hasNext", ("total",) "items"}` after order and fields."""
    names_known = list(known) if known is not None else (list(rows[0]) if rows else list(default_order))
    paged = paging(request, switches, default_size)
    ordered = order(rows, param(request, "order"), names_known, switches, default_order)
    chunk, has_next = window(ordered, paged)
    items = fields(chunk, param(request, "fields"), names_known, switches)
    body: dict[str, Any] = {"hasNext": has_next}
    if total:
        body["total"] = len(rows)
    body["items"] = items
    return body


def truthy(request: Request, name: str, default: bool) -> bool:
    """A 'true'/'false' parameter (query or header); anything else is a 400."""
    raw = param(request, name, headers_too=True)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("true", "1", ".t."):
        return True
    if lowered in ("false", "0", ".f."):
        return False
    raise bad_request(f"Parâmetro {name} inválido.", f"{name} must be true or false, got '{raw}'")


def lookup(mapping: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive key lookup in a small mapping (None when absent)."""
    for key, value in mapping.items():
        if key.lower() == name.lower():
            return value
    return None


__all__ = [
    "CaseRouter",
    "Paging",
    "Row",
    "collection",
    "fields",
    "integer",
    "lookup",
    "names",
    "order",
    "paging",
    "param",
    "params",
    "truthy",
    "window",
]
