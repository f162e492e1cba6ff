"""Paginators a declaration can name (`paginator: {type: offset}`); one registry, `PAGINATORS`.

Every paginator stops on an empty page; a page paginator declared `stop_on_short_page` also stops after a page
shorter than its size (one request less per listing, for APIs whose docs say only the last page is short). The offset paginator also stops when the envelope's total says the
list is exhausted, and, for lists that put new rows first (`inserts_at: head`, e.g. Sienge customers newest
first), skips the rows that a mid-run insert pushed from the previous page into the current one, so nothing
is emitted twice. Rows inserted mid-run are read by the next incremental run (its window starts today).

Each paginator can start at a stored token (`start`) and says where to start to resume after `done` rows of
the page at a token (`resume_start`, see ponte.tap.resume): offset lists start `overlap` rows early so the first
page can be aligned on the last row emitted before. A page's query parameters depend only on the declaration and
the page's token (`page_params(token)`), so a stream builds them from the token singer-sdk passes to
`get_url_params`.
"""

from __future__ import annotations

from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator

from ponte.declaration.models import PaginatorSpec
from ponte.declaration.records import dig, select_records
from ponte.http.client import parsed_body


class OffsetPaginator(BaseAPIPaginator[int]):
    """`limit` + `offset` query parameters, optional total count in the envelope."""

    contiguous = True  # the next page starts right after the rows this one returned, whatever their number

    def __init__(self, spec: PaginatorSpec, selector: str | None, start: Any = None) -> None:
        super().__init__(int(start or 0))
        self.limit_param = spec.limit_param
        self.offset_param = spec.offset_param
        self.page_size = spec.page_size
        self.total_field = spec.total_field
        self.inserts_at_head = spec.inserts_at == "head"
        self.selector = selector
        self.overlap = max(1, min(20, self.page_size // 10))
        self._last_total: int | None = None
        self._pending_skip = 0

    def resume_start(self, token: Any, done: int) -> tuple[int, int]:
        """(offset to ask, rows of that page emitted before): `overlap` rows before the next unread one."""
        next_row = int(token or 0) + done
        start = max(0, next_row - self.overlap)
        return start, next_row - start

    def page_params(self, token: int | None) -> dict[str, Any]:
        """Query parameters for the page at offset `token`."""
        return {self.limit_param: self.page_size, self.offset_param: token}

    def continue_if_empty(self, response: requests.Response) -> bool:
        """A page whose rows were all emitted before (skipped) is not the end of the list."""
        return bool(select_records(parsed_body(response), self.selector))

    def records_to_skip(self, response: requests.Response, page_len: int) -> int:
        """How many leading rows of this page were already emitted because rows were inserted at the head."""
        if not (self.inserts_at_head and self.total_field):
            return 0
        total = dig(parsed_body(response), self.total_field)
        if not isinstance(total, int):
            return 0
        if self._last_total is not None and total > self._last_total:
            self._pending_skip += total - self._last_total
        self._last_total = total
        skip = min(self._pending_skip, page_len)
        self._pending_skip -= skip
        return skip

    def remaining(self, response: requests.Response) -> int | None:
        """Rows from this page to the end of the list, when the envelope gives the total (progress and ETA)."""
        total = dig(parsed_body(response), self.total_field) if self.total_field else None
        return total - self.current_value if isinstance(total, int) else None

    def get_next(self, response: requests.Response) -> int | None:
        """Next offset, or None when the list is exhausted."""
        body = parsed_body(response)
        count = len(select_records(body, self.selector))
        if count == 0:
            return None
        next_offset = self.current_value + count
        if self.total_field:
            total = dig(body, self.total_field)
            if isinstance(total, int) and next_offset >= total:
                return None
        return next_offset


class PagePaginator(BaseAPIPaginator[int]):
    """Page number + page size, optionally with a `hasNext` flag or a total-pages field (TOTVS, Bling)."""

    def __init__(self, spec: PaginatorSpec, selector: str | None, start: Any = None) -> None:
        self.start_page = spec.start_page
        super().__init__(self.start_page if start is None else int(start))
        self.page_param = spec.page_param
        self.size_param = spec.size_param
        self.page_size = spec.page_size
        self.has_next_field = spec.has_next_field
        self.total_pages_field = spec.total_pages_field
        self.stop_on_short_page = spec.stop_on_short_page
        self.selector = selector

    def resume_start(self, token: Any, done: int) -> tuple[int, int]:
        """(page to ask, rows of it emitted before); a page read to its end resumes on the next one."""
        page = self.start_page if token is None else int(token)
        if done >= self.page_size:
            return page + done // self.page_size, done % self.page_size
        return page, done

    def page_params(self, token: int | None) -> dict[str, Any]:
        """Query parameters for page number `token`."""
        return {self.page_param: token, self.size_param: self.page_size}

    def continue_if_empty(self, response: requests.Response) -> bool:
        """A page whose rows were all emitted before (skipped) is not the end of the list."""
        return bool(select_records(parsed_body(response), self.selector))

    def records_to_skip(self, response: requests.Response, page_len: int) -> int:
        """Page-numbered lists are not compensated."""
        return 0

    def get_next(self, response: requests.Response) -> int | None:
        """Next page number, or None when done."""
        body = parsed_body(response)
        records = select_records(body, self.selector)
        if not records:
            return None
        if self.stop_on_short_page and len(records) < self.page_size:
            return None  # declared: only the last page is short, so asking for the next would return nothing
        if self.has_next_field and not dig(body, self.has_next_field):
            return None
        if self.total_pages_field:
            pages = dig(body, self.total_pages_field)
            if isinstance(pages, int) and self.current_value - self.start_page + 1 >= pages:
                return None
        return self.current_value + 1


class SinglePage(SinglePagePaginator):
    """One request, no paging parameters (e.g. Sienge payment-categories)."""

    def __init__(self, spec: PaginatorSpec, selector: str | None, start: Any = None) -> None:
        super().__init__()

    def resume_start(self, token: Any, done: int) -> tuple[None, int]:
        """The one page again, minus the rows emitted before."""
        return None, done

    def page_params(self, token: None) -> dict[str, Any]:
        """No paging parameters."""
        return {}

    def records_to_skip(self, response: requests.Response, page_len: int) -> int:
        """Nothing to skip."""
        return 0


PAGINATORS: dict[str, type] = {"offset": OffsetPaginator, "page": PagePaginator, "none": SinglePage}


def build_paginator(spec: PaginatorSpec, selector: str | None, start: Any = None) -> Any:
    """Instantiate the declared paginator, at its first page or at the token `start`."""
    return PAGINATORS[spec.type](spec, selector, start)
