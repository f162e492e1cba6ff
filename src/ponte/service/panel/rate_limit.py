"""Login attempts per user name and client address: after `limit` failures within `window` seconds the pair is
refused until the oldest failure leaves the window, so a password cannot be guessed at network speed."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginAttempts:
    def __init__(self, limit: int = 5, window: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        now = self.clock()
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def wait_seconds(self, user: str, address: str) -> float:
        """0 when the pair may try; else how long until it may."""
        failures = self._recent((user.lower(), address))
        if len(failures) < self.limit:
            return 0.0
        return max(1.0, self.window - (self.clock() - failures[0]))

    def failed(self, user: str, address: str) -> None:
        self._recent((user.lower(), address)).append(self.clock())
        if len(self._failures) > 10_000:  # an attacker cycling names must not grow this without bound
            self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, user: str, address: str) -> None:
        self._failures.pop((user.lower(), address), None)
