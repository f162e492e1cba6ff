"""Resuming a listing where the previous run stopped: which page is asked first and which of its rows are skipped."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from ponte.declaration.models import PaginatorSpec
from ponte.tap.paginators import OffsetPaginator, PagePaginator
from ponte.tap.resume import RESUME_KEY, Progress, key_fields

UTC = dt.UTC
LOG = logging.getLogger("test-resume")


def rows(*ids: int) -> list[dict[str, Any]]:
    return [{"id": i} for i in ids]


def key(record: Any) -> list[Any]:
    return [record["id"]]


def resumed_at(position: dict[str, Any], context: dict[str, Any] | None = None) -> Progress:
    """A Progress over a state holding `position`, armed for its first page as the stream does."""
    state = {RESUME_KEY: {"began": "2026-07-01T15:00:00+00:00", "window": None, "batch": 0, **position}}
    progress = Progress(state, began="2026-07-02T15:00:00+00:00", context=context, timezone=UTC, logger=LOG, label="t")
    progress.window_started(None)
    progress.batch_started(None, 0)
    return progress


def offset_paginator(page_size: int = 200) -> OffsetPaginator:
    return OffsetPaginator(PaginatorSpec(type="offset", page_size=page_size), "results")


def test_an_offset_list_resumes_a_few_rows_early_and_skips_through_the_last_row_emitted() -> None:
    # the listing is newest first: 1000, 999, ...; the previous run emitted positions 0..749 (ids 1000..251)
    progress = resumed_at({"page": 700, "done": 50, "last": [251]})
    assert progress.paginator_start(offset_paginator()) == 730
    page = rows(*range(270, 220, -1))  # positions 730..779 of an unchanged listing
    assert progress.page_started(730, page, key, 0) == 20
    assert (
        progress.position["page"] == 730 and progress.position["done"] == 20 and progress.began.startswith("2026-07-01")
    )


@pytest.mark.parametrize(("shift", "first_id"), [(7, 277), (-3, 267)])
def test_rows_inserted_or_deleted_before_the_position_move_the_alignment(shift: int, first_id: int) -> None:
    progress = resumed_at({"page": 700, "done": 50, "last": [251]})
    start = progress.paginator_start(offset_paginator())
    page = rows(*range(first_id, first_id - 50, -1))  # the same ids `shift` positions further down (or up)
    skip = progress.page_started(start, page, key, 0)
    assert page[skip - 1]["id"] == 251 and page[skip]["id"] == 250
    assert skip == 20 + shift


def test_a_vanished_last_row_falls_back_to_the_count_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    progress = resumed_at({"page": 700, "done": 50, "last": [251]})
    start = progress.paginator_start(offset_paginator())
    with caplog.at_level(logging.WARNING):
        skip = progress.page_started(start, rows(*range(270, 252, -1), *range(250, 218, -1)), key, 0)
    assert skip == 20
    assert "no longer where the listing left it" in caplog.text


def test_a_page_served_shorter_than_the_overlap_is_skipped_whole_and_alignment_goes_on() -> None:
    # the server serves 10 rows although 200 were asked: the first resumed page holds only rows emitted before
    progress = resumed_at({"page": 20, "done": 10, "last": [29]})
    start = progress.paginator_start(offset_paginator())
    assert start == 10
    assert progress.page_started(10, rows(*range(10, 20)), key, 0) == 10
    assert progress.page_started(20, rows(*range(20, 30)), key, 0) == 10
    assert progress.page_started(30, rows(*range(30, 40)), key, 0) == 0


def test_a_numbered_page_read_to_its_end_resumes_on_the_next_page() -> None:
    paginator = PagePaginator(PaginatorSpec(type="page", page_size=100), "data")
    assert paginator.resume_start(3, 40) == (3, 40)
    assert paginator.resume_start(3, 100) == (4, 0)
    progress = resumed_at({"page": 3, "done": 40, "last": [340]})
    assert progress.paginator_start(paginator) == 3
    assert progress.page_started(3, rows(*range(301, 401)), key, 0) == 40


def test_a_position_of_another_parent_record_or_an_unreadable_one_is_not_used(caplog: pytest.LogCaptureFixture) -> None:
    other = resumed_at({"page": 0, "done": 3, "last": [3], "context": {"id": 1}}, context={"id": 2})
    assert other.resumed is None and other.paginator_start(offset_paginator()) is None
    with caplog.at_level(logging.WARNING):
        broken = resumed_at({"window": {"start": "not a date"}, "page": 0, "done": 3})
    assert broken.resumed is None and "unreadable resume position" in caplog.text


def test_the_position_counts_only_rows_written_and_a_finished_listing_leaves_null() -> None:
    state: dict[str, Any] = {}
    progress = Progress(state, began="2026-07-01T15:00:00+00:00", context=None, timezone=UTC, logger=LOG, label="t")
    progress.window_started(None)
    progress.batch_started(None, 0)
    progress.page_started(0, rows(5, 4, 3), key, 0)
    progress.about_to_emit([5])
    progress.emitted()
    progress.about_to_emit([4])  # handed over, not written: not counted
    assert state[RESUME_KEY]["done"] == 1 and state[RESUME_KEY]["last"] == [5]
    progress.finish()
    assert RESUME_KEY in state and state[RESUME_KEY] is None


def test_the_row_key_leaves_out_fields_the_tap_adds() -> None:
    assert key_fields(["conta", "id"], account_field="conta", parent_keys={}, copy_fields={}) == ["id"]
    assert key_fields(
        ["conta", "idDeposito", "idProduto"],
        account_field="conta",
        parent_keys={"idDeposito": "id"},
        copy_fields={"idProduto": "produto.id"},
    ) == ["produto.id"]
