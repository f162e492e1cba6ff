"""Requests that fan out over ids: list them once, then ask in batches (Bling's `idsProdutos[]` endpoints)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ponte.declaration.models import PaginatorSpec
from ponte.declaration.records import dig, select_records
from ponte.tap.paginators import build_paginator


def batched(values: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` values."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class _Page:
    """The one attribute paginators read from a response."""

    def __init__(self, body: Any) -> None:
        self.ponte_json = body


def list_field_values(
    get_json: Callable[[Mapping[str, Any]], Any],
    params: Mapping[str, Any],
    paginator_spec: PaginatorSpec,
    selector: str | None,
    field: str,
) -> list[Any]:
    """Every distinct non-null `field` of a paged listing, in listing order."""
    paginator = build_paginator(paginator_spec, selector)
    seen: dict[Any, None] = {}
    while not paginator.finished:
        body = get_json({**params, **paginator.page_params(paginator.current_value)})
        for record in select_records(body, selector):
            value = dig(record, field)
            if value is not None:
                seen.setdefault(value, None)
        paginator.advance(_Page(body))
    return list(seen)
