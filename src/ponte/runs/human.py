"""`ponte run`'s default output: what a person wants to read while a pipeline runs, and nothing else.

One line when a stream ends (records, seconds); a stream still running after a second also gets a line when
it started and a progress line every few seconds (records so far, rate, and the ETA when the listing announced
its total) — so 24 quick streams take 24 lines and a long one is never silent; every warning and error of any
plugin, the lines a plugin prints for people (an API target's summary, job outcomes), and a final table.

It is folded from the lines Meltano passes on: singer-sdk's METRIC lines (`record_count`, `sync_duration`) and
its "Beginning sync" / "Added … as child stream" lines give the stream lines; Meltano's informational lines
(but the environment and discovery) and the plugins' chatter listed in `_CHATTER` are hidden. `--log-format console` shows every line and
`--log-format json` passes Meltano's JSON through, METRIC lines included, for machines.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ponte.runlog.report import TOTAL_TAG
from ponte.runs.meltano_log import ERROR_LEVELS, MELTANO, LogLine, plain_message

_METRIC = re.compile(r"^METRIC: (?P<json>\{.*\})\s*$")
_BEGIN = re.compile(r"^Beginning sync of '(?P<stream>[^']+)' in (?P<mode>\S+) mode")
_CHILD = re.compile(r"^Added '(?P<child>[^']+)' as child stream to '(?P<parent>[^']+)'")
# Informational lines of plugins that the stream lines and the final table already say, or that only matter
# when debugging (then: --log-format console).
_CHATTER = tuple(
    re.compile(pattern)
    for pattern in (
        r"^Skipping parse of env var settings",
        r"^Skipping deselected stream",
        r"^Pagination stopped after \d+ pages because no records were found",
        r"is not in the declared schema; kept as in earlier runs",  # said (as a warning) the first time only
        r"^\S+ v.*, Meltano SDK v",  # a plugin's singer-sdk banner
        r"^Reader '[^']+' completed processing \d+ lines",  # singer-sdk mappers and targets: message totals
        r"^target-postgres v\S+ \(ponte loader",
        r"^stream '[^']+' → \S+ \(\d+ columns",  # target-postgres: which table a stream goes to
        r"^read \d+ lines \(\d+ schemas",  # target-postgres: message totals
    )
)
WARNING_LEVELS = frozenset({"warning", *ERROR_LEVELS})
START_DELAY_SECONDS = 1.0  # a stream that ends sooner gets its end line only
# Meltano's informational lines worth a glance: which environment (whose settings) and the wait for discovery.
_MELTANO_SHOWN = re.compile(r"^(Environment '[^']+' is active|Running catalog discovery)")


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _span(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class StreamRun:
    """What the console knows about one stream of one plugin."""

    name: str
    plugin: str
    mode: str = ""
    began: float = 0.0
    records: int = 0
    total: int | None = None
    seconds: float = 0.0
    status: str = "running"
    ending: bool = False  # its sync timer came; the record count that follows closes it
    announced: bool = False  # its "started" line was shown
    shown_at: float = 0.0


class HumanView:
    """Turns Meltano's lines into the few a person reads; `feed` returns what to print (possibly nothing)."""

    def __init__(self, progress_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.progress_seconds, self.clock = progress_seconds, clock
        self.streams: dict[tuple[str, str], StreamRun] = {}
        self.parents: dict[tuple[str, str], str] = {}  # (plugin, child) -> parent

    def feed(self, line: LogLine) -> list[tuple[str, str, str]]:
        """(level, source, message) lines to show for one line of Meltano's output."""
        stated, message = plain_message(line.message) if line.source != MELTANO else (None, line.message)
        level = (stated or line.level or "info").lower()
        if line.source == MELTANO:
            shown = (level in WARNING_LEVELS and not _meltano_chatter(message)) or _MELTANO_SHOWN.match(message)
            return [(level, MELTANO, message)] if shown else []
        metric = _METRIC.match(message)
        if metric:
            return self._metric(line.source, metric.group("json"))
        began = _BEGIN.match(message)
        if began:
            return self._began(line.source, began.group("stream"), began.group("mode"))
        child = _CHILD.match(message)
        if child:
            self.parents[(line.source, child.group("child"))] = child.group("parent")
            return []
        if level not in WARNING_LEVELS and any(pattern.search(message) for pattern in _CHATTER):
            return []
        return [(level, line.source, message)]

    def _stream(self, plugin: str, name: str) -> StreamRun:
        key = (plugin, name)
        if key not in self.streams:
            self.streams[key] = StreamRun(name, plugin, began=self.clock(), shown_at=self.clock())
        return self.streams[key]

    def _began(self, plugin: str, name: str, mode: str) -> list[tuple[str, str, str]]:
        known = (plugin, name) in self.streams
        stream = self._stream(plugin, name)
        if known and stream.status != "running":  # the same stream again (a second pass): start over
            self.streams[(plugin, name)] = stream = StreamRun(name, plugin, began=self.clock(), shown_at=self.clock())
        stream.mode = stream.mode or mode
        return []  # shown by `tick` once it has run for a second (a child starts once per parent record)

    def tick(self) -> list[tuple[str, str, str]]:
        """Lines due now: "started" for streams running a second, progress every `progress_seconds`."""
        now, lines = self.clock(), []
        for (plugin, name), stream in self.streams.items():
            if stream.status != "running" or stream.ending:
                continue
            if not stream.announced:
                if now - stream.began >= START_DELAY_SECONDS:
                    stream.announced, stream.shown_at = True, now
                    parent = self.parents.get((plugin, name))
                    how = f"{stream.mode}, per {parent} record" if parent else stream.mode
                    lines.append(("info", plugin, f"{name}: started ({how})" if how else f"{name}: started"))
            elif now - stream.shown_at >= self.progress_seconds:
                stream.shown_at = now
                lines.append(("info", plugin, self._progress(stream, now)))
        return lines

    def _metric(self, plugin: str, text: str) -> list[tuple[str, str, str]]:
        try:
            point = json.loads(text)
            tags: Mapping[str, Any] = point.get("tags") or {}
            name, kind, value = str(tags["stream"]), point.get("metric"), point.get("value")
        except (ValueError, KeyError, TypeError, AttributeError):
            return []
        stream = self._stream(plugin, name)
        if kind == "sync_duration":
            stream.seconds += float(value or 0)
            if tags.get("status") not in (None, "succeeded"):
                stream.status = str(tags.get("status"))
            if (plugin, name) not in self.parents:
                stream.ending = True
            return []
        if kind != "record_count":
            return []
        stream.records += int(value or 0)
        if isinstance(tags.get(TOTAL_TAG), int):
            stream.total = max(stream.total or 0, int(tags[TOTAL_TAG]))
        if stream.ending:
            return [*self._close_children(plugin, name), self._closed(stream)]
        return []

    def _close_children(self, plugin: str, parent: str) -> list[tuple[str, str, str]]:
        lines = []
        for (owner, child), of in self.parents.items():
            stream = self.streams.get((owner, child))
            if owner == plugin and of == parent and stream is not None and stream.status == "running":
                lines += self._close_children(plugin, child)
                lines.append(self._closed(stream))
        return lines

    def _closed(self, stream: StreamRun) -> tuple[str, str, str]:
        if stream.status == "running":
            stream.status = "succeeded"
        stream.ending = False
        took = f"{_count(stream.records)} records in {_span(stream.seconds)}"
        if stream.status != "succeeded":
            return ("error", stream.plugin, f"{stream.name}: {stream.status} after {took}")
        return ("info", stream.plugin, f"{stream.name}: {took}")

    def _progress(self, stream: StreamRun, now: float) -> str:
        elapsed = max(now - stream.began, 1e-6)
        if not stream.records:
            return f"{stream.name}: no records yet after {_span(elapsed)}"
        rate = stream.records / elapsed
        text = f"{stream.name}: {_count(stream.records)}"
        if stream.total and stream.total >= stream.records:
            text += f" of {_count(stream.total)}"
        text += f" records ({_count(rate)}/s"
        if stream.total and stream.total > stream.records and rate > 0:
            text += f", ETA {_span((stream.total - stream.records) / rate)}"
        return text + ")"

    def table(self, loaded: Sequence[Mapping[str, Any]]) -> list[str]:
        """The final table: per stream, records read and seconds (the tap), rows inserted/updated/deleted."""
        by_name = {str(row.get("stream")): row for row in loaded}
        names = [s.name for s in self.streams.values()] + [n for n in by_name if n not in self._names()]
        if not names:
            return []
        read = {s.name: s for s in self.streams.values()}
        rows = [("stream", "records", "seconds", "inserted", "updated", "deleted")]
        for name in names:
            stream, facts = read.get(name), by_name.get(name)
            rows.append(
                (
                    name,
                    _count(stream.records) if stream else "-",
                    f"{stream.seconds:.1f}" if stream else "-",
                    *(
                        (_count(int(facts.get(k) or 0)) for k in ("inserted", "updated", "deleted"))
                        if facts
                        else ("-", "-", "-")
                    ),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                for r in rows]  # fmt: skip

    def _names(self) -> set[str]:
        return {s.name for s in self.streams.values()}


def _meltano_chatter(message: str) -> bool:
    """Meltano's normal first-run notice, not a problem worth a warning line here."""
    return message.startswith("No state was found")
