"""Delivery of the Bling sandbox's own webhooks: queued at the stock change, sent by one background thread.

`Emitter.stock_moved` turns a change into events (`stock_events.py`) at once and queues them; the thread sends
them to the `webhook_url` switch's receiver through `WebhookSender` (the envelope, `X-Bling-Signature-256`
keyed with the app's client secret, Bling's retries on anything but a 2xx within 5 s). The switches in
`STOCK_WEBHOOK_SWITCHES` hold events back (`webhook_delay_ms`), deliver some twice (`webhook_duplicate_rate`),
shuffle them within windows (`webhook_reorder_window`, waiting at most `webhook_reorder_hold_ms` for a window
to fill) or stop them (`webhooks`, or an empty URL). A failed delivery is retried on its own thread, so it
does not hold back the events behind it. Every attempt is kept for `GET /_sandbox/bling/webhooks`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from ponte.sandbox.bling import stock_events
from ponte.sandbox.bling.account import Account
from ponte.sandbox.bling.stock import Movement
from ponte.sandbox.bling.webhooks import Delivery, WebhookSender
from ponte.sandbox.switches import Switches

LOG_MAX = 10_000


class _Closed(Exception):
    """The sandbox stopped while a retry was waiting."""


class _RecordingSender(WebhookSender):
    """A `WebhookSender` that reports every attempt (first ones and retries) to the emitter."""

    emitter: Emitter

    def post(self, event: dict[str, Any], attempt: int = 1, body: bytes | None = None,
             signature: str | None = None) -> Delivery:  # fmt: skip
        delivery = super().post(event, attempt, body, signature)
        self.emitter.record(event, delivery)
        return delivery


class Emitter:
    """The sandbox's webhook queue and its delivery thread (started on the first event)."""

    def __init__(self, switches: Switches, client_secret: str, company_ids: list[str], seed: int) -> None:
        self.switches = switches
        self.sender = _RecordingSender("http://127.0.0.1/", client_secret, company_ids, seed=seed, sleep=self._sleep)
        self.sender.emitter = self
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, dict[str, Any]]] = deque()  # (due, on time.monotonic(); envelope)
        self._busy = 0  # events taken from the queue whose first delivery is not finished, plus retries running
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_MAX)
        self._counts: Counter[str] = Counter()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    # --- producing --------------------------------------------------------------------------------------------
    def stock_moved(self, account: Account, movements: Iterable[Movement]) -> list[str]:
        """Queue the events of a stock change (call with the account's lock held); their eventIds."""
        sw = self.switches
        moment = dt.datetime.now(dt.UTC)
        made = stock_events.events(
            account.stock,
            account.company.id,
            movements,
            sw["webhook_stock_action"],
            sw["webhook_virtual_stock"],
            moment,
        )
        with self._cond:
            if not (sw["webhooks"] and sw["webhook_url"]):
                self._counts["suppressed"] += len(made)
                return []
            due = time.monotonic() + sw["webhook_delay_ms"] / 1000
            self._queue.extend((due, event) for event in made)
            self._counts["queued"] += len(made)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="bling-webhooks", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return [event["eventId"] for event in made]

    # --- reading ----------------------------------------------------------------------------------------------
    def record(self, event: dict[str, Any], delivery: Delivery) -> None:
        """Keep one attempt for the admin log."""
        entry = {
            "eventId": event["eventId"],
            "event": event["event"],
            "companyId": event["companyId"],
            "attempt": delivery.attempt,
            "status": delivery.status,
            "ok": delivery.ok,
            "ms": round(delivery.seconds * 1000, 1),
            "error": delivery.error,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        }
        with self._cond:
            self._log.append(entry)
            self._counts["delivered" if delivery.ok else "failed_attempts"] += 1

    def report(self) -> dict[str, Any]:
        """Counters, what is still pending, and every attempt (oldest first)."""
        with self._cond:
            return {
                "url": self.switches["webhook_url"],
                "enabled": bool(self.switches["webhooks"] and self.switches["webhook_url"]),
                "queued": self._counts["queued"],
                "suppressed": self._counts["suppressed"],
                "delivered": self._counts["delivered"],
                "failed_attempts": self._counts["failed_attempts"],
                "pending": len(self._queue) + self._busy,
                "deliveries": list(self._log),
            }

    def reset(self) -> dict[str, Any]:
        """Forget the attempts and counters (pending events stay queued)."""
        with self._cond:
            self._log.clear()
            self._counts.clear()
        return {"status": "ok"}

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or being delivered (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """Stop the thread; retries waiting give up."""
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- the delivery thread ----------------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> None:
        if self._closed.wait(seconds):
            raise _Closed

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """The next events due: one, or a window of them (full, or the oldest waited its hold time)."""
        with self._cond:
            while not self._closed.is_set():
                now = time.monotonic()
                if not self._queue:
                    self._cond.wait()
                    continue
                due = self._queue[0][0]
                if due > now:
                    self._cond.wait(due - now)
                    continue
                window = self.switches["webhook_reorder_window"]
                ready = sum(1 for when, _ in self._queue if when <= now)
                hold_until = due + self.switches["webhook_reorder_hold_ms"] / 1000
                if window <= 1 or ready >= window or now >= hold_until:
                    count = 1 if window <= 1 else min(ready, window)
                    self._busy += count
                    return [self._queue.popleft()[1] for _ in range(count)]
                self._cond.wait(hold_until - now)
            return None

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            sender = self.sender
            sender.url = self.switches["webhook_url"]
            sender.switches = {name: self.switches[f"webhook_{name}"] for name in sender.switches}
            for event in sender.deliveries(batch):  # duplicates and shuffling: the sender's own rules
                first = sender.post(event)
                if not first.ok:
                    with self._cond:
                        self._busy += 1
                    threading.Thread(target=self._retry, args=(event, first), daemon=True).start()
            with self._cond:
                self._busy -= len(batch)
                self._cond.notify_all()

    def _retry(self, event: dict[str, Any], first: Delivery) -> None:
        try:
            self.sender.retry(event, [first])
        except _Closed:
            pass
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()
