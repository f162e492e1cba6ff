"""Requests that fan out over ids: list them once, then ask in batches (Bling's `idsProdutos[]` endpoints)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import requests

from ponte.declaration.models import PaginatorSpec
from ponte.declaration.records import dig, select_records
from ponte.http.client import keep_body
from ponte.tap.paginators import build_paginator


def batched(values: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` values."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _page(body: Any) -> requests.Response:
    """A response holding a body already parsed (paginators read only that)."""
    response = requests.Response()
    keep_body(response, body)
    return response


def list_records(
    get_json: Callable[[Mapping[str, Any]], Any],
    params: Mapping[str, Any],
    paginator_spec: PaginatorSpec,
    selector: str | None,
) -> list[Any]:
    """Every record of a paged listing, in listing order."""
    paginator = build_paginator(paginator_spec, selector)
    found: list[Any] = []
    while not paginator.finished:
        body = get_json({**params, **paginator.page_params(paginator.current_value)})
        found.extend(select_records(body, selector))
        paginator.advance(_page(body))
    return found


def field_values(records: list[Any], field: str) -> list[Any]:
    """Every distinct non-null `field` of the records, in their order."""
    return list(dict.fromkeys(v for v in (dig(r, field) for r in records) if v is not None))


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
        paginator.advance(_page(body))
    return list(seen)
