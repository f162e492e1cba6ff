"""One singer-sdk REST stream per `streams:` entry of a declaration.

The SDK gives the Singer plumbing (catalog, selection, SCHEMA/RECORD/STATE, child streams); this class feeds
it from the declaration and routes every request through Ponte's HTTP client (budgets, retries, clear
errors) instead of the SDK's own backoff. Bookmarks: `max_value` lets the SDK track the largest cursor
value; `window_end` (for APIs whose filter is by day, or whose records carry no modification time) stores
the end of the window asked for, so the next run asks only for what changed since. While a stream reads, its
state also holds its position (ponte.tap.resume), so a run stopped by the daily quota goes on from there;
how a partition ends (completed, or stopped by a spent quota) is in ponte.tap.completion.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import requests
import singer_sdk.singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream

from ponte.core.errors import ApiError, QuotaExhausted
from ponte.declaration.models import TapOptions
from ponte.declaration.records import dig, select_records
from ponte.declaration.streams import WINDOW_END_FIELD, StreamSpec
from ponte.declaration.templates import render
from ponte.http.client import parsed_body
from ponte.tap.completion import CompletionMixin
from ponte.tap.expected_errors import QuietExpectedErrors
from ponte.tap.fanout import batched, field_values, list_records
from ponte.tap.for_each import for_each_values, parent_allowed
from ponte.tap.paginators import build_paginator
from ponte.tap.progress import ProgressCounter
from ponte.tap.resume import Progress, key_fields
from ponte.tap.runtime import TapRuntime
from ponte.tap.sdk_private import PROGRESS_MARKERS, PrivateStreamHooks, set_table_version
from ponte.tap.undeclared_fields import UndeclaredFieldsMixin
from ponte.tap.windows import Window, split_windows

INCREMENTAL = "INCREMENTAL"
FULL_TABLE = "FULL_TABLE"
WINDOW_KEY = "__ponte_window__"
IDS_KEY = "__ponte_ids__"


class DeclarativeStream(CompletionMixin, QuietExpectedErrors, UndeclaredFieldsMixin, PrivateStreamHooks, RESTStream):
    """A REST stream whose behaviour comes entirely from its StreamSpec."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    sdef: ClassVar[StreamSpec]
    child_parent_fields: ClassVar[set[str]] = set()

    def __init__(self, tap: Any) -> None:
        self.ponte_tap = tap  # the generated Tap (declaration, runtime, pass bookkeeping); the SDK's is private
        self._options = options = TapOptions.of(tap.declaration)
        super().__init__(tap=tap, name=self.sdef.name, schema=self.sdef.schema, path=self.sdef.path)
        self.primary_keys = list(self.sdef.primary_key)
        # the declared paging scheme: builds a page's params from the token the SDK passes to get_url_params
        self._page_scheme = build_paginator(self.sdef.paginator, self.sdef.record_selector)
        # the paginator of the listing being read (from get_new_paginator): parse_response, which the SDK hands
        # only the response, asks it which rows a page repeats and how many remain
        self._paginator: Any = None
        properties = self.sdef.schema.get("properties", {})
        self._declared = frozenset(properties)
        self._boolean_fields = [k for k, p in properties.items() if _only_boolean(p)]
        self._date_fields = [k for k, p in properties.items() if p.get("format") in ("date", "date-time")]
        self._empty_dates = options.empty_dates
        self._date_formats = list(options.date_formats)
        self._strip = options.strip_strings
        if not self.sdef.incremental and self.activate_version:
            set_table_version(self, tap.run_version)
        self._progress: Progress | None = None
        # a root full-table listing some `ids_from` asks for too: its records, while read from the first page
        self._shares_listing = (
            not self.sdef.parent
            and not self.sdef.incremental
            and any((other.get("ids_from") or {}).get("path") == self.sdef.path for other in tap.declaration["streams"])
        )
        self._recording: list[Any] | None = None
        self._record_counter: ProgressCounter | None = None
        self._bookmark_end: dt.datetime | None = None
        self._key_fields = key_fields(
            self.sdef.primary_key,
            account_field=options.account_field,
            parent_keys=self.sdef.parent_keys,
            copy_fields=self.sdef.copy_fields,
        )

    @property
    def runtime(self) -> TapRuntime:
        """The tap's shared runtime (client, config, clock), built on first use."""
        return self.ponte_tap.runtime  # type: ignore[no-any-return]

    @property
    def activate_version(self) -> bool:
        """Whether this full-table stream announces its version so targets can retire vanished rows."""
        return bool(self.config.get("emit_activate_version_messages", True))

    @property
    def emit_activate_version_messages(self) -> bool:
        """Off for the SDK, which would send ACTIVATE_VERSION before the records; we send it after the last one."""
        return False

    # -- identity and replication --------------------------------------------------------------------------
    @property
    def url_base(self) -> str:
        """From the declaration's base_url."""
        return self.runtime.base_url

    @property
    def replication_key(self) -> str | None:  # type: ignore[override]
        """The SDK tracks a cursor only in max_value mode; window_end bookmarks are managed here."""
        if self.sdef.incremental and self.sdef.bookmark_mode == "max_value":
            return self.sdef.replication.cursor_field
        return None

    @replication_key.setter
    def replication_key(self, value: str | None) -> None:
        """Catalog overrides of the replication key are ignored: the declaration decides."""

    @property
    def metadata(self) -> singer.MetadataMapping:
        """The SDK's metadata, with the replication key of window_end streams too (the SDK only knows cursors)."""
        metadata = super().metadata
        key = self.sdef.catalog_replication_key
        if key and not self.ponte_tap.input_catalog:
            metadata.root.valid_replication_keys = [key]
            metadata.root.replication_key = key
            field_metadata = metadata.get(("properties", key))
            if field_metadata is not None:
                field_metadata.inclusion = singer.Metadata.InclusionType.AUTOMATIC
        return metadata

    @property
    def catalog_replication_key(self) -> str | None:
        """The replication key the catalog entry names (PrivateStreamHooks), window_end streams' included."""
        return self.sdef.catalog_replication_key

    @property
    def replication_method(self) -> str:
        """Incremental as declared, full table otherwise."""
        return INCREMENTAL if self.sdef.incremental else FULL_TABLE

    @property
    def is_sorted(self) -> bool:
        """APIs rarely promise an order on the cursor: never resume mid-stream on a cursor value."""
        return False

    @property
    def state_partitioning_keys(self) -> list[str] | None:  # type: ignore[override]
        """Child streams keep one state for the whole stream (one per account), not one per parent record."""
        if not self.sdef.parent:
            return None
        field_name = self._options.account_field
        return [field_name] if field_name else []

    @state_partitioning_keys.setter
    def state_partitioning_keys(self, value: list[str] | None) -> None:
        """Fixed by the declaration."""

    @property
    def partitions(self) -> list[dict] | None:
        """A root stream is read once per account and once per `for_each` value, each with its own bookmark."""
        field_name = self.runtime.account_field
        each = self.sdef.for_each
        if self.sdef.parent or not (field_name or each):
            return super().partitions
        contexts: list[dict] = [{field_name: a["name"]} for a in self.runtime.accounts] if field_name else [{}]
        if each:
            setting = next(s for s in self.runtime.spec.get("settings") or [] if s["name"] == each.setting)
            values = for_each_values(setting, self.runtime.config, self.runtime.name, self.name)
            contexts = [{**context, each.field: value} for context in contexts for value in values]
        return contexts

    def _account(self, context: Mapping[str, Any] | None) -> str | None:
        field_name = self.runtime.account_field
        return (context or {}).get(field_name) if field_name else None

    def record_written(self, record: Mapping[str, Any]) -> bool:
        """Called once a record is written: it now counts in the resume position. Returns whether the SDK
        advances its cursor on it (max_value streams; never for a held-back record)."""
        if self.record_held_back(record):
            return False
        if self._progress is not None:
            self._progress.emitted()
        return bool(self.replication_key)

    # -- requests -----------------------------------------------------------------------------------------
    def _scope(self, context: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
        scope = self.runtime.scope(self._account(context))
        scope["parent"] = dict(context or {})
        if self.sdef.for_each:
            field_name = self.sdef.for_each.field
            scope["each"] = {field_name: (context or {}).get(field_name)}
        return scope

    def get_url(self, context: Mapping[str, Any] | None) -> str:
        """Base URL + rendered path (parent fields substituted for child streams)."""
        return self.runtime.url(str(render(self.sdef.path, self._scope(context))))

    @property
    def http_headers(self) -> dict[str, str]:
        """Declared headers (rendered) plus Accept."""
        headers = {"Accept": "application/json"}
        headers.update({k: str(v) for k, v in render(self.sdef.headers, self._scope(None)).items() if v is not None})
        return headers

    def get_new_paginator(self) -> Any:
        """A fresh paginator per context (each parent record pages on its own), at the resume position if any."""
        paginator = build_paginator(self.sdef.paginator, self.sdef.record_selector)
        start = self._progress.paginator_start(paginator) if self._progress else None
        if start is not None:
            paginator = build_paginator(self.sdef.paginator, self.sdef.record_selector, start)
            self._recording = None  # a resumed listing is not the whole listing
        self._paginator = paginator
        return paginator

    def get_url_params(self, context: Mapping[str, Any] | None, next_page_token: Any) -> dict[str, Any]:
        """Declared params, the paginator's params and the incremental window."""
        params = {k: v for k, v in render(self.sdef.params, self._scope(context)).items() if v is not None}
        params.update(self._page_scheme.page_params(next_page_token))
        window = (context or {}).get(WINDOW_KEY)
        if window is not None:
            params.update(self.window_params(window))
        ids = (context or {}).get(IDS_KEY)
        if ids is not None and self.sdef.ids_from:
            params[self.sdef.ids_from.param] = list(ids)  # requests repeats the key: ids[]=1&ids[]=2
        return params

    def request_decorator(self, func: Any) -> Callable[[requests.PreparedRequest, Any], requests.Response]:
        """Send every page through Ponte's HTTP client (budgets, retries, auth refresh, clear errors).

        singer-sdk sends the prepared request with whatever this returns. Its own sender (`func`, with the SDK's
        session and status checks) and backoff are not used: ponte.http does both, and the SDK's backoff would
        double the retries.
        """
        return self._send

    def _send(self, prepared_request: requests.PreparedRequest, context: Any) -> requests.Response:
        return self.runtime.client_for(self._account(context)).send(prepared_request, label=self._label(context))

    def _label(self, context: Mapping[str, Any] | None) -> str:
        account = self._account(context)
        return f"stream '{self.name}'" + (f" (account '{account}')" if account else "")

    def get_json(self, path: str, params: Mapping[str, Any], context: Mapping[str, Any] | None) -> Any:
        """One GET outside the stream's own paging (id listings, detail records), same client and budgets."""
        client = self.runtime.client_for(self._account(context))
        request = requests.Request("GET", self.runtime.url(path), params=dict(params), headers=self.http_headers)
        response = client.send(client.session.prepare_request(request), label=self._label(context))
        return parsed_body(response)

    def get_record_counter(self, *, endpoint: str | None = None, log_interval: float | None = None) -> ProgressCounter:
        """A record counter logged every few seconds with the listing's total (ponte.tap.progress)."""
        self._record_counter = ProgressCounter(self.name, endpoint, log_interval)
        return self._record_counter

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Records of the page, minus rows already emitted (OffsetPaginator.records_to_skip; a resumed page)."""
        remaining = getattr(self._paginator, "remaining", None)
        if remaining is not None and self._record_counter is not None:
            left = remaining(response)
            if left is not None:
                self._record_counter.expect_more(left)
        records = select_records(parsed_body(response), self.sdef.record_selector)
        skip = self._paginator.records_to_skip(response, len(records)) if self._paginator else 0
        if skip:
            self.logger.info("stream=%s skipped=%d reason=rows inserted at the head while paging", self.name, skip)
        if self._progress is not None:
            token = self._paginator.current_value if self._paginator else None
            skip = self._progress.page_started(token, records, self._row_key, skip)
        if self._recording is not None:
            self._recording = self._recording + records if not skip else None
        return records[skip:]

    def _row_key(self, record: Mapping[str, Any]) -> list[Any] | None:
        """What identifies a listed row across runs (the resume position's `last`)."""
        return [dig(record, name) for name in self._key_fields] if self._key_fields else None

    # -- incremental window -------------------------------------------------------------------------------
    def _bookmark_name(self) -> str:
        return self.sdef.replication.cursor_field or self.sdef.replication.request_param or "window"

    def window_start(self, context: Mapping[str, Any] | None) -> dt.datetime | None:
        """Where the next request window starts: bookmark (or start_date) minus the lookback.

        None on a first run declared `first_run: unfiltered` (list everything, bookmark the run start).
        """
        rep = self.sdef.replication
        if self.sdef.bookmark_mode == "max_value":
            value = self.get_starting_replication_key_value(context)
        else:
            state = self.get_context_state(context)
            value = (
                state.get("replication_key_value") if state.get("replication_key") == self._bookmark_name() else None
            )
        if value is None and self.sdef.first_run_unfiltered:
            return None
        value = value or self.runtime.config.get("start_date") or "2000-01-01"
        start = _parse_moment(str(value), self.runtime.timezone)
        lookback = dt.timedelta(days=float(rep.lookback_days), minutes=float(rep.lookback_minutes))
        return start - lookback

    def windows(self, context: Mapping[str, Any] | None) -> list[Window | None]:
        """The windows this run asks for, oldest first; `[None]` when the listing is unfiltered."""
        if not self.sdef.incremental:
            return [None]
        start = self.window_start(context)
        if start is None:
            return [None]
        end = self.runtime.today()
        if not self.sdef.replication.request_end_param:
            return [Window(start, end)]
        return split_windows(start, end, self.sdef.replication.max_window_days)

    def windows_after(self, window: Window) -> list[Window]:
        """The windows after a resumed one, up to this run's start (an open-ended filter has none)."""
        end = self.runtime.today()
        if not self.sdef.replication.request_end_param or window.end >= end:
            return []
        return split_windows(window.end, end, self.sdef.replication.max_window_days)

    def window_params(self, window: Window) -> dict[str, str]:
        """The request filter parameters for one window."""
        rep = self.sdef.replication
        fmt = rep.request_format
        params = {str(rep.request_param): window.start.strftime(fmt)}
        if rep.request_end_param:
            params[rep.request_end_param] = window.end.strftime(fmt)
        return params

    def _bookmark_value(self, end: dt.datetime) -> str:
        return end.date().isoformat() if self.sdef.replication.day_filter else end.isoformat()

    # -- records and completion ---------------------------------------------------------------------------
    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Records of this stream, window by window and id batch by id batch, each merged with its detail.

        The position is tracked in the state as records are written; a spent daily quota stops the listing
        there (see ponte.tap.completion). Completion (bookmark, ACTIVATE_VERSION) is marked only after the last
        record; a window_end bookmark also advances after each finished window.
        """
        account = self._account(context)
        if self._starts_stopped(context) or not self._parent_wanted(context):
            return
        progress = Progress(
            self.get_context_state(context),
            began=self.runtime.started_iso,
            context=context if self.sdef.parent else None,
            timezone=self.runtime.timezone,
            logger=self.logger,
            label=self._label(context),
        )
        self._progress, self._bookmark_end = progress, None
        self._recording = [] if self._shares_listing else None
        try:
            for record, key in self._listing(context, progress):
                merged = self._with_detail(record, context)
                progress.about_to_emit(key)
                yield merged
                if account in self.runtime.spent:  # a child stream of this record ran out
                    break
                if not self.selected:  # read only for its children: processed now, never written
                    progress.emitted()
        except QuotaExhausted as exc:
            self._note_spent(context, exc)
        finally:
            self._progress = None
        if account in self.runtime.spent:
            self._stop_for_quota(context)
            return
        progress.finish()
        if self._recording is not None:
            self.runtime.listed_records[self._own_listing_key(context)] = self._recording
            self._recording = None
        if not self.sdef.parent:
            self._mark_completed(context, self._bookmark_end or self.runtime.today())

    def _listing(self, context: Mapping[str, Any] | None, progress: Progress) -> Iterable[tuple[dict[str, Any], Any]]:
        """(list record, its key) over every window and id batch, from the resume position if any."""
        for window in progress.windows(lambda: self.windows(context), self.windows_after):
            progress.window_started(window)
            for request_context in self._request_contexts(context, window, progress):
                for record in super().get_records(request_context):
                    yield record, self._row_key(record)
            self._bookmark_end = (
                window.end if window is not None else _parse_moment(progress.began, self.runtime.timezone)
            )
            if window is not None and self.sdef.bookmark_mode == "window_end" and not self.sdef.parent:
                self._set_window_bookmark(context, window.end)

    def _request_contexts(
        self, context: Mapping[str, Any] | None, window: Window | None, progress: Progress
    ) -> Iterable[dict[str, Any]]:
        base = dict(context or {})
        if window is not None:
            base[WINDOW_KEY] = window
        if not self.sdef.ids_from:
            progress.batch_started(window, 0)
            yield base
            return
        ids = self._listed_ids(context)
        first = progress.first_batch(window)
        for index, batch in enumerate(batched(ids, self.sdef.ids_from.batch_size)):
            if index < first:
                continue
            progress.batch_started(window, index)
            yield {**base, IDS_KEY: batch}

    def request_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """The listing's pages, or the whole listing when an `ids_from` of this run already read the same requests."""
        cached = self.runtime.listed_records.get(self._own_listing_key(context)) if self._shares_listing else None
        if cached is None or (context or {}).get(WINDOW_KEY) is not None:
            yield from super().request_records(context)
            return
        self.logger.info("stream=%s took %d records from the listing read before%s", self.name, len(cached),
                         self._for(context))  # fmt: skip
        self._recording = None
        skip = self._progress.page_started(None, cached, self._row_key, 0) if self._progress is not None else 0
        for record in cached[skip:]:
            yield copy.deepcopy(record)  # post_process changes the record it is given

    def _parent_wanted(self, context: Mapping[str, Any] | None) -> bool:
        """False for a parent record `only_parents` leaves out (no request for it)."""
        only = self.sdef.only_parents
        if only is None:
            return True
        settings = [(name, self.runtime.config.get(name)) for name in only.settings]
        return parent_allowed(settings, only.parent_field, only.entry_field, self.runtime.account_field, context)

    def _own_listing_key(self, context: Mapping[str, Any] | None) -> str:
        scope = self._scope(context)
        path, params = str(render(self.sdef.path, scope)), render(self.sdef.params, scope)
        return self.runtime.listing_key(
            self._account(context), path, params, self.sdef.paginator, self.sdef.record_selector
        )

    def _listed_ids(self, context: Mapping[str, Any] | None) -> list[Any]:
        """The ids `ids_from` lists, once per account and run (shared by every parent record); taken from a
        stream's whole listing of the same requests when one was read before (no second listing)."""
        spec = self.sdef.ids_from
        assert spec is not None  # only streams that declare ids_from list ids
        cache = self.runtime.listed_ids
        key = (self._account(context), spec.path, repr(sorted(spec.params.items())), spec.field)
        params = render(dict(spec.params), self._scope(context))
        listing = self.runtime.listing_key(
            self._account(context), spec.path, params, spec.paginator, spec.record_selector
        )
        if key not in cache:
            records = self.runtime.listed_records.get(listing)
            if records is None:
                records = list_records(
                    lambda query: self.get_json(spec.path, query, context), params, spec.paginator,
                    spec.record_selector,
                )  # fmt: skip
                self.runtime.listed_records[listing] = records
            cache[key] = field_values(records, spec.field)
            self.logger.info(
                "stream=%s listed %d ids from %s%s", self.name, len(cache[key]), spec.path, self._for(context)
            )
        return cache[key]

    def _for(self, context: Mapping[str, Any] | None) -> str:
        account = self._account(context)
        return f" for account '{account}'" if account else ""

    def _with_detail(self, record: dict[str, Any], context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The list record merged with its detail record (the detail's values win)."""
        if not self.sdef.detail:
            return record
        scope = self._scope(context)
        scope["record"] = record
        path = str(render(self.sdef.detail.path, scope))
        try:
            body = self.get_json(path, {}, context)
        except ApiError as exc:
            if exc.status != 404:
                raise
            self.logger.warning("stream=%s detail %s is gone (404); keeping the list record", self.name, path)
            return record
        found = select_records(body, self.sdef.detail.record_selector)
        return {**record, **found[0]} if found else record

    def post_process(self, row: dict[str, Any], context: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Copy the declared parent keys into child records and conform the top level to the schema.

        The SDK's recursive type conformance is off (TYPE_CONFORMANCE_LEVEL NONE): records parsed from JSON
        already have JSON types, and walking every nested value cost 60% of the tap's time. What it still did
        for JSON input is done here, cheaply: turn 0/1 into booleans where the schema says boolean. Fields the
        schema does not declare are kept rather than dropped (see `ponte.tap.undeclared_fields`).
        """
        for child_field, parent_field in self.sdef.parent_keys.items():
            row.setdefault(child_field, (context or {}).get(parent_field))
        for target, source in self.sdef.copy_fields.items():
            row[target] = dig(row, source)
        for field_name in (self.runtime.account_field, self.sdef.for_each.field if self.sdef.for_each else None):
            if field_name:
                row[field_name] = (context or {}).get(field_name)
        if self.sdef.stamps_window_end:
            window = (context or {}).get(WINDOW_KEY)
            row[WINDOW_END_FIELD] = self._bookmark_value(window.end if window is not None else self.runtime.today())
        if self._strip:
            for name, value in row.items():
                if isinstance(value, str):
                    row[name] = value.strip()
        if self._empty_dates or self._date_formats or self._strip:
            for name in self._date_fields:
                value = row.get(name)
                if value in self._empty_dates or (self._strip and value == ""):
                    row[name] = None
                elif self._date_formats and isinstance(value, str):
                    row[name] = _iso_date(value, self._date_formats)
        extra = row.keys() - self._declared
        if extra and self.selected:
            self._keep_undeclared(row, extra)
        deleted = self.sdef.deleted_when
        if deleted and row.get(deleted.field) == deleted.equals:
            row["_sdc_deleted_at"] = self.runtime.started_iso
        for name in self._boolean_fields:
            value = row.get(name)
            if value is not None and not isinstance(value, bool):
                row[name] = value != 0
        return row

    def get_child_context(self, record: dict[str, Any], context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The parent fields the children's paths and keys need (and the account they belong to)."""
        child = {name: record.get(name) for name in self.child_parent_fields}
        field_name = self.runtime.account_field
        if field_name:
            child[field_name] = (context or {}).get(field_name)
        return child

    def _set_window_bookmark(self, context: Mapping[str, Any] | None, end: dt.datetime) -> None:
        state = self.get_context_state(context)
        state["replication_key"] = self._bookmark_name()
        state["replication_key_value"] = self._bookmark_value(end)
        state.pop(PROGRESS_MARKERS, None)


def _iso_date(value: str, formats: list[str]) -> str:
    """`20261123` → `2026-11-23` for the declared source formats; other values pass unchanged."""
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed.date().isoformat() if "%H" not in fmt else parsed.isoformat()
    return value


def _only_boolean(prop: Mapping[str, Any]) -> bool:
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    return "boolean" in types and set(types) <= {"boolean", "null"}


def _parse_moment(value: str, tz: dt.tzinfo) -> dt.datetime:
    """A bookmark or start_date as an aware datetime in the API's zone (dates mean local midnight)."""
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = dt.datetime.fromisoformat(text[:10])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz)
