"""Proactive request budgets: never trip the server's limit in normal running.

`RateLimiter` keeps a sliding log of send times, so no interval of `window_seconds` ever holds more than
`requests` sends; that also satisfies servers counting in fixed clock-aligned windows (Kong). A small margin
absorbs the latency jitter between our clock and the server's. `DailyQuota` is a per-day counter persisted
on disk (with a file lock) so several runs on the same day share one budget, as the API plans count it.
"""

from __future__ import annotations

import collections
import datetime as dt
import fcntl
import json
import os
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from ponte.core.errors import QuotaExhausted


class RateLimiter:
    """Sliding-window limiter shared by every stream of one process."""

    def __init__(self, requests: int, window_seconds: float, margin_seconds: float | None = None) -> None:
        if requests < 1 or window_seconds <= 0:
            raise ValueError("rate budget needs requests >= 1 and window_seconds > 0")
        self.requests = requests
        self.window = float(window_seconds)
        self.margin = margin_seconds if margin_seconds is not None else max(0.03, 0.02 * self.window)
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._paused_until = 0.0

    def pause_until(self, monotonic_deadline: float) -> None:
        """Hold every sender until the server says its window resets (shared budget spent elsewhere)."""
        with self._lock:
            self._paused_until = max(self._paused_until, monotonic_deadline)

    def observe_server_exhausted(self, reset_seconds: float) -> None:
        """The server says its window is spent and resets in `reset_seconds` (whole seconds, rounded up).

        If our own log is also full until at least `reset_seconds - 1` from now, this process spent the
        budget and the sliding window already holds us back as long as needed; pausing for the rounded-up
        header on top would waste up to a second per window. Otherwise others share the budget (Sienge
        counts per tenant): hold every sender for the whole announced reset.
        """
        with self._lock:
            now = time.monotonic()
            ours_full = len(self._sent) >= self.requests
            own_wait = self._sent[0] + self.window + self.margin - now if ours_full and self._sent else 0.0
            if own_wait < reset_seconds - 1:
                self._paused_until = max(self._paused_until, now + reset_seconds)

    def acquire(self) -> float:
        """Block until one more request fits in the budget; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.window + self.margin:
                    self._sent.popleft()
                wait = self._paused_until - now
                if wait <= 0 and len(self._sent) < self.requests:
                    self._sent.append(now)
                    return waited
                if wait <= 0:
                    wait = self._sent[0] + self.window + self.margin - now
            time.sleep(max(wait, 0.001))
            waited += max(wait, 0.001)


class DailyQuota:
    """A request counter per calendar day (in the API's time zone), persisted across runs and processes."""

    def __init__(self, limit: int, key: str, state_dir: str | Path, timezone: str = "UTC") -> None:
        self.limit = int(limit)
        safe_key = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
        self.path = Path(state_dir) / "quota" / f"{safe_key}.json"
        self.tz = ZoneInfo(timezone)
        self._lock = threading.Lock()

    def _today(self) -> str:
        return dt.datetime.now(self.tz).date().isoformat()

    def _update(self, change: int = 0, floor: int | None = None) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            raw = fh.read()
            data = json.loads(raw) if raw.strip() else {}
            today = self._today()
            used = int(data.get("used", 0)) if data.get("date") == today else 0
            if floor is not None:
                used = max(used, floor)
            if change and used + change > self.limit:
                raise QuotaExhausted(self.exhausted_message(used))
            used += change
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({"date": today, "used": used, "limit": self.limit}))
            fh.flush()
            os.fsync(fh.fileno())
            return used

    def exhausted_message(self, used: int) -> str:
        """Say what happened and when the run can go on."""
        return (
            f"daily request quota spent ({used} of {self.limit} used today, {self._today()} in {self.tz.key}); "
            "the run stopped cleanly and the next run resumes where this one stopped. Raise `daily_quota` "
            "if your plan allows more."
        )

    def consume(self) -> int:
        """Count one request, or raise QuotaExhausted before sending it."""
        return self._update(change=1)

    def used(self) -> int:
        """Requests counted today."""
        return self._update()

    def observe_server_remaining(self, remaining: int) -> None:
        """Trust the server's own count when it says fewer remain than we think (shared tenant budget)."""
        self._update(floor=max(0, self.limit - remaining))
