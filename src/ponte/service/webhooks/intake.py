"""`POST /webhooks/bling`: check, store, answer — nothing slow before the 2xx Bling wants within 5 s.

Order of checks: a declared length over the limit → 413 before reading; the body read up to the limit (413
past it); the signature (401, logged and kept in `webhook_refusals` with the client address and size, never
the body); Content-Type JSON (415); a JSON envelope with `eventId` and `event` (400). Then one INSERT keyed by
`eventId` (a redelivery answers 200 `duplicate` and is not processed again; a database that cannot take it
answers 503, so Bling delivers it again) and the answer. Runs start later, in the processor.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout
from starlette.requests import Request
from starlette.responses import JSONResponse

from ponte.service.webhooks.context import WebhookContext
from ponte.service.webhooks.event_store import EventStore
from ponte.service.webhooks.rules import Rules
from ponte.service.webhooks.signature import HEADER, verify
from ponte.service.webhooks.store import INSERT, INSERT_REFUSAL, REFUSALS_KEPT

logger = logging.getLogger("ponte.service.webhooks")


class TooLarge(Exception):
    pass


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class BlingIntake:
    """The endpoint, bound to one context, its rules and its event store."""

    def __init__(self, ctx: WebhookContext, rules: Rules, store: EventStore) -> None:
        self.ctx, self.rules, self.store = ctx, rules, store

    async def handle(self, request: Request) -> JSONResponse:
        client = request.client.host if request.client else "?"
        try:
            body = await _read(request, self.ctx.max_body_bytes)
        except TooLarge:
            logger.warning(
                "webhook refused: body over %d bytes source=bling client=%s", self.ctx.max_body_bytes, client
            )
            return JSONResponse({"error": f"body larger than {self.ctx.max_body_bytes} bytes"}, status_code=413)
        signature = request.headers.get(HEADER)
        if not verify(body, signature, self.ctx.bling_settings.client_secrets):
            why = "missing" if not signature else "invalid"
            logger.warning("webhook refused: %s signature source=bling client=%s bytes=%d", why, client, len(body))
            await self._refused(client, why, len(body))
            return JSONResponse({"error": f"{why} {HEADER}"}, status_code=401)
        if not _is_json(request.headers.get("content-type")):
            return JSONResponse({"error": "Content-Type must be application/json"}, status_code=415)
        try:
            envelope = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(envelope, dict) or not isinstance(envelope.get("eventId"), str) or not envelope["eventId"]:
            return JSONResponse({"error": "the envelope has no eventId"}, status_code=400)
        if not isinstance(envelope.get("event"), str) or not envelope["event"]:
            return JSONResponse({"error": "the envelope has no event"}, status_code=400)
        try:
            inserted = await self._store(envelope)
        except (psycopg.Error, PoolTimeout) as exc:  # not a 2xx: Bling keeps the event and delivers it again
            logger.error("webhook not stored: database unavailable (%s) event_id=%s", type(exc).__name__,
                         envelope["eventId"])  # fmt: skip
            return JSONResponse({"error": "cannot store the event now; deliver it again later"}, status_code=503)
        return JSONResponse({"status": "accepted" if inserted else "duplicate", "eventId": envelope["eventId"]})

    async def _refused(self, client: str, reason: str, size: int) -> None:
        """Keep the refusal for the panel's Webhooks page (address, reason, size); a database problem only logs."""
        params = {"source": "bling", "client": client, "reason": reason, "bytes": size, "kept": REFUSALS_KEPT}
        try:
            pool = await self.store.pool()
            async with pool.connection() as conn:
                await conn.execute(self.store.q(INSERT_REFUSAL), params)
        except (psycopg.Error, PoolTimeout) as exc:
            logger.error("webhook refusal not recorded: database unavailable (%s)", type(exc).__name__)

    async def _store(self, envelope: dict[str, Any]) -> bool:
        rule = self.rules.match(envelope["event"])
        status, error, delay = "pending", None, 0.0
        if rule is None:
            status, error = "skipped", f"no rule in {self.ctx.rules_file.name} matches event {envelope['event']}"
        elif rule.ignore:
            status = "ignored"
        else:
            delay = rule.coalesce_seconds
        company = envelope.get("companyId")
        params = {
            "event_id": envelope["eventId"],
            "source": "bling",
            "event": envelope["event"],
            "company_id": str(company) if company is not None else None,
            "rule": rule.name if rule else None,
            "status": status,
            "occurred_at": _moment(envelope.get("date")),
            "delay": delay,
            "error": error,
            "payload": Jsonb(envelope),
        }
        pool = await self.store.pool()
        async with pool.connection() as conn:
            row = await (await conn.execute(self.store.q(INSERT), params)).fetchone()
        inserted = bool(row and row[0])
        logger.debug("webhook %s event=%s event_id=%s company=%s", "accepted" if inserted else "duplicate",
                    envelope["event"], envelope["eventId"], params["company_id"])  # fmt: skip
        return inserted
