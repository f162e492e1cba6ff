"""Runtime switches of a sandbox: faults, rate limits and API-specific behaviours, changeable while it runs.

One declaration per switch (default, help, whether it models a guess about the real API) feeds three things:
`GET/POST /_sandbox/config`, the in-process `RunningSandbox.configure(...)`, and the CLI help texts, so a
behaviour that the facts file marks GUESS is labelled the same way everywhere.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class SwitchError(ValueError):
    """A config update named an unknown switch or gave a value of the wrong type."""


@dataclass(frozen=True)
class Switch:
    """One runtime switch: its default fixes its type (None means 'any JSON value')."""

    name: str
    default: Any
    help: str
    guess: bool = False
    choices: tuple[str, ...] | None = None
    check: Callable[[Any], str | None] | None = None  # returns a complaint about a value, or None

    @property
    def help_text(self) -> str:
        """Help as the CLI shows it: guesses end with '(guess)'."""
        return f"{self.help} (guess)" if self.guess else self.help

    def coerce(self, value: Any) -> Any:
        """Check a JSON value against the default's type (and `check`); ints are accepted for floats."""
        value = self._typed(value)
        complaint = self.check(value) if self.check else None
        if complaint:
            raise SwitchError(f"switch '{self.name}': {complaint}")
        return value

    def _typed(self, value: Any) -> Any:
        kind = type(self.default)
        if self.default is None:
            return copy.deepcopy(value)
        if kind is bool:
            if isinstance(value, bool):
                return value
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif kind is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif kind is str:
            if isinstance(value, str) and (self.choices is None or value in self.choices):
                return value
        elif isinstance(value, kind):
            return copy.deepcopy(value)
        wanted = f"one of {', '.join(self.choices)}" if self.choices else kind.__name__
        raise SwitchError(f"switch '{self.name}' expects {wanted}, got {value!r}")


def probability(value: float) -> str | None:
    """`check` for rates: 0..1."""
    return None if 0 <= value <= 1 else "must be between 0 and 1"


def iso_moment(value: str) -> str | None:
    """`check` for clock values."""
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return "must be an ISO 8601 date-time such as 2026-07-01T12:00:00-03:00"
    return None


def real_clock_or_moment(value: str) -> str | None:
    """`check` for a `now` switch whose empty value means the real clock."""
    return None if value == "" else iso_moment(value)


def non_negative(value: float) -> str | None:
    """`check` for counts, delays and limits."""
    return None if value >= 0 else "must not be negative"


def positive(value: float) -> str | None:
    """`check` for windows and speeds, where zero would divide by zero or never move."""
    return None if value > 0 else "must be positive"


COMMON_SWITCHES: tuple[Switch, ...] = (
    Switch("fail_rate", 0.0, "Probability (0..1) that an API request fails with fail_status.", check=probability),
    Switch(
        "fail_status",
        503,
        "HTTP status of injected failures.",
        check=lambda v: None if 400 <= v <= 599 else "must be 4xx/5xx",
    ),
    Switch(
        "fail_next", 0, "The next N API requests fail with fail_status (deterministic, for tests).", check=non_negative
    ),
    Switch("latency_ms", 0, "Delay added to every API response, in milliseconds.", check=non_negative),
    Switch("drop_rate", 0.0, "Probability (0..1) that the connection is closed without a response.", check=probability),
    Switch("drop_next", 0, "The next N API requests are dropped without a response.", check=non_negative),
    Switch(
        "outage_seconds",
        0.0,
        "An outage: every API request is answered 503 for this many seconds, counted from when it is set (or from "
        "when outage_after more requests have passed); setting it again starts a new outage, 0 ends one.",
        check=non_negative,
    ),
    Switch(
        "outage_after",
        0,
        "Requests still answered normally after outage_seconds is set, before the outage begins (0: at once).",
        check=non_negative,
    ),
    Switch("bad_json_rate", 0.0, "Probability (0..1) that a 200 JSON body is truncated.", check=probability),
    Switch("bad_json_next", 0, "The next N 200 JSON responses are truncated.", check=non_negative),
    Switch("rate_limit", 200, "Requests allowed per rate window (0 = no limit).", check=non_negative),
    Switch(
        "rate_window_seconds",
        60.0,
        "Length of the fixed rate window, in seconds.",
        check=positive,
    ),
    Switch("retry_after_header", True, "Send Retry-After on 429 responses.", guess=True),
    Switch(
        "rate_headers",
        True,
        "Send X-RateLimit-*/RateLimit-* headers on allowed responses (off: clients learn of the limit only from 429s).",
    ),
    Switch("daily_quota", 0, "Requests allowed per sandbox day (0 = no quota).", check=non_negative),
    Switch("quota_blocking", True, "Answer 429 once the daily quota is spent (else only count)."),
    Switch(
        "now",
        "2026-07-01T12:00:00-03:00",
        "The sandbox clock (ISO 8601 with offset); it does not advance.",
        check=iso_moment,
    ),
    Switch("log_max", 100_000, "How many requests the request log keeps (oldest dropped first).", check=non_negative),
)


class Switches:
    """The current values, safe to read from handler threads and to update from the admin endpoint."""

    def __init__(self, declared: Iterable[Switch], initial: Mapping[str, Any] | None = None) -> None:
        self.declared: dict[str, Switch] = {s.name: s for s in declared}
        self._values: dict[str, Any] = {name: copy.deepcopy(s.default) for name, s in self.declared.items()}
        self._lock = threading.Lock()
        if initial:
            self.update(initial)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def snapshot(self) -> dict[str, Any]:
        """A copy of every value, for `GET /_sandbox/config`."""
        with self._lock:
            return copy.deepcopy(self._values)

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate all changes first, then apply them together; returns the coerced changes."""
        unknown = sorted(set(changes) - set(self.declared))
        if unknown:
            known = ", ".join(sorted(self.declared))
            raise SwitchError(f"unknown switch(es) {', '.join(unknown)}; known: {known}")
        coerced = {name: self.declared[name].coerce(value) for name, value in changes.items()}
        with self._lock:
            self._values.update(coerced)
        return coerced

    def take_one(self, name: str) -> bool:
        """Decrement a countdown switch (fail_next, ...) if positive; True when one was taken."""
        with self._lock:
            if self._values.get(name, 0) > 0:
                self._values[name] -= 1
                return True
            return False
