"""How long to wait before retrying: exponential backoff with full jitter, or what the server asks."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass

from ponte.declaration.models import HttpSpec


@dataclass(frozen=True)
class RetryPolicy:
    """Retry limits; 429 waits are budgeted separately because the server told us exactly when to come back."""

    max_retries: int = HttpSpec.max_retries
    max_rate_limit_waits: int = 30
    base_seconds: float = HttpSpec.backoff_base_seconds
    max_seconds: float = HttpSpec.backoff_max_seconds
    rate_limit_fallback_seconds: float = HttpSpec.rate_limit_wait_seconds

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with full jitter for the given 1-based attempt."""
        cap = min(self.max_seconds, self.base_seconds * (2 ** (attempt - 1)))
        return (rng or random).uniform(cap / 2, cap)


def server_wait(headers: Mapping[str, str], now: dt.datetime | None = None) -> tuple[float, str] | None:
    """Seconds the server asked us to wait and the header that said so.

    `Retry-After` (seconds or HTTP date) first, else `RateLimit-Reset` (seconds); None when neither is usable,
    so a log line can say where a wait came from.
    """
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            return float(value), "Retry-After"
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            now = now or dt.datetime.now(dt.UTC)
            return max(0.0, (when - now).total_seconds()), "Retry-After"
    reset = headers.get("RateLimit-Reset")
    if reset and reset.strip().replace(".", "", 1).isdigit():
        return float(reset), "RateLimit-Reset"
    return None


def retry_after_seconds(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (see `server_wait`), without saying which header."""
    found = server_wait(headers, now)
    return found[0] if found else None
