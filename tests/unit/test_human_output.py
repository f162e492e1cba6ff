"""`ponte run`'s default (human) output, folded from the lines Meltano passes on: stream lines instead of METRIC
JSON, progress with an ETA for long streams, warnings kept, chatter hidden; json output keeps every METRIC."""

from __future__ import annotations

import io
import json
from typing import Any

from ponte.runs.console import Console
from ponte.runs.human import HumanView
from ponte.runs.meltano_log import MeltanoLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tap(text: str, level: str = "info") -> str:
    """One tap line as Meltano's JSON log carries it (plain message, Meltano's level)."""
    return json.dumps({"event": text, "level": level, "string_id": "tap-sienge", "name": "tap-sienge",
                       "stdio": "stderr", "producer": True, "consumer": False})  # fmt: skip


def metric(kind: str, metric_name: str, stream: str, value: float, **tags: Any) -> str:
    point = {"type": kind, "metric": metric_name, "value": value, "tags": {"stream": stream, "pid": 1, **tags}}
    return tap("METRIC: " + json.dumps(point, separators=(",", ":")))


def feed(view: HumanView, *raw: str) -> list[str]:
    log = MeltanoLog()
    shown = []
    for line in raw:
        parsed = log.feed(line)
        assert parsed is not None
        shown += [
            message if level == "info" else f"{level.upper()}: {message}" for level, _, message in view.feed(parsed)
        ]
    return shown


def test_a_quick_stream_is_one_line_and_the_chatter_is_hidden() -> None:
    view = HumanView(5.0, Clock())
    shown = feed(
        view,
        tap("tap-sienge v0.1.0, Meltano SDK v0.54.9"),
        tap("Skipping parse of env var settings..."),
        tap("Beginning sync of 'companies' in full_table mode"),
        metric("counter", "http_request_count", "companies", 1),
        metric("timer", "sync_duration", "companies", 0.012, status="succeeded"),
        metric("counter", "record_count", "companies", 5),
        json.dumps({"event": "Incremental state has been updated at 2026-12-02.", "level": "info"}),
        json.dumps({"event": "Environment 'dev' is active", "level": "info"}),
    )
    assert view.tick() == []  # it ended before it was worth a "started" line
    assert shown == ["companies: 5 records in 0.0 s", "Environment 'dev' is active"]


def test_a_long_stream_says_it_started_then_shows_progress_with_an_eta_then_its_end() -> None:
    clock = Clock()
    view = HumanView(5.0, clock)
    assert feed(view, tap("Beginning sync of 'customers' in incremental mode")) == []
    clock.now = 1.5
    assert [m for _, _, m in view.tick()] == ["customers: started (incremental)"]
    clock.now = 5.0
    assert feed(view, metric("counter", "record_count", "customers", 4000, total=20000)) == []
    clock.now = 6.6
    assert [m for _, _, m in view.tick()] == ["customers: 4,000 of 20,000 records (606/s, ETA 26 s)"]
    clock.now = 7.0
    assert view.tick() == []  # not again before another 5 s
    shown = feed(
        view,
        metric("timer", "sync_duration", "customers", 30.2, status="succeeded"),
        metric("counter", "record_count", "customers", 16000, total=20000),
    )
    assert shown == ["customers: 20,000 records in 30 s"]


def test_a_child_stream_ends_once_with_every_parents_records_before_its_parent() -> None:
    view = HumanView(5.0, Clock())
    lines = [
        tap("Added 'resources' as child stream to 'databases'"),
        tap("Beginning sync of 'databases' in full_table mode"),
    ]
    for parent in (1, 2):
        lines += [
            tap("Beginning sync of 'resources' in full_table mode with context keys: ('id',)"),
            metric("timer", "sync_duration", "resources", 0.5, status="succeeded", context={"id": parent}),
            metric("counter", "record_count", "resources", 50, context={"id": parent}),
        ]
    lines += [metric("timer", "sync_duration", "databases", 1.5, status="succeeded"),
              metric("counter", "record_count", "databases", 2)]  # fmt: skip
    assert feed(view, *lines) == ["resources: 100 records in 1.0 s", "databases: 2 records in 1.5 s"]


def test_a_failed_stream_and_warnings_stand_out() -> None:
    view = HumanView(5.0, Clock())
    shown = feed(
        view,
        tap("Beginning sync of 'units' in full_table mode"),
        tap("retrying stream 'units' path=/units reason='HTTP 503' attempt=1 wait=1.00s", level="warning"),
        metric("timer", "sync_duration", "units", 2.0, status="failed"),
        metric("counter", "record_count", "units", 200),
        json.dumps({"event": "No state was found, complete import.", "level": "warning"}),
        json.dumps({"event": "Extractor failed", "level": "error"}),
    )
    assert shown == [
        "WARNING: retrying stream 'units' path=/units reason='HTTP 503' attempt=1 wait=1.00s",
        "ERROR: units: failed after 200 records in 2.0 s",
        "ERROR: Extractor failed",
    ]


def test_the_final_table_joins_what_the_tap_read_with_what_the_target_loaded() -> None:
    view = HumanView(5.0, Clock())
    feed(
        view,
        metric("timer", "sync_duration", "units", 2.0, status="succeeded"),
        metric("counter", "record_count", "units", 1200),
    )
    table = view.table([{"stream": "units", "inserted": 1000, "updated": 200, "deleted": 0}])
    assert [row.split() for row in table] == [
        ["stream", "records", "seconds", "inserted", "updated", "deleted"],
        ["units", "1,200", "2.0", "1,000", "200", "0"],
    ]


def test_json_output_passes_every_metric_line_through() -> None:
    out = io.StringIO()
    console = Console(out, "json", lambda text: text)
    raw = metric("counter", "record_count", "customers", 500, total=500)
    parsed = MeltanoLog().feed(raw)
    assert parsed is not None
    console.show(parsed)
    assert out.getvalue() == raw + "\n"
