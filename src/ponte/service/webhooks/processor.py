"""Turn stored webhook events into runs: claim due groups, start one run per (rule, account), follow the runs.

Each tick: (1) claim due events with `FOR UPDATE SKIP LOCKED` and a lease — a group (rule, companyId) is due
when its oldest event's coalescing window has passed, and then all its pending events go together; (2) per
(rule, account) write a batch id to the events, start the run (`ctx.start_run`, trigger `webhook`, the events'
ids in `PONTE_WEBHOOK_IDS`) and record its run id; (3) read how the started runs ended and mark their events
done, or retry them with a growing delay, or fail them and alert. A processor killed at any point leaves
events `pending`, or `processing` with a lease that expires; the next processor takes them again, and with
`ctx.find_run` does not start a batch whose run had already started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from ponte.notify import Alert
from ponte.service.runs import RunStart
from ponte.service.webhooks.accounts import AccountResolver
from ponte.service.webhooks.context import WebhookContext
from ponte.service.webhooks.rules import Rule, Rules, declared_jobs, load_rules
from ponte.service.webhooks.store import CLAIM, RETRY_OR_FAIL

logger = logging.getLogger("ponte.service.webhooks")

SUCCEEDED = {"succeeded", "partial"}
FAILED = {"failed", "stopped-quota"}
CLAIM_LIMIT = 1000
# What ponte serve's run manager raises (by name: this package does not depend on it). A busy pipeline (the same
# pipeline already running, here or on another instance) or a stopping service is no failed try: wait and retry.
NOT_STARTED_NOW = {"PipelineBusy", "ServiceStopping"}
NO_SUCH_PIPELINE = {"UnknownPipeline"}


@dataclass
class Batch:
    """Events of one rule and one account, started as one run."""

    rule: Rule
    account: str | None
    company_id: str | None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.events]

    def record_ids(self) -> list[str]:
        return sorted({i for e in self.events for i in self.rule.ids_of(e["payload"])}, key=lambda v: (len(v), v))

    def ids_by_account(self) -> dict[str, list[str]]:
        """The record ids per account (companyId when the account is unknown): a job's batch spans accounts."""
        found: dict[str, list[str]] = {}
        for event in self.events:
            ids = found.setdefault(event.get("account") or event["company_id"] or "", [])
            ids += [i for i in self.rule.ids_of(event["payload"]) if i not in ids]
        return {account: ids for account, ids in found.items() if ids}


class Processor:
    """The background worker of the webhook intake (`await start()` / `await stop()` from the service)."""

    def __init__(self, ctx: WebhookContext, rules: Rules | None = None) -> None:
        self.ctx = ctx
        self.rules = rules or load_rules(ctx.rules_file)
        self.store = ctx.event_store()
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.accounts = AccountResolver(ctx.bling_settings, ctx.company_table)
        ctx.on_bling_change.append(
            lambda settings: setattr(self, "accounts", AccountResolver(settings, ctx.company_table))
        )
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self.store.pool()  # the table exists before the first tick; a bad DSN fails the start
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="ponte-webhooks-processor")

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the current tick (bounded), then close the pool. Unfinished claims expire and are taken again."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self._task.cancel()
            self._task = None
        await self.store.close()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception as exc:  # a database hiccup must not end the processor
                logger.error("webhooks: processing failed (%s: %s); trying again", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.ctx.poll_seconds)

    async def tick(self) -> int:
        """One round: follow started runs, then claim and start what is due. Returns how many events it claimed."""
        await self.follow_runs()
        claimed = await self._claim()
        if claimed:
            for batch in await self._batches(claimed):
                await self._start(batch)
        return len(claimed)

    # --- claiming --------------------------------------------------------------------------------------------
    async def _claim(self) -> list[dict[str, Any]]:
        pool = await self.store.pool()
        params = {"limit": CLAIM_LIMIT, "me": self.me, "lease": self.ctx.lease_seconds}
        async with pool.connection() as conn:
            cursor = await conn.execute(self.store.q(CLAIM), params)
            names = [c.name for c in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]

    async def _batches(self, claimed: list[dict[str, Any]]) -> list[Batch]:
        """Group by (rule, account); recover batches a killed processor had started; settle what needs no run."""
        groups: dict[tuple[str, str | None], Batch] = {}
        pool = await self.store.pool()
        async with pool.connection() as conn:
            recovered: dict[uuid.UUID, list[str]] = defaultdict(list)
            skipped: dict[str, list[str]] = defaultdict(list)
            ignored: dict[tuple[str | None, str | None], list[str]] = defaultdict(list)
            for event in claimed:
                if event["was"] == "processing" and event["old_batch"] is not None:
                    recovered[event["old_batch"]].append(event["event_id"])
                    continue
                account = await self.accounts.resolve(conn, event["company_id"])
                event["account"] = account
                rule = self.rules.match(event["event"], event["payload"], account, self.ctx.env)
                if rule is None:
                    skipped[f"no rule in {self.ctx.rules_file.name} matches event {event['event']}"].append(
                        event["event_id"]
                    )
                    continue
                if rule.ignore:
                    ignored[(rule.name, None)].append(event["event_id"])
                    continue
                if rule.echo is not None and await self._is_echo(conn, rule, event):
                    ignored[(rule.name, f"echo of our own posting ({rule.echo.table})")].append(event["event_id"])
                    continue
                self._group(groups, rule, account, event)
            for reason, ids in skipped.items():
                await self._settle(conn, ids, "skipped", reason)
            for (rule_name, why), ids in ignored.items():
                await self._settle(conn, ids, "ignored", why, rule_name)
        for batch_id, ids in recovered.items():
            await self._recover(batch_id, ids, claimed, groups)
        return list(groups.values())

    @staticmethod
    def _group(groups: dict[Any, Batch], rule: Rule, account: str | None, event: dict[str, Any]) -> None:
        """Per (rule, account) for pipelines; a job reads every account, so one batch per job rule: a burst in
        several accounts is one run (its ids per account in PONTE_WEBHOOK_IDS_BY_ACCOUNT)."""
        key = (rule.name, None) if rule.job else (rule.name, account or event["company_id"])
        batch = groups.setdefault(key, Batch(rule, account, event["company_id"]))
        if rule.job and (batch.account, batch.company_id) != (account, event["company_id"]):
            batch.account = batch.company_id = None  # several accounts
        batch.events.append(event)

    async def _is_echo(self, conn: Any, rule: Rule, event: dict[str, Any]) -> bool:
        """The newest matching row of the rule's `echo.table` holds the value this event reports (see Echo)."""
        from ponte.service.webhooks.rules import dig_path

        echo = rule.echo
        assert echo is not None
        values = {column: dig_path(event["payload"], path) for column, path in echo.match.items()}
        reported = dig_path(event["payload"], echo.value)
        if reported is None or any(v is None for v in values.values()):
            return False
        conditions = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in [*values, *echo.where]]
        query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY id DESC LIMIT 1").format(
            sql.Identifier(echo.column), sql.Identifier(self.ctx.schema, echo.table), sql.SQL(" AND ").join(conditions)
        )
        try:
            async with conn.transaction():
                row = await (await conn.execute(query, [*values.values(), *echo.where.values()])).fetchone()
        except Exception:  # no such table yet: nothing of ours was written
            return False
        try:
            return row is not None and row[0] is not None and float(row[0]) == float(reported)
        except (TypeError, ValueError):
            return False

    async def _recover(
        self, batch_id: uuid.UUID, ids: list[str], claimed: list[dict[str, Any]], groups: dict[Any, Batch]
    ) -> None:
        """Events whose processor died after writing their batch id: was that batch's run started?"""
        run_id = await self.ctx.find_run(str(batch_id)) if self.ctx.find_run else None
        if run_id:
            logger.info("webhooks: batch %s had started run %s before a restart; following it", batch_id, run_id)
            await self._mark_running(ids, run_id)
            return
        by_id = {e["event_id"]: e for e in claimed}
        pool = await self.store.pool()
        async with pool.connection() as conn:
            for event_id in ids:
                event = by_id[event_id]
                account = await self.accounts.resolve(conn, event["company_id"])
                event["account"] = account
                rule = self.rules.match(event["event"], event["payload"], account, self.ctx.env)
                if rule is None or rule.ignore:
                    await self._settle(conn, [event_id], "ignored" if rule else "skipped", None if rule else "no rule")
                    continue
                self._group(groups, rule, account, event)

    async def _settle(
        self, conn: Any, ids: Sequence[str], status: str, error: str | None, rule: str | None = None
    ) -> None:
        if not ids:
            return
        await conn.execute(
            self.store.q("""UPDATE {events} SET status = %(status)s, error = %(error)s, lease_until = NULL,
                            leased_by = NULL, finished_at = now(), rule = coalesce(%(rule)s, rule)
                            WHERE event_id = ANY(%(ids)s)"""),
            {"status": status, "error": error, "ids": list(ids), "rule": rule},
        )

    # --- starting --------------------------------------------------------------------------------------------
    def _run_start(self, batch: Batch, batch_id: uuid.UUID) -> RunStart | str:
        """The run for a batch, or why there is none (a job the project does not declare yet)."""
        env = {
            "PONTE_WEBHOOK_BATCH": str(batch_id),
            "PONTE_WEBHOOK_RULE": batch.rule.name,
            "PONTE_WEBHOOK_EVENTS": ",".join(batch.event_ids),
            "PONTE_WEBHOOK_IDS": ",".join(batch.record_ids()),
            "PONTE_WEBHOOK_COMPANY_ID": batch.company_id or "",
            "PONTE_WEBHOOK_ACCOUNT": batch.account or "",
            "PONTE_WEBHOOK_IDS_BY_ACCOUNT": json.dumps(batch.ids_by_account()),
        }
        if batch.rule.job:
            if batch.rule.job not in declared_jobs(self.ctx.project):
                return (f"job '{batch.rule.job}' is not declared in meltano.yml yet; the events are kept: "
                        f"`ponte webhooks replay --skipped` once it exists")  # fmt: skip
            return RunStart([batch.rule.job], "webhook", self.ctx.environment, extra_env=env, direct=batch.rule.direct)
        narrowed = _narrowed_accounts(self.ctx.bling_settings.accounts_json, batch.account)
        if batch.rule.per_account and narrowed:
            env["TAP_BLING_ACCOUNTS"] = narrowed
        return RunStart(list(batch.rule.pipeline), "webhook", self.ctx.environment, batch.rule.select, extra_env=env,
                        direct=batch.rule.direct)  # fmt: skip

    async def _start(self, batch: Batch) -> None:
        batch_id = uuid.uuid4()
        start = self._run_start(batch, batch_id)
        pool = await self.store.pool()
        if isinstance(start, str):
            logger.warning("webhooks: %d %s event(s) skipped: %s", len(batch.events), batch.rule.name, start)
            async with pool.connection() as conn:
                await self._settle(conn, batch.event_ids, "skipped", start)
            return
        async with pool.connection() as conn:  # the intent, before the run: a restart can ask ctx.find_run
            await conn.execute(
                self.store.q("""UPDATE {events} SET batch_id = %(batch)s, account = %(account)s, rule = %(rule)s
                                WHERE event_id = ANY(%(ids)s) AND leased_by = %(me)s"""),
                {"batch": batch_id, "account": batch.account, "rule": batch.rule.name, "ids": batch.event_ids,
                 "me": self.me},
            )  # fmt: skip
        try:
            run_id = await self.ctx.start_run(start)
        except Exception as exc:
            kind = type(exc).__name__
            if kind in NOT_STARTED_NOW:
                await self._later(batch.event_ids, f"not started yet: {exc}", batch.rule.busy_retry_seconds)
                return
            if kind in NO_SUCH_PIPELINE:
                logger.warning("webhooks: %d %s event(s) skipped: %s", len(batch.events), batch.rule.name, exc)
                async with pool.connection() as conn:
                    await self._settle(conn, batch.event_ids, "skipped", f"{exc} (fix {self.ctx.rules_file.name})")
                return
            await self._failed(batch.event_ids, ("processing",), f"could not start the run: {type(exc).__name__}: {exc}",
                               batch.rule.name, None)  # fmt: skip
            return
        logger.info("webhooks: started run %s for %d %s event(s) account=%s ids=%s", run_id, len(batch.events),
                    batch.rule.name, batch.account or batch.company_id, start.extra_env["PONTE_WEBHOOK_IDS"])  # fmt: skip
        await self._mark_running(batch.event_ids, run_id)

    async def _later(self, ids: Sequence[str], why: str, wait: float | None = None) -> None:
        """Back to pending without spending a try: the pipeline is busy, or this service is stopping. `wait`: the
        rule's own `busy_retry_seconds` (a stock sync wants its turn right after the running one, not in 30 s)."""
        wait = self.ctx.busy_retry_seconds if wait is None else wait
        pool = await self.store.pool()
        async with pool.connection() as conn:
            await conn.execute(
                self.store.q("""UPDATE {events} SET status = 'pending', attempts = greatest(attempts - 1, 0),
                                next_attempt_at = now() + make_interval(secs => %(wait)s), error = %(why)s,
                                lease_until = NULL, leased_by = NULL
                                WHERE event_id = ANY(%(ids)s) AND status = 'processing'"""),
                {"wait": wait, "why": why, "ids": list(ids)},
            )
        logger.info("webhooks: %d event(s) wait %.0f s: %s", len(ids), wait, why)

    async def _mark_running(self, ids: Sequence[str], run_id: str) -> None:
        pool = await self.store.pool()
        async with pool.connection() as conn:
            await conn.execute(
                self.store.q("""UPDATE {events} SET status = 'running', run_id = %(run)s, leased_by = NULL,
                                lease_until = now() + make_interval(secs => %(deadline)s)
                                WHERE event_id = ANY(%(ids)s) AND status = 'processing'"""),
                {"run": str(run_id), "ids": list(ids), "deadline": self.ctx.run_timeout_seconds},
            )

    # --- following runs --------------------------------------------------------------------------------------
    async def follow_runs(self) -> None:
        """Settle the events of runs that ended (their record in `<schema>.pipeline_runs`, or ctx.run_status)."""
        pool = await self.store.pool()
        async with pool.connection() as conn:
            rows = await (await conn.execute(self.store.q(
                "SELECT run_id, array_agg(event_id), min(rule), bool_and(lease_until < now()) FROM {events} "
                "WHERE status = 'running' GROUP BY run_id"
            ))).fetchall()  # fmt: skip
        for run_id, ids, rule, overdue in rows:
            status = await self._run_status(run_id)
            if status is None and overdue:
                why = f"run {run_id} reported no outcome within {self.ctx.run_timeout_seconds:.0f} s"
                await self._failed(ids, ("running",), why, rule, run_id)
                continue
            if status in SUCCEEDED:
                async with pool.connection() as conn:
                    await conn.execute(
                        self.store.q("""UPDATE {events} SET status = 'done', finished_at = now(), error = NULL
                                        WHERE event_id = ANY(%(ids)s) AND status = 'running'"""),
                        {"ids": ids},
                    )
            elif status in FAILED:
                await self._failed(ids, ("running",), f"run {run_id} ended {status}", rule, run_id)

    async def _run_status(self, run_id: str) -> str | None:
        if self.ctx.run_status is not None:
            return await self.ctx.run_status(run_id)
        try:
            key = uuid.UUID(str(run_id))
        except ValueError:
            return None
        pool = await self.store.pool()
        query = sql.SQL("SELECT status FROM {} WHERE run_id = %s").format(
            sql.Identifier(self.ctx.schema, "pipeline_runs")
        )
        async with pool.connection() as conn:
            try:
                async with conn.transaction():
                    row = await (await conn.execute(query, (key,))).fetchone()
            except Exception:  # no run record table yet
                return None
        return row[0] if row else None

    async def _failed(self, ids: Sequence[str], from_status: Sequence[str], error: str, rule: str | None,
                      run_id: str | None) -> None:  # fmt: skip
        """Retry later, or — after the last try — fail the events and tell a person."""
        retry = self.rules.retry
        pool = await self.store.pool()
        async with pool.connection() as conn:
            rows = await (await conn.execute(self.store.q(RETRY_OR_FAIL), {
                "max_attempts": retry.max_attempts, "backoff": retry.backoff_seconds, "cap": retry.max_backoff_seconds,
                "error": error, "ids": list(ids), "from": list(from_status),
            })).fetchall()  # fmt: skip
        failed = [r[0] for r in rows if r[1] == "failed"]
        retried = len(rows) - len(failed)
        if retried:
            logger.warning("webhooks: %s — %d event(s) of rule %s will be tried again", error, retried, rule)
        if failed:
            logger.error("webhooks: %s — %d event(s) of rule %s failed for good after %d tries (replay: "
                         "ponte webhooks replay --failed)", error, len(failed), rule, retry.max_attempts)  # fmt: skip
            self._alert(failed, error, rule, run_id)

    def _alert(self, failed: list[str], error: str, rule: str | None, run_id: str | None) -> None:
        if self.ctx.notify is None:
            return
        alert = Alert(
            plugin=f"webhooks:{rule or 'bling'}",
            severity="error",
            title=f"{len(failed)} Bling webhook event(s) failed every try",
            summary=error,
            details={"events": failed[:20], "more": max(len(failed) - 20, 0), "rule": rule},
            run_id=run_id,
            actions=["`ponte webhooks list --status failed` shows them",
                     "`ponte webhooks replay --failed` tries them again once the cause is fixed"],
        )  # fmt: skip
        try:
            self.ctx.notify(alert)
        except Exception as exc:  # an alert problem never stops the processor
            logger.error("webhooks: could not send the alert (%s)", type(exc).__name__)


def _narrowed_accounts(entries: Sequence[Mapping[str, Any]], account: str | None) -> str | None:
    """TAP_BLING_ACCOUNTS with only `account` (None when it is not configured here: the run reads all)."""
    import json

    chosen = [dict(e) for e in entries if account and e.get("name") == account]
    return json.dumps(chosen) if chosen else None
