"""The clock tokens, codes and IP blocks age on: monotonic time plus what the admin API advanced it by.

Shared by the sandboxes that issue tokens, so a test can expire them without sleeping.
"""

from __future__ import annotations

import threading
import time


class TokenClock:
    """A mixin: `clock()` and `advance()`; call `TokenClock.__init__` from the subclass."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._offset_lock = threading.Lock()

    def clock(self) -> float:
        """Seconds on the token clock (monotonic plus what `advance` added)."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the token clock forward (what it dates ages without sleeping); returns the whole offset."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._offset_lock:
            self._offset += seconds
            return self._offset


__all__ = ["TokenClock"]
