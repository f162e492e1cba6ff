"""Incremental request windows: the span from the bookmark to the run start, cut where the API demands it.

Bling refuses a modification-date range wider than one year, so a first run from an old `start_date`
is read as consecutive windows of at most `max_window_days`; the stream's bookmark advances after each.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple


class Window(NamedTuple):
    """One filter range asked of the server: from `start` to `end` (both sent; the API's bounds apply)."""

    start: dt.datetime
    end: dt.datetime


def split_windows(start: dt.datetime, end: dt.datetime, max_days: float | None) -> list[Window]:
    """Consecutive windows covering start..end, none longer than `max_days` (one window when unset)."""
    if not max_days or end <= start:
        return [Window(start, end)]
    step = dt.timedelta(days=float(max_days))
    windows: list[Window] = []
    cursor = start
    while cursor < end:
        upper = min(cursor + step, end)
        windows.append(Window(cursor, upper))
        cursor = upper
    return windows
