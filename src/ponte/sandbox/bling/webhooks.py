"""Bling's webhook deliveries, as docs/api-facts-bling-totvs.md §4 describes them, sent to a URL you choose.

Each event is the real envelope — `{"eventId", "date", "version": "v1", "event": "<resource>.<action>",
"companyId", "data"}` with the documented `data` of its resource — POSTed as `application/json` with
`X-Bling-Signature-256: sha256=<HMAC-SHA256 of the raw body keyed with the app's client_secret>` [C]. A delivery
succeeds on any 2xx within 5 s [C]; otherwise it is tried again at growing intervals for up to 3 days [C], then
given up (Bling disables that resource's webhook). The exact intervals, duplicate deliveries and the order of
deliveries are not documented: those are switches marked guess (`WEBHOOK_SWITCHES`).

    sender = WebhookSender("http://127.0.0.1:8780/webhooks/bling", "sandbox-client-secret", ["d447..."])
    result = sender.send_burst(sender.events(200), rate=50)   # or: ponte sandbox bling-webhooks --url ...

Only the standard library and `requests`: it runs beside any receiver, Ponte's or not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from ponte.sandbox.switches import Switch, non_negative, probability

SIGNATURE_HEADER = "X-Bling-Signature-256"
DELIVERY_TIMEOUT_SECONDS = 5.0  # [C] a 2xx within 5 s is a success
RETRY_HORIZON_SECONDS = 3 * 24 * 3600.0  # [C] retried for up to 3 days
EVENTS = (
    "product.created", "product.updated", "product.deleted", "stock.created", "stock.updated", "stock.deleted",
    "virtual_stock.updated", "order.created", "order.updated", "order.deleted", "product_supplier.updated",
    "invoice.created", "consumer_invoice.updated",
)  # fmt: skip

WEBHOOK_SWITCHES: tuple[Switch, ...] = (
    Switch("duplicate_rate", 0.0, "Share of events delivered twice (same eventId and body); Bling documents retries, not whether a success can be redelivered.", guess=True, check=probability),
    Switch("reorder_window", 0, "Deliver events out of order: shuffle them within windows of this many events (0 = in order); Bling promises no order.", guess=True, check=non_negative),
    Switch("retry_first_seconds", 60.0, "First retry interval after a failed delivery; it doubles each time (Bling: 'growing intervals', values undocumented).", guess=True, check=non_negative),
    Switch("retry_horizon_seconds", RETRY_HORIZON_SECONDS, "How long failed deliveries are retried before giving up (Bling: 3 days, then the resource's webhook is disabled).", check=non_negative),
    Switch("time_scale", 1.0, "Divides every retry interval (100 = a 60 s wait lasts 0.6 s) so tests see Bling's schedule quickly.", check=lambda v: None if v > 0 else "must be positive"),
)  # fmt: skip


def sign(body: bytes, client_secret: str) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the raw body, keyed with the app's client secret [C]."""
    return "sha256=" + hmac.new(client_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def event_id(moment: float | None = None) -> str:
    """A UUIDv7-shaped id (48-bit milliseconds, version 7, random rest), like the eventIds Bling sends [C3]."""
    millis = int((time.time() if moment is None else moment) * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def envelope(event: str, company_id: str, data: dict[str, Any], *, eid: str | None = None,
             date: dt.datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """The documented envelope [C]: date in UTC with a Z, version v1."""
    moment = (date or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    return {"eventId": eid or event_id(), "date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "version": "v1",
            "event": event, "companyId": company_id, "data": data}  # fmt: skip


def sample_data(event: str, rng: random.Random, record_id: int | None = None) -> dict[str, Any]:
    """`data` of an event as §4 lists it per resource (deleted: only the id / the stock without the movement)."""
    resource, _, action = event.partition(".")
    rid = record_id if record_id is not None else 16_000_000_000 + rng.randrange(1_000_000_000)
    if resource == "product":
        if action == "deleted":
            return {"id": rid}
        return {"id": rid, "nome": f"Produto {rid % 10_000}", "codigo": f"SKU-{rid % 100_000:05d}", "tipo": "P",
                "situacao": "A", "preco": round(rng.uniform(5, 500), 2), "unidade": "UN", "formato": "S",
                "idProdutoPai": 0, "categoria": {"id": 0}, "descricaoCurta": "", "descricaoComplementar": ""}  # fmt: skip
    if resource == "stock":
        physical = rng.randrange(0, 200)
        data: dict[str, Any] = {"produto": {"id": rid}, "deposito": {"id": 14_889_169_062, "saldoFisico": physical,
                                "saldoVirtual": physical}, "saldoFisicoTotal": physical, "saldoVirtualTotal": physical}  # fmt: skip
        if action != "deleted":
            data.update(operacao=rng.choice("ESB"), quantidade=rng.randrange(1, 10))
        return data
    if resource == "virtual_stock":
        physical = rng.randrange(0, 200)
        return {"produto": {"id": rid}, "saldoFisicoTotal": physical, "saldoVirtualTotal": physical,
                "vinculoComplexo": False, "depositos": [{"id": 14_889_169_062, "saldoFisico": physical,
                                                         "saldoVirtual": physical}]}  # fmt: skip
    if resource == "order" and action != "deleted":
        return {"id": rid, "data": dt.date.today().isoformat(), "numero": rid % 100_000, "numeroLoja": "",
                "total": round(rng.uniform(10, 900), 2), "contato": {"id": rid + 1}, "vendedor": {"id": 0},
                "loja": {"id": 0}, "situacao": {"id": 6, "valor": 0}}  # fmt: skip
    return {"id": rid}


@dataclass
class Delivery:
    """One POST of one event: its outcome and how long the receiver took to answer."""

    event_id: str
    status: int | None
    seconds: float
    attempt: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.seconds <= DELIVERY_TIMEOUT_SECONDS


@dataclass
class BurstResult:
    deliveries: list[Delivery] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


class WebhookSender:
    """Sends signed events to `url` like Bling does; switch values as `WEBHOOK_SWITCHES` (guesses labelled)."""

    def __init__(self, url: str, client_secret: str, company_ids: Sequence[str], seed: int = 42,
                 sleep: Callable[[float], None] = time.sleep, **switches: Any) -> None:  # fmt: skip
        known = {s.name: s for s in WEBHOOK_SWITCHES}
        unknown = set(switches) - set(known)
        if unknown:
            raise ValueError(f"unknown webhook switch(es): {', '.join(sorted(unknown))}")
        self.switches = {name: s.coerce(switches.get(name, s.default)) for name, s in known.items()}
        if not company_ids:
            raise ValueError("at least one companyId is needed")
        self.url, self.client_secret, self.company_ids = url, client_secret, list(company_ids)
        self.rng = random.Random(seed)
        self.sleep = sleep
        self._local = threading.local()

    # --- events ----------------------------------------------------------------------------------------------
    def events(self, count: int, kinds: Sequence[str] = ("product.updated",), companies: Sequence[str] | None = None,
               ids: Sequence[int] | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """`count` envelopes cycling through `kinds` and the companies, with record ids from `ids` or random."""
        chosen = list(companies or self.company_ids)
        out = []
        for n in range(count):
            kind = kinds[n % len(kinds)]
            record = ids[n % len(ids)] if ids else None
            out.append(envelope(kind, chosen[n % len(chosen)], sample_data(kind, self.rng, record)))
        return out

    def deliveries(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events in the order they will be delivered: duplicates added, windows shuffled (the guesses)."""
        ordered: list[dict[str, Any]] = []
        for event in events:
            ordered.append(event)
            if self.rng.random() < self.switches["duplicate_rate"]:
                ordered.append(event)
        window = self.switches["reorder_window"]
        if window > 1:
            for start in range(0, len(ordered), window):
                chunk = ordered[start : start + window]
                self.rng.shuffle(chunk)
                ordered[start : start + window] = chunk
        return ordered

    # --- sending ---------------------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def post(self, event: dict[str, Any], attempt: int = 1, body: bytes | None = None,
             signature: str | None = None) -> Delivery:  # fmt: skip
        """One delivery attempt. `body`/`signature` override what is sent (tests of forged signatures)."""
        raw = body if body is not None else json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Bling-Webhooks (ponte sandbox)",
                   SIGNATURE_HEADER: signature if signature is not None else sign(raw, self.client_secret)}  # fmt: skip
        started = time.perf_counter()
        try:
            response = self._session().post(self.url, data=raw, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS)
            return Delivery(event.get("eventId", "?"), response.status_code, time.perf_counter() - started, attempt)
        except requests.RequestException as exc:
            return Delivery(event.get("eventId", "?"), None, time.perf_counter() - started, attempt, type(exc).__name__)

    def deliver(self, event: dict[str, Any]) -> list[Delivery]:
        """Deliver until a 2xx within 5 s, waiting growing intervals (scaled by `time_scale`), for up to the horizon."""
        return self.retry(event, [self.post(event)])

    def retry(self, event: dict[str, Any], attempts: list[Delivery]) -> list[Delivery]:
        """Go on after failed `attempts` (the first one included) on Bling's schedule; all attempts, in order."""
        attempts = list(attempts)
        waited = sum(self.switches["retry_first_seconds"] * 2**k for k in range(len(attempts) - 1))
        interval = self.switches["retry_first_seconds"] * 2 ** (len(attempts) - 1)
        while not attempts[-1].ok and waited + interval <= self.switches["retry_horizon_seconds"]:
            self.sleep(interval / self.switches["time_scale"])
            waited += interval
            interval *= 2
            attempts.append(self.post(event, attempt=len(attempts) + 1))
        return attempts

    def send_burst(self, events: Sequence[dict[str, Any]], rate: float = 0.0, workers: int = 16) -> BurstResult:
        """Deliver `events` (after `deliveries`: duplicates, reordering) at `rate` per second (0 = at once), each
        with its own retries, on a pool of `workers` threads. The pace is kept from the start time, not per send."""
        planned = self.deliveries(events)
        result = BurstResult()
        lock = threading.Lock()

        def one(event: dict[str, Any]) -> None:
            attempts = self.deliver(event)
            with lock:
                result.deliveries.extend(attempts)
                if not attempts[-1].ok:
                    result.given_up.append(event["eventId"])

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for n, event in enumerate(planned):
                if rate > 0:
                    delay = started + n / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                pool.submit(one, event)
        result.wall_seconds = time.perf_counter() - started
        return result
