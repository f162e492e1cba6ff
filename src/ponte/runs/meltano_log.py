"""Meltano's `--log-format json` output, read for the run record: the plugins that ran, how each exited, and
the failing plugin's first real error line.

Meltano 4 writes one JSON object per line on stderr. A plugin's stderr line is an event naming the plugin
(`string_id`, else `name`) with the flags `producer`/`consumer` (extractor: producer only, loader: consumer
only, mapper: both). Its level is Meltano's `info` whatever the plugin meant (unless the plugin declares
structured logging), so the level is read back from the text when the plugin's log format carries one
(`… | ERROR | …`, singer-sdk's and target-postgres's default). Blocks run one after the other; after each,
Meltano logs "Block run completed" with `success` and, on failure, `exit_codes` keyed by role
(`{"extractors": 4}`; mappers as a list of `{mapper: code}`), naming only the plugins that failed.

Lines are folded as they arrive, keeping a few candidate lines per plugin, so a long run's log is never held.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MELTANO = "meltano"
ROLES = {"extractors": "extractor", "loaders": "loader", "mappers": "mapper"}
ERROR_LEVELS = frozenset({"error", "critical", "fatal", "exception"})

# `2026-12-02 06:22:06,242 | ERROR    | target-postgres                | message` (ponte and singer-sdk)
_PIPE_FORMAT = re.compile(r"^\S+ \S+ \| *(?P<level>[A-Z]+) *\| *[^|]*\| ?(?P<message>.*)$")
# `2026-12-02 06:22:06,242 ERROR message` (the API targets' logging.basicConfig format)
_SPACED_FORMAT = re.compile(
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+ (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<message>.*)$"
)
# `ERROR: message`, `ERROR message`, `CRITICAL - message`, `level=error msg=…`, `[error    ] message`
_LEADING_LEVEL = re.compile(r"^(?P<level>ERROR|CRITICAL|FATAL)\b[\s:\-]*(?P<message>.*)$")
_KEY_VALUE_LEVEL = re.compile(r"\blevel=\"?(?P<level>error|critical|fatal)\b", re.IGNORECASE)
_BRACKET_LEVEL = re.compile(r"^\[(?P<level>error|critical)\s*\]\s*(?P<message>.*)$", re.IGNORECASE)
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure|Fault)\b(:.*)?$")
# After a traceback's frames, the first line flush left is the exception, whatever its class is called.
_RAISED_LINE = re.compile(r"^[A-Za-z_][\w.]*(: .*)?$")
# Lines that never explain a failure: the SDK's wrapper line, metrics, traceback scaffolding.
_GENERIC = (
    re.compile(r"^An unhandled error occurred while", re.IGNORECASE),
    re.compile(r"^METRIC:"),
    re.compile(r"^During handling of the above exception"),
    re.compile(r"^The above exception was the direct cause"),
)
_BROKEN_PIPE = re.compile(r"BrokenPipe|Broken pipe|EPIPE")


def plain_message(text: str) -> tuple[str | None, str]:
    """(level the text itself states or None, the message without a log-format prefix)."""
    stripped = text.strip()
    for pattern in (_PIPE_FORMAT, _SPACED_FORMAT, _LEADING_LEVEL, _BRACKET_LEVEL):
        match = pattern.match(stripped)
        if match:
            return match.group("level").lower(), match.group("message").strip()
    match = _KEY_VALUE_LEVEL.search(stripped)
    return (match.group("level").lower() if match else None), stripped


def _generic(message: str) -> bool:
    return not message or any(pattern.search(message) for pattern in _GENERIC)


@dataclass
class ErrorLines:
    """Keeps, from one plugin's stderr, the lines that can explain its failure (first error, exception, last)."""

    explicit: str | None = None
    exception: str | None = None
    last: str | None = None
    _in_traceback: bool = False

    def add(self, text: str, level: str | None) -> None:
        """Fold in one line; `level` is the level the plugin meant, when known."""
        if not text.strip():
            return
        if text.strip().startswith("Traceback (most recent call last)"):
            self._in_traceback = True
            return
        if self._in_traceback:
            if text[:1].isspace() or text.strip().startswith(("^", "~")):
                return  # frames, source lines, carets
            self._in_traceback = False
            message = text.strip()
            if _RAISED_LINE.match(message):
                self.exception = self.exception or message
                self.last = message
                return
        stated, message = plain_message(text)
        if _generic(message):
            return
        self.last = message
        if self.explicit is None and (stated or level or "") in ERROR_LEVELS:
            self.explicit = message
        elif self.exception is None and _EXCEPTION_LINE.match(message):
            self.exception = message

    def first(self) -> str | None:
        """The first line stated as an error; else the exception a traceback ended with; else the last line."""
        return self.explicit or self.exception or self.last


@dataclass
class PluginRun:
    """One plugin of one block: its exit code once Meltano says how the block ended."""

    name: str
    role: str
    block: int
    exit_code: int | None = None
    lines: ErrorLines = field(default_factory=ErrorLines)

    @property
    def error(self) -> str | None:
        """Its first real error line, when it failed."""
        return self.lines.first() if self.exit_code else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "block": self.block, "exit_code": self.exit_code}


@dataclass
class LogLine:
    """One line of Meltano's output, ready to show: who said it, at which level, and what."""

    source: str
    level: str
    message: str
    timestamp: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    raw: str = ""


def _role(event: Mapping[str, Any]) -> str:
    if event.get("type") == "discovery":
        return "extractor"  # Meltano runs `--discover` on the extractor before its block starts
    producer, consumer = bool(event.get("producer")), bool(event.get("consumer"))
    if producer and consumer:
        return "mapper"
    if producer:
        return "extractor"
    if consumer:
        return "loader"
    return str(event.get("cmd_type") or "command")


# Meltano's own event fields not worth showing on a console line.
_HIDDEN = frozenset({"event", "level", "timestamp", "_logger", "_name", "run_id", "stdio", "consumer", "producer",
                     "string_id", "cmd_type", "job_name", "name", "set_number", "block_type"})  # fmt: skip


class MeltanoLog:
    """Folds Meltano's JSON log, line by line, into the plugins' exit codes and the error that ended the run."""

    def __init__(self) -> None:
        self.environment: str | None = None
        self.block = 0
        self.completed: list[dict[str, Any]] = []
        self.meltano_errors: list[str] = []
        self._plugins: dict[tuple[int, str], PluginRun] = {}

    def feed(self, raw: str) -> LogLine | None:
        """Read one line of Meltano's stderr; return it ready to show (None for a blank line)."""
        line = raw.rstrip("\n")
        if not line.strip():
            return None
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            return self._plain(line)
        text = str(event.get("event"))
        level = str(event.get("level") or "info").lower()
        plugin = event.get("string_id") or (event.get("name") if event.get("stdio") else None)
        if plugin:
            run = self._plugin(str(plugin), _role(event))
            stated, _ = plain_message(text)
            meant = stated or (level if level != "info" else None)
            run.lines.add(text, meant)
            return LogLine(str(plugin), meant or level, text, event.get("timestamp"), raw=line)
        self._meltano_event(text, level, event)
        fields = {k: v for k, v in event.items() if k not in _HIDDEN}
        return LogLine(MELTANO, level, text, event.get("timestamp"), fields, raw=line)

    def _plain(self, line: str) -> LogLine:
        stated, message = plain_message(line)
        if line.startswith("Error:"):  # click's way of ending Meltano with a usage error
            stated, message = "error", line.removeprefix("Error:").strip()
        if stated in ERROR_LEVELS:
            self.meltano_errors.append(message)
        return LogLine(MELTANO, stated or "info", line, raw=line)

    def _meltano_event(self, text: str, level: str, event: Mapping[str, Any]) -> None:
        match = re.match(r"Environment '(.+)' is active", text)
        if match:
            self.environment = match.group(1)
        if text == "Block run completed":
            self._block_completed(event)
        elif level in ERROR_LEVELS and text not in ("Extractor failed", "Loader failed", "Mappers failed",
                                                    "Extractor and loader failed"):  # fmt: skip
            self.meltano_errors.append(text)

    def _plugin(self, name: str, role: str) -> PluginRun:
        key = (self.block, name)
        if key not in self._plugins:
            self._plugins[key] = PluginRun(name, role, self.block)
        elif role in ROLES.values():
            self._plugins[key].role = role
        return self._plugins[key]

    def _block_completed(self, event: Mapping[str, Any]) -> None:
        self.completed.append(dict(event))
        plugins = [p for p in self._plugins.values() if p.block == self.block]
        failed: dict[str, int] = {}
        codes = event.get("exit_codes")
        entries = codes if isinstance(codes, list) else [codes] if isinstance(codes, dict) else []
        for entry in entries:
            if isinstance(entry, dict):
                failed.update({str(k): int(v) for k, v in entry.items() if isinstance(v, int)})
        for plugin in plugins:
            plugin.exit_code = 0
        for key, code in failed.items():
            role = ROLES.get(key)
            matches = [p for p in plugins if p.name == key or (role is not None and p.role == role)]
            if not matches:  # the plugin that failed said nothing at all: name it by what Meltano knows
                matches = [self._plugin(key, role or "plugin")]
            for plugin in matches:
                plugin.exit_code = code
        if not event.get("success") and not failed:
            self.meltano_errors.append(str(event.get("err") or "a block failed"))
        self.block += 1

    def plugins(self) -> list[PluginRun]:
        """Every plugin seen, in order; `exit_code` is None for a plugin whose block never completed."""
        return list(self._plugins.values())

    def failing(self) -> PluginRun | None:
        """The plugin whose failure explains the run: the first that failed, passing over one that only lost
        its pipe because its partner had died first."""
        failed = [p for p in self._plugins.values() if p.exit_code]
        for plugin in failed:
            if not _BROKEN_PIPE.search(plugin.error or ""):
                return plugin
        return failed[0] if failed else None
