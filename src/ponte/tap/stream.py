"""One singer-sdk REST stream per `streams:` entry of a declaration.

The SDK gives the Singer plumbing (catalog, selection, SCHEMA/RECORD/STATE, child streams); this class feeds
it from the declaration and routes every request through Ponte's HTTP client (budgets, retries, clear
errors) instead of the SDK's own backoff. Bookmarks: `max_value` lets the SDK track the largest cursor
value; `window_end` (for APIs whose filter is by day, or whose records carry no modification time) stores
the end of the window asked for, so the next run asks only for what changed since.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests
from singer_sdk.helpers._state import PROGRESS_MARKERS
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream

from ponte.errors import QuotaExhausted
from ponte.tap.paginators import build_paginator
from ponte.tap.records import select_records
from ponte.tap.runtime import TapRuntime
from ponte.tap.templates import references, render

INCREMENTAL = "INCREMENTAL"
FULL_TABLE = "FULL_TABLE"
COMPLETED_KEY = "ponte_completed_at"
INTERRUPTED_KEY = "ponte_interrupted_run"


@dataclass
class StreamDef:
    """A stream declaration with defaults merged and its schema resolved."""

    name: str
    path: str
    primary_key: list[str]
    schema: dict[str, Any]
    paginator: dict[str, Any]
    record_selector: str | None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    replication: dict[str, Any] = field(default_factory=lambda: {"method": "full_table"})
    parent: str | None = None
    parent_keys: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    selected: bool = True

    @property
    def incremental(self) -> bool:
        """True when the stream asks the server only for changes."""
        return self.replication.get("method") == "incremental"

    @property
    def bookmark_mode(self) -> str:
        """`max_value` (largest cursor seen) or `window_end` (end of the window asked for)."""
        return self.replication.get("bookmark", "max_value")

    def parent_fields(self) -> set[str]:
        """Fields of the parent record this stream needs (path/params templates and parent_keys)."""
        return references([self.path, self.params], "parent") | set(self.parent_keys.values())


class DeclarativeStream(RESTStream):
    """A REST stream whose behaviour comes entirely from its StreamDef."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    sdef: ClassVar[StreamDef]
    child_parent_fields: ClassVar[set[str]] = set()

    def __init__(self, tap: Any) -> None:
        super().__init__(tap=tap, name=self.sdef.name, schema=self.sdef.schema, path=self.sdef.path)
        self.primary_keys = list(self.sdef.primary_key)
        self._paginator: Any = None
        properties = self.sdef.schema.get("properties", {})
        self._declared = frozenset(properties)
        self._boolean_fields = [k for k, p in properties.items() if _only_boolean(p)]
        self._warned: set[str] = set()
        if not self.sdef.incremental and self.activate_version:
            self._stream_version = tap.run_version

    @property
    def runtime(self) -> TapRuntime:
        """The tap's shared runtime (client, config, clock), built on first use."""
        return self._tap.runtime  # type: ignore[no-any-return]

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
            return self.sdef.replication.get("cursor_field")
        return None

    @replication_key.setter
    def replication_key(self, value: str | None) -> None:
        """Catalog overrides of the replication key are ignored: the declaration decides."""

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
        """Child streams keep one state for the whole stream, not one per parent record."""
        return [] if self.sdef.parent else None

    @state_partitioning_keys.setter
    def state_partitioning_keys(self, value: list[str] | None) -> None:
        """Fixed by the declaration."""

    def _increment_stream_state(self, latest_record: dict, *, context: Any = None) -> None:
        if self.replication_key:
            super()._increment_stream_state(latest_record, context=context)

    # -- requests -----------------------------------------------------------------------------------------
    def _scope(self, context: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
        return {"config": self.runtime.config, "parent": dict(context or {})}

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
        """A fresh paginator per context (each parent record pages on its own)."""
        self._paginator = build_paginator(self.sdef.paginator, self.sdef.record_selector)
        return self._paginator

    def get_url_params(self, context: Mapping[str, Any] | None, next_page_token: Any) -> dict[str, Any]:
        """Declared params, the paginator's params and the incremental window."""
        params = {k: v for k, v in render(self.sdef.params, self._scope(context)).items() if v is not None}
        if self._paginator is not None:
            params.update(self._paginator.params())
        if self.sdef.incremental:
            params.update(self.window_params(context))
        return params

    def request_decorator(self, func: Any) -> Any:
        """Retries live in ponte.http; the SDK's own backoff would double them."""
        return func

    def _request(self, prepared_request: requests.PreparedRequest, context: Any) -> requests.Response:
        return self.runtime.client.send(prepared_request, label=f"stream '{self.name}'")

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Records of the page, minus rows already emitted (see OffsetPaginator.records_to_skip)."""
        records = select_records(getattr(response, "ponte_json", None), self.sdef.record_selector)
        skip = self._paginator.records_to_skip(response, len(records)) if self._paginator else 0
        if skip:
            self.logger.info("stream=%s skipped=%d reason=rows inserted at the head while paging", self.name, skip)
        return records[skip:]

    # -- incremental window -------------------------------------------------------------------------------
    def _bookmark_name(self) -> str:
        return self.sdef.replication.get("cursor_field") or self.sdef.replication.get("request_param", "window")

    def window_start(self, context: Mapping[str, Any] | None) -> dt.datetime:
        """Where the next request window starts: bookmark (or start_date) minus the lookback."""
        rep = self.sdef.replication
        if self.sdef.bookmark_mode == "max_value":
            value = self.get_starting_replication_key_value(context)
        else:
            state = self.get_context_state(context)
            value = (
                state.get("replication_key_value") if state.get("replication_key") == self._bookmark_name() else None
            )
        value = value or self.runtime.config.get("start_date") or "2000-01-01"
        start = _parse_moment(str(value), self.runtime.timezone)
        return start - dt.timedelta(days=float(rep.get("lookback_days") or 0))

    def window_params(self, context: Mapping[str, Any] | None) -> dict[str, str]:
        """The request filter parameters for this run's window."""
        rep = self.sdef.replication
        fmt = rep.get("request_format", "%Y-%m-%dT%H:%M:%S")
        params = {rep["request_param"]: self.window_start(context).strftime(fmt)}
        if rep.get("request_end_param"):
            params[rep["request_end_param"]] = self.runtime.today().strftime(fmt)
        return params

    def _window_end_value(self) -> str:
        fmt = self.sdef.replication.get("request_format", "%Y-%m-%dT%H:%M:%S")
        end = self.runtime.today()
        return end.date().isoformat() if "%H" not in fmt else end.isoformat()

    # -- records and completion ---------------------------------------------------------------------------
    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Records of this stream; marks completion (bookmark, ACTIVATE_VERSION) only after the last one."""
        try:
            yield from super().get_records(context)
        except QuotaExhausted:
            self._mark_interrupted(context)
            raise
        if not self.sdef.parent:
            self._mark_completed(context)

    def post_process(self, row: dict[str, Any], context: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Copy the declared parent keys into child records and conform the top level to the schema.

        The SDK's recursive type conformance is off (TYPE_CONFORMANCE_LEVEL NONE): records parsed from JSON
        already have JSON types, and walking every nested value cost 60% of the tap's time. What it still did
        for JSON input is done here, cheaply: drop fields the schema does not declare (warning once per
        field, so a new API field is noticed) and turn 0/1 into booleans where the schema says boolean.
        """
        for child_field, parent_field in self.sdef.parent_keys.items():
            row.setdefault(child_field, (context or {}).get(parent_field))
        extra = row.keys() - self._declared
        if extra:
            for name in extra:
                del row[name]
            new = extra - self._warned
            if new:
                self._warned |= new
                self.logger.warning(
                    "stream=%s undeclared fields dropped: %s (add them to the stream's schema to keep them)",
                    self.name,
                    ", ".join(sorted(new)),
                )
        for name in self._boolean_fields:
            value = row.get(name)
            if value is not None and not isinstance(value, bool):
                row[name] = value != 0
        return row

    def get_child_context(self, record: dict[str, Any], context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The parent fields the children's paths and keys need."""
        return {name: record.get(name) for name in self.child_parent_fields}

    def _mark_completed(self, context: Mapping[str, Any] | None) -> None:
        state = self.get_context_state(context)
        if self.sdef.incremental and self.sdef.bookmark_mode == "window_end":
            state["replication_key"] = self._bookmark_name()
            state["replication_key_value"] = self._window_end_value()
            state.pop(PROGRESS_MARKERS, None)
        state[COMPLETED_KEY] = self.runtime.started_iso
        state.pop(INTERRUPTED_KEY, None)
        for stream in [self, *self._descendants()]:
            if stream.selected and not stream.sdef.incremental and stream.activate_version:
                stream._write_activate_version_message(self._tap.run_version)

    def _mark_interrupted(self, context: Mapping[str, Any] | None) -> None:
        root: DeclarativeStream = self
        while root.parent_stream_type is not None:
            root = self._tap.streams[root.sdef.parent]  # type: ignore[assignment]
        root.get_context_state(None)[INTERRUPTED_KEY] = self.runtime.started_iso

    def _descendants(self) -> list[DeclarativeStream]:
        found: list[DeclarativeStream] = []
        for child in self.child_streams or []:
            found.append(child)  # type: ignore[arg-type]
            found.extend(child._descendants())  # type: ignore[attr-defined]
        return found


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
