"""`<schema>.webhook_events`: every accepted webhook, durably, before Bling gets its 2xx; the processor's work queue.

One row per `eventId` (a redelivery only counts `deliveries`). Status:
  pending     waiting for its coalescing window or its next try (`next_attempt_at`)
  processing  claimed by a processor until `lease_until` (a killed processor's claims expire and are taken again)
  running     its run started (`run_id`); done or retried when the run's record says how it ended
  done        its run succeeded          failed   every try failed (replayable)
  skipped     no rule, or its job is not declared yet (replayable)      ignored  a rule says to drop it
Claims use `FOR UPDATE SKIP LOCKED`, so several processors (or a restarted one) never take the same event twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

STATUSES = ("pending", "processing", "running", "done", "failed", "skipped", "ignored")
REPLAYABLE = ("failed", "skipped", "done", "ignored")

DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {events} (
    event_id text PRIMARY KEY,
    source text NOT NULL,
    event text NOT NULL,
    company_id text,
    account text,
    rule text,
    status text NOT NULL CHECK (status IN ('pending', 'processing', 'running', 'done', 'failed', 'skipped', 'ignored')),
    attempts integer NOT NULL DEFAULT 0,
    deliveries integer NOT NULL DEFAULT 1,
    occurred_at timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    leased_by text,
    batch_id uuid,
    run_id text,
    error text,
    finished_at timestamptz,
    payload jsonb NOT NULL
);
COMMENT ON TABLE {events} IS 'Webhook events accepted by ponte serve (one row per eventId) and what became of them.';
COMMENT ON COLUMN {events}.deliveries IS 'How many times the source delivered this eventId (redeliveries are not processed again).';
COMMENT ON COLUMN {events}.lease_until IS 'processing: until when the claim holds; running: when a run without an outcome counts as failed.';
COMMENT ON COLUMN {events}.batch_id IS 'The coalesced batch the event was last started in (PONTE_WEBHOOK_BATCH of its run).';
CREATE INDEX IF NOT EXISTS webhook_events_due ON {events} (next_attempt_at) WHERE status IN ('pending', 'processing');
CREATE INDEX IF NOT EXISTS webhook_events_running ON {events} (run_id) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS webhook_events_received ON {events} (received_at DESC);
CREATE INDEX IF NOT EXISTS webhook_events_status_received ON {events} (status, received_at DESC);
CREATE INDEX IF NOT EXISTS webhook_events_run ON {events} (run_id, received_at) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS {refusals} (
    id bigserial PRIMARY KEY,
    source text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    client text,
    reason text NOT NULL CHECK (reason IN ('missing', 'invalid')),
    body_bytes integer NOT NULL
);
COMMENT ON TABLE {refusals} IS 'Webhook deliveries refused for a missing or invalid signature (no body kept; the latest 10,000).';
"""

# A refused delivery: who sent it, why and how big it was — never the body. Every 100th row trims the table to
# the latest REFUSALS_KEPT, so a flood of forged requests cannot fill the disk.
REFUSALS_KEPT = 10_000
INSERT_REFUSAL = """
WITH added AS (
    INSERT INTO {refusals} (source, client, reason, body_bytes) VALUES (%(source)s, %(client)s, %(reason)s, %(bytes)s)
    RETURNING id
)
DELETE FROM {refusals} WHERE id <= (SELECT id FROM added WHERE id %% 100 = 0) - %(kept)s
"""

INSERT = """
INSERT INTO {events} (event_id, source, event, company_id, rule, status, occurred_at, next_attempt_at, error, payload)
VALUES (%(event_id)s, %(source)s, %(event)s, %(company_id)s, %(rule)s, %(status)s, %(occurred_at)s,
        now() + make_interval(secs => %(delay)s), %(error)s, %(payload)s)
ON CONFLICT (event_id) DO UPDATE SET deliveries = {events}.deliveries + 1
RETURNING (xmax = 0) AS inserted
"""

# Due groups (rule, company) are taken whole: a burst's later events ride along with its first one.
CLAIM = """
WITH due AS (
    SELECT DISTINCT rule, coalesce(company_id, '') AS company FROM {events}
    WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'processing' AND lease_until < now())
), picked AS (
    SELECT e.event_id, e.status AS was, e.batch_id AS old_batch FROM {events} e
    JOIN due ON e.rule IS NOT DISTINCT FROM due.rule AND coalesce(e.company_id, '') = due.company
    WHERE e.status = 'pending' OR (e.status = 'processing' AND e.lease_until < now())
    ORDER BY e.received_at
    LIMIT %(limit)s
    FOR UPDATE OF e SKIP LOCKED
)
UPDATE {events} t SET status = 'processing', attempts = t.attempts + 1, leased_by = %(me)s,
    lease_until = now() + make_interval(secs => %(lease)s)
FROM picked WHERE t.event_id = picked.event_id
RETURNING t.event_id, t.event, t.company_id, t.payload, t.attempts, picked.was, picked.old_batch
"""

# A try that failed: back to pending after a growing delay, or failed for good after the last try.
RETRY_OR_FAIL = """
UPDATE {events} SET
    status = CASE WHEN attempts >= %(max_attempts)s THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => least(%(backoff)s * power(2, greatest(attempts - 1, 0)), %(cap)s)),
    finished_at = CASE WHEN attempts >= %(max_attempts)s THEN now() END,
    error = %(error)s, lease_until = NULL, leased_by = NULL
WHERE event_id = ANY(%(ids)s) AND status = ANY(%(from)s)
RETURNING event_id, status, attempts
"""

COLUMNS = ("event_id", "event", "company_id", "account", "rule", "status", "attempts", "deliveries", "received_at",
           "next_attempt_at", "run_id", "error")  # fmt: skip


def render(query: str, schema: str) -> sql.Composed:
    """`query` with `{schema}`, `{events}` and `{refusals}` filled in as quoted identifiers."""
    return sql.SQL(query).format(
        schema=sql.Identifier(schema),
        events=sql.Identifier(schema, "webhook_events"),
        refusals=sql.Identifier(schema, "webhook_refusals"),
    )


@dataclass(frozen=True)
class StoredEvent:
    """A row as `ponte webhooks list` shows it."""

    event_id: str
    event: str
    company_id: str | None
    account: str | None
    rule: str | None
    status: str
    attempts: int
    deliveries: int
    received_at: datetime
    next_attempt_at: datetime
    run_id: str | None
    error: str | None


def ensure_table(conn: Any, schema: str) -> None:
    """Create the table once (an advisory lock keeps two starting processes from racing on CREATE)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ponte.webhook_events'))")
        conn.execute(render(DDL, schema))


def list_events(conn: Any, schema: str, status: str | None = None, limit: int = 50) -> list[StoredEvent]:
    """Newest first, optionally of one status."""
    where = sql.SQL("WHERE status = %(status)s") if status else sql.SQL("")
    query = sql.SQL("SELECT {cols} FROM {events} {where} ORDER BY received_at DESC LIMIT %(limit)s").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        events=sql.Identifier(schema, "webhook_events"),
        where=where,
    )
    rows = conn.execute(query, {"status": status, "limit": limit}).fetchall()
    return [StoredEvent(*row) for row in rows]


def replay(conn: Any, schema: str, event_ids: Sequence[str] = (), status: str | None = None) -> list[str]:
    """Put events back to `pending` for a fresh set of tries; events being processed are left alone."""
    query = render(
        """UPDATE {events} SET status = 'pending', attempts = 0, next_attempt_at = now(), error = NULL,
               lease_until = NULL, leased_by = NULL, batch_id = NULL, run_id = NULL, finished_at = NULL
           WHERE status = ANY(%(replayable)s) AND (event_id = ANY(%(ids)s) OR status = %(status)s)
           RETURNING event_id""",
        schema,
    )
    params = {"replayable": list(REPLAYABLE), "ids": list(event_ids), "status": status}
    return [row[0] for row in conn.execute(query, params).fetchall()]
