"""What `ponte run` prints: Meltano's lines as they come (never buffered), and its own, one line per event.

`console` format: `<time> <LEVEL> <who> <message>` — a plugin's line shows the level its text states (an
`… | ERROR | …` line is an ERROR line here, not Meltano's `info`) without its own time/level prefix.
`json` format: Meltano's JSON lines unchanged, and the launcher's own events in the same shape, for log
shippers. Every line goes through the run's redaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from ponte.runs.meltano_log import LogLine, plain_message

FORMATS = ("console", "json")
SOURCE = "ponte run"


def _time(timestamp: str | None) -> str:
    if not timestamp:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return timestamp[:19] + "Z" if len(timestamp) >= 19 else timestamp


class Console:
    """Writes and flushes every line at once: a scheduled job's log must show where it is, live."""

    def __init__(self, out: TextIO, fmt: str, redact: Callable[[str], str]) -> None:
        self.out, self.fmt, self.redact = out, fmt, redact

    def _write(self, text: str) -> None:
        self.out.write(self.redact(text) + "\n")
        self.out.flush()

    def show(self, line: LogLine) -> None:
        """One line of Meltano's output."""
        if self.fmt == "json":
            self._write(line.raw)
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
        self._write(f"{_time(None)} {level.upper():<8} {SOURCE:<20} {message}")
