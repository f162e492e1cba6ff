"""A circuit breaker per API: stop sending to an API that is down instead of retrying every request into it.

closed     requests go out; each failure (5xx, timeout, dropped or refused connection) is counted, any answer
           below 500 resets the count. `failures` of them within `within_seconds` open the circuit.
open       every request is refused at once with `CircuitOpen` (no network, no retries) for `open_seconds`.
half-open  after that, one request goes out as a probe while the others wait for its verdict: an answer
           closes the circuit, a failure opens it again (no retries).

One breaker serves every client of one API in a process (`CircuitRegistry`: a tap's or target's accounts
share it). Opening is written to `<state_dir>/circuits/<api>.json` and closing removes it, so a run that starts
while a previous one left the circuit open starts half-open: its first request is the probe, and an API still
down costs one request, not another round of retries. The clock is injectable for tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from ponte.core.errors import CircuitOpen
from ponte.core.private_files import private_folder, replace_file
from ponte.declaration.models import CircuitBreakerSpec

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def api_key(base_url: str) -> str:
    """The API a base URL names: scheme, host, port and path, without credentials, query or trailing slash."""
    parts = urlsplit(base_url.strip())
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


class CircuitFile:
    """Where an API's open circuit is remembered between runs: one small JSON file (0600) per API."""

    def __init__(self, state_dir: str | Path, api: str) -> None:
        readable = re.sub(r"[^A-Za-z0-9.-]+", "_", api.split("://", 1)[-1]).strip("_")[:60]
        digest = hashlib.sha256(api.encode()).hexdigest()[:10]
        self.path = Path(state_dir) / "circuits" / f"{readable}-{digest}.json"

    def load(self) -> dict[str, object] | None:
        """The remembered open circuit, or None (never opened, closed since, or unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("opened_at"), int | float) else None

    def save(self, api: str, opened_at: float, failures: int, reason: str) -> None:
        private_folder(self.path.parent, "circuit breaker state", "state_dir")
        data = {"api": api, "opened_at": opened_at, "failures": failures, "last_failure": reason}
        replace_file(self.path, json.dumps(data).encode())

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class CircuitBreaker:
    """The state machine of one API's circuit (thread-safe; see the module docstring)."""

    def __init__(
        self,
        api: str,
        spec: CircuitBreakerSpec,
        *,
        label: str = "",
        store: CircuitFile | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api, self.spec, self.label, self.store, self.clock = api, spec, label or api, store, clock
        self.state = CLOSED
        self.opened_at = 0.0
        self.failures: deque[float] = deque()  # times of the consecutive failures still within the window
        self.opened_after = 0  # failures counted when the circuit last opened
        self.last_failure = ""
        self._probing = False
        self._lock = threading.Condition()
        remembered = store.load() if store is not None else None
        if remembered is not None:  # a previous run left it open: this run's first request is a probe
            self.state = HALF_OPEN
            self.opened_at = float(remembered["opened_at"])  # type: ignore[arg-type]
            self.opened_after = int(remembered.get("failures") or 0)  # type: ignore[call-overload]
            self.last_failure = str(remembered.get("last_failure") or "")

    # -- what the client calls ----------------------------------------------------------------------------
    def before_send(self) -> None:
        """Let a request go out, or raise CircuitOpen; in half-open, one probe goes and the others wait for it."""
        with self._lock:
            while True:
                if self.state == OPEN and self.clock() >= self.opened_at + self.spec.open_seconds:
                    self.state = HALF_OPEN
                if self.state == CLOSED:
                    return
                if self.state == OPEN:
                    raise self.error()
                if not self._probing:  # half-open: this request is the probe
                    self._probing = True
                    return
                self._lock.wait()

    def succeeded(self) -> None:
        """The API answered (anything below 500): the failure count starts again; a probe closes the circuit."""
        with self._lock:
            self.failures.clear()
            if self.state == CLOSED:
                return
            self.state, self._probing = CLOSED, False
            self._lock.notify_all()
        if self.store is not None:
            self.store.clear()

    def failed(self, reason: str) -> bool:
        """Count a failed request; True when this one opened the circuit (the caller stops retrying at once)."""
        with self._lock:
            now = self.clock()
            self.last_failure = reason
            if self.state == HALF_OPEN and self._probing:
                self._probing = False
                opened = self._open(now, self.opened_after)
            elif self.state != CLOSED:  # already open (another thread's request tipped it)
                return True
            else:
                self.failures.append(now)
                while self.failures and now - self.failures[0] > self.spec.within_seconds:
                    self.failures.popleft()
                if len(self.failures) < self.spec.failures:
                    return False
                opened = self._open(now, len(self.failures))
        if self.store is not None:
            self.store.save(self.api, opened, self.opened_after, reason)
        return True

    def abandon(self) -> None:
        """The request ended without a verdict on the API (an error before it was sent): free the probe slot."""
        with self._lock:
            if self._probing:
                self._probing = False
                self._lock.notify_all()

    # -- messages -----------------------------------------------------------------------------------------
    def error(self) -> CircuitOpen:
        """CircuitOpen for the current open period: which API, how many failures, when to try again."""
        until = dt.datetime.fromtimestamp(self.opened_at + self.spec.open_seconds, dt.UTC).replace(microsecond=0)
        reason = self.last_failure if len(self.last_failure) <= 160 else self.last_failure[:157] + "..."
        last = f" (last: {reason})" if reason else ""
        message = (
            f"{self.label}: circuit open for {self.api} after {self.opened_after} consecutive failed request(s)"
            f"{last}; stopped sending. Nothing was dead-lettered for it and no STATE covers what was not done: run "
            f"again after {until.strftime('%Y-%m-%d %H:%M:%S')} UTC (circuit_breaker.open_seconds "
            f"{self.spec.open_seconds:g}); that run first sends one probe request."
        )
        return CircuitOpen(message, api=self.api, failures=self.opened_after, retry_at=until.isoformat())

    def _open(self, now: float, failures: int) -> float:
        self.state, self.opened_at, self.opened_after = OPEN, now, failures
        self.failures.clear()
        self._lock.notify_all()
        return now


class CircuitRegistry:
    """One breaker per API for the clients one process builds (a tap's or a target's accounts share it)."""

    def __init__(self) -> None:
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def breaker(self, base_url: str, spec: CircuitBreakerSpec, *, label: str, state_dir: str | Path) -> CircuitBreaker:
        """The API's breaker, made on first use with its remembered state from `state_dir`."""
        api = api_key(base_url)
        with self._lock:
            found = self._breakers.get(api)
            if found is None:
                found = CircuitBreaker(api, spec, label=label, store=CircuitFile(state_dir, api))
                self._breakers[api] = found
            return found
