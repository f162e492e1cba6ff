"""What `ponte run` prints: Meltano's lines as they come (never buffered), and its own, one line per event.

`human` format (the default): the stream lines, progress, warnings and final table of ponte.runs.human, as
`<local time> <who> <message>`. `console` format: every line, `<time> <LEVEL> <who> <message>` — a plugin's
line shows the level its text states (an `… | ERROR | …` line is an ERROR line here, not Meltano's `info`)
without its own time/level prefix. `json` format: Meltano's JSON lines unchanged (METRIC lines included), and
the launcher's own events in the same shape, for log shippers. Every line goes through the run's redaction.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from ponte.runlog.report import progress_seconds
from ponte.runs.human import HumanView
from ponte.runs.meltano_log import LogLine, plain_message

FORMATS = ("human", "console", "json")
SOURCE = "ponte run"


def _time(timestamp: str | None) -> str:
    if not timestamp:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return timestamp[:19] + "Z" if len(timestamp) >= 19 else timestamp


class Console:
    """Writes and flushes every line at once: a scheduled job's log must show where it is, live."""

    def __init__(self, out: TextIO, fmt: str, redact: Callable[[str], str], progress: float | None = None) -> None:
        self.out, self.fmt, self.redact = out, fmt, redact
        self.view = HumanView(progress_seconds() if progress is None else progress)
        self._lock = threading.Lock()  # lines come from Meltano's output and from the ticker

    def _write(self, text: str) -> None:
        with self._lock:
            self.out.write(self.redact(text) + "\n")
            self.out.flush()

    def tick(self) -> None:
        """Called about twice a second while the pipeline runs: started/progress lines of long streams."""
        if self.fmt != "human":
            return
        with self._lock:
            due = self.view.tick()
        for level, source, message in due:
            self._human(level, source, message)

    def show(self, line: LogLine) -> None:
        """One line of Meltano's output."""
        if self.fmt == "json":
            self._write(line.raw)
            return
        if self.fmt == "human":
            with self._lock:
                shown = self.view.feed(line)
            for level, source, message in shown:
                self._human(level, source, message)
            return
        message = plain_message(line.message)[1] if line.source != "meltano" else line.message
        if line.fields:
            message += " " + " ".join(f"{k}={v}" for k, v in line.fields.items())
        self._write(f"{_time(line.timestamp)} {line.level.upper():<8} {line.source:<20} {message}")

    def say(self, level: str, message: str, **fields: Any) -> None:
        """One line of the launcher's own."""
        if self.fmt == "json":
            event = {"event": message, "level": level, "timestamp": datetime.now(UTC).isoformat(), "name": SOURCE}
            self._write(json.dumps({**event, **fields}, ensure_ascii=False, default=str))
            return
        if self.fmt == "human":
            self._human(level, SOURCE, message)
            return
        self._write(f"{_time(None)} {level.upper():<8} {SOURCE:<20} {message}")

    def _human(self, level: str, source: str, message: str) -> None:
        flag = "" if level in ("info", "debug") else f"{level.upper()}: "
        for number, text in enumerate(message.splitlines() or [""]):
            shown = f"{flag}{text}" if number == 0 else f"  {text}"
            self._write(f"{datetime.now().astimezone():%H:%M:%S} {source:<20} {shown}")

    def table(self, loaded: list[dict[str, Any]]) -> None:
        """The final per-stream table (human format only)."""
        if self.fmt != "human":
            return
        with self._lock:
            rows = self.view.table(loaded)
        for row in rows:
            self._write(f"  {row}")
