"""Where a listing stopped, kept in the stream's state so the next run goes on from there (`ponte_resume`).

A daily quota smaller than one stream (Sienge Free: 100 requests a day) would otherwise restart that stream
from its first page every day and never finish. While a stream reads, its state holds its live position:

    "ponte_resume": {"began": <run start when this listing began>, "window": {"start", "end"} | null,
                     "batch": <id batch>, "page": <paginator token>, "done": <rows of that page emitted>,
                     "last": <key of the last emitted row>, "context": <parent record (child streams)>}

It changes only after a record is written, so every STATE message (the periodic ones, the one written when
the quota stops the run) says exactly which records went out. A finished listing sets it to null, not absent:
Meltano's merge of partial states would bring a deleted key back. Plain JSON in the Singer bookmarks.

On resume the same filter window is asked again (its end is the day the listing began, which also becomes
the bookmark, so what changed meanwhile is read by the next incremental run), finished id batches are not
asked again, and paging starts at the stored page. Offset paginators start a few rows early (`overlap`);
the first page is then aligned on `last`, the key of the last emitted row:

* found: every row up to it is skipped — exact when rows were inserted or deleted before the position since
  the last run (up to `overlap` - 1 deletions, up to a page minus `overlap` insertions), whatever the sort key,
  as long as the order is stable. Sienge documents it for customers, units and sales contracts (newest
  first: new rows come before the position) and companies and cost centres (by id: new rows come after it,
  and are read in this pass); rows changed but not moved are read again by the next incremental run;
* not found (it was deleted, or more rows moved than that): the stored count is skipped and a warning says
  rows may have been skipped or repeated;
* a list with no stable order (Sienge does not document one for its other lists) has no guarantee across
  days, as within one run; numbered pages (Bling) are aligned the same way inside the stored page.

Id batches (`ids_from`) are positions in the id list as it is listed again on resume: ids added or removed
meanwhile before the stored batch shift which ids it holds (rows are still aligned inside it).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ponte.tap.windows import Window

RESUME_KEY = "ponte_resume"


class Progress:
    """The live position of one listing (a stream, or one partition or parent record of it).

    `state` is the writable state dict the position lives in; `resumed` the position a previous run left there
    for this same context (None: start from the beginning).
    """

    def __init__(
        self,
        state: dict[str, Any],
        *,
        began: str,
        context: Mapping[str, Any] | None,
        timezone: dt.tzinfo,
        logger: logging.Logger,
        label: str,
    ) -> None:
        self._state = state
        self._tz = timezone
        self._logger = logger
        self._label = label
        self._context = _plain(context) if context is not None else None
        self.resumed = self._read(state.get(RESUME_KEY))
        self._pending_start: tuple[Any, int, list[Any] | None] | None = None
        self._align: tuple[int, list[Any] | None, bool] | None = None
        self._pending_key: list[Any] | None = None
        self.position: dict[str, Any] = {
            "began": self.resumed["began"] if self.resumed else began,
            "window": None,
            "batch": 0,
            "page": None,
            "done": 0,
            "last": None,
        }
        if self._context is not None:
            self.position["context"] = self._context
        state[RESUME_KEY] = self.position
        if self.resumed:
            where, window = self.resumed, self.resumed["window"]
            logger.info(
                "%s: resuming the listing begun at %s: window=%s batch=%s page=%s rows done=%s",
                label,
                where["began"],
                window and f"{window.start.isoformat()}..{window.end.isoformat()}",
                where["batch"],
                where["page"],
                where["done"],
            )

    # -- what a previous run left --------------------------------------------------------------------------
    def _read(self, raw: Any) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            return None
        if self._context is not None and _plain(raw.get("context")) != self._context:
            return None  # a position of another parent record
        try:
            window = _window_from(raw.get("window"), self._tz)
            began = str(raw["began"])
            batch, done = int(raw.get("batch") or 0), int(raw.get("done") or 0)
        except (KeyError, TypeError, ValueError):
            self._logger.warning(
                "%s: ignoring an unreadable resume position %r; reading from the start", self._label, raw
            )
            return None
        last = raw.get("last")
        return {
            "began": began,
            "window": window,
            "batch": batch,
            "page": raw.get("page"),
            "done": done,
            "last": list(last) if isinstance(last, list) else None,
        }

    @property
    def began(self) -> str:
        """Run start (ISO, UTC) when this listing began: the moment its final bookmark stands for."""
        return str(self.position["began"])

    def windows(
        self, fresh: Callable[[], list[Window | None]], after: Callable[[Window], list[Window]]
    ) -> list[Window | None]:
        """The windows to read: the resumed one and those after it, else `fresh()`."""
        if self.resumed is None:
            return fresh()
        window = self.resumed["window"]
        if window is None:
            return [None]
        return [window, *after(window)]

    def first_batch(self, window: Window | None) -> int:
        """Id batches before this index were read in full by a previous run (only in the resumed window)."""
        if self.resumed is None or self.resumed["window"] != window:
            return 0
        return self.resumed["batch"]

    # -- live tracking ----------------------------------------------------------------------------------------
    def window_started(self, window: Window | None) -> None:
        """A new filter window: the position restarts inside it."""
        self.position.update(window=_window_to(window), batch=0, page=None, done=0, last=None)

    def batch_started(self, window: Window | None, batch: int) -> None:
        """A new batch of ids (batch 0 for a listing without ids); the resumed one starts at its page."""
        self.position.update(batch=batch, page=None, done=0, last=None)
        self._arm(window, batch)

    def _arm(self, window: Window | None, batch: int) -> None:
        resumed = self.resumed
        if resumed is None or resumed["window"] != window or resumed["batch"] != batch:
            return
        self.resumed = None  # used once
        if resumed["page"] is None and resumed["done"] == 0:
            return
        self.position.update(page=resumed["page"], done=resumed["done"], last=resumed["last"])
        self._pending_start = (resumed["page"], resumed["done"], resumed["last"])

    def paginator_start(self, paginator: Any) -> Any:
        """The token the next paginator starts at (None: its own first page); arms the first page's alignment."""
        if self._pending_start is None:
            return None
        page, done, last = self._pending_start
        self._pending_start = None
        token, expected = paginator.resume_start(page, done)
        self._align = (expected, last, bool(getattr(paginator, "contiguous", False)))
        return token

    def page_started(
        self,
        token: Any,
        records: Sequence[Mapping[str, Any]],
        key: Callable[[Mapping[str, Any]], list[Any] | None],
        skip: int,
    ) -> int:
        """A page arrived: how many of its leading rows were emitted before (resume alignment or `skip`)."""
        if self._align is not None:
            skip = self._aligned_skip(records, key, *self._align)
        self.position["page"] = token
        self.position["done"] = skip
        return skip

    def _aligned_skip(
        self,
        records: Sequence[Mapping[str, Any]],
        key: Callable[[Mapping[str, Any]], list[Any] | None],
        expected: int,
        last: list[Any] | None,
        contiguous: bool,
    ) -> int:
        """Rows of this page up to the last one emitted before; with contiguous offsets a page served shorter
        than the overlap is skipped whole and the alignment goes on in the next one."""
        self._align = None
        if last is not None:
            for index, record in enumerate(records):
                if key(record) == last:
                    if index + 1 != expected:
                        self._logger.info(
                            "%s: resuming: the last row emitted before (key %s) moved by %+d rows since; aligned on it",
                            self._label,
                            last,
                            index + 1 - expected,
                        )
                    return index + 1
        if contiguous and records and expected > len(records):
            self._align = (expected - len(records), last, contiguous)
            return len(records)
        if expected and last is not None:
            self._logger.warning(
                "%s: resuming: the last row emitted before (key %s) is no longer where the listing left it (deleted, "
                "or more rows moved than one page); skipping the %d rows counted before, so a few rows may be "
                "skipped or repeated",
                self._label,
                last,
                expected,
            )
        return min(expected, len(records))

    def about_to_emit(self, key: list[Any] | None) -> None:
        """The row handed to the SDK next (confirmed once written)."""
        self._pending_key = key

    def emitted(self) -> None:
        """The row handed over last was written: count it."""
        self.position["done"] += 1
        self.position["last"] = self._pending_key

    def finish(self) -> None:
        """The listing is complete: nothing to resume."""
        self._state[RESUME_KEY] = None


def _plain(value: Any) -> Any:
    """A JSON-comparable copy (tuples become lists, keys strings), as it comes back from a state file."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _window_to(window: Window | None) -> dict[str, str] | None:
    return None if window is None else {"start": window.start.isoformat(), "end": window.end.isoformat()}


def _window_from(raw: Any, tz: dt.tzinfo) -> Window | None:
    if raw is None:
        return None
    return Window(_moment(raw["start"], tz), _moment(raw["end"], tz))


def _moment(text: Any, tz: dt.tzinfo) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


def key_fields(
    primary_key: Iterable[str],
    *,
    account_field: str | None,
    parent_keys: Mapping[str, str],
    copy_fields: Mapping[str, str],
) -> list[str]:
    """Paths of a listed row that identify it (what `last` holds): the primary key minus fields the tap adds."""
    fields = []
    for name in primary_key:
        if name == account_field or name in parent_keys:
            continue
        fields.append(copy_fields.get(name, name))
    return fields
