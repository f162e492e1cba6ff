"""What stands between a client and a sandbox API: a Kong-style rate limit, a daily quota, injected faults.

The rate limit mimics Kong's rate-limiting plugin (Sienge sits behind Kong): a fixed window with a request
budget, the `X-RateLimit-*` / `RateLimit-*` headers on every response, 429 `{"message":"API rate limit
exceeded"}` once the budget is spent, and requests refused with 429 do not count. An outage (`outage_seconds`)
answers 503 to every API request before any of that, as a load balancer in front of a dead backend does. Unlike Kong, a window starts
at the first request after the previous one ended (not at a clock boundary), so a test that sends four
requests against a 3-per-second limit always sees the 429.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field

from ponte.sandbox.switches import Switches


@dataclass
class Admission:
    """The gate's verdict for one request, with the headers every response carries."""

    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: int | None = None
    reason: str = ""


class RateGate:
    """Per-window budget (`rate_limit` per `rate_window_seconds`) and a per-day quota on the sandbox clock."""

    def __init__(self, switches: Switches) -> None:
        self.switches = switches
        self._lock = threading.Lock()
        self._window_start: float | None = None
        self._window_count = 0
        self._day: str | None = None
        self._day_count = 0

    def reset(self) -> None:
        """Forget the current window and the day's usage (tests reuse one server)."""
        with self._lock:
            self._window_start, self._window_count = None, 0
            self._day, self._day_count = None, 0

    def day_usage(self) -> int:
        """Requests counted against today's quota so far."""
        return self._day_count

    def admit(self, today: str, seconds_to_midnight: float, now: float | None = None) -> Admission:
        """Count the request if allowed and say which headers describe the remaining budget."""
        sw = self.switches
        limit, window = sw["rate_limit"], max(float(sw["rate_window_seconds"]), 0.001)
        quota, blocking = sw["daily_quota"], sw["quota_blocking"]
        moment = time.monotonic() if now is None else now
        with self._lock:
            if limit > 0 and (self._window_start is None or moment - self._window_start >= window):
                self._window_start, self._window_count = moment, 0
            if today != self._day:
                self._day, self._day_count = today, 0
            over_window = limit > 0 and self._window_count >= limit
            over_day = quota > 0 and blocking and self._day_count >= quota
            allowed = not (over_window or over_day)
            if allowed:
                self._window_count += 1
                self._day_count += 1
            window_reset = 0
            if limit > 0 and self._window_start is not None:
                window_reset = max(1, math.ceil(self._window_start + window - moment))
            window_left = max(0, limit - self._window_count)
            day_left = max(0, quota - self._day_count)
        day_reset = max(1, math.ceil(seconds_to_midnight))
        headers: dict[str, str] = {}
        budgets: list[tuple[int, int, int]] = []
        if limit > 0:
            headers["X-RateLimit-Limit-Minute"] = str(limit)
            headers["X-RateLimit-Remaining-Minute"] = str(window_left)
            budgets.append((window_left, limit, window_reset))
        if quota > 0:
            headers["X-RateLimit-Limit-Day"] = str(quota)
            headers["X-RateLimit-Remaining-Day"] = str(day_left)
            if blocking:
                budgets.append((day_left, quota, day_reset))
        if budgets:
            left, total, reset = min(budgets, key=lambda b: b[0])
            headers.update(
                {"RateLimit-Limit": str(total), "RateLimit-Remaining": str(left), "RateLimit-Reset": str(reset)}
            )
        if allowed:
            return Admission(True, headers)
        retry = window_reset if over_window else day_reset
        reason = "rate_limit" if over_window else "daily_quota"
        return Admission(False, headers, retry_after=retry, reason=reason)


class Faults:
    """Injected failures: countdown switches (`fail_next`) fire first, then the seeded probabilities."""

    def __init__(self, switches: Switches, seed: int) -> None:
        self.switches = switches
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def fires(self, countdown: str, rate: str) -> bool:
        """Whether this fault hits the current request; the random stream is only consumed when rate > 0."""
        if self.switches.take_one(countdown):
            return True
        probability = self.switches[rate]
        if probability <= 0:
            return False
        with self._lock:
            return self._rng.random() < probability

    def latency(self) -> None:
        """Sleep `latency_ms` (in the handler thread, so other connections are not delayed)."""
        delay = self.switches["latency_ms"]
        if delay > 0:
            time.sleep(delay / 1000)


class Outage:
    """The `outage_seconds` switch: every API request fails with 503 for N seconds (after `outage_after` passed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds = 0.0
        self._after = 0
        self._until: float | None = None

    def arm(self, seconds: float, after: int) -> None:
        """Start an outage of `seconds` now, or once `after` more requests have been answered (0 s: none)."""
        with self._lock:
            self._seconds, self._after = seconds, after if seconds > 0 else 0
            self._until = time.monotonic() + seconds if seconds > 0 and after == 0 else None

    def hits(self) -> bool:
        """Whether this request falls in the outage (counts it toward `outage_after` otherwise)."""
        with self._lock:
            if self._after > 0:
                self._after -= 1
                if self._after == 0:
                    self._until = time.monotonic() + self._seconds
                return False
            return self._until is not None and time.monotonic() < self._until

    def left(self) -> float:
        """Seconds of outage still to come (0 when none is going on)."""
        with self._lock:
            return 0.0 if self._until is None else round(max(0.0, self._until - time.monotonic()), 3)


def truncate_json(body: bytes) -> bytes:
    """Cut a JSON document in half: never valid JSON, like a response cut off by a proxy."""
    return body[: max(1, len(body) // 2)]
