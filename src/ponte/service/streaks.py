"""Alerts of the service: one message when a pipeline starts failing, none while it keeps failing, one when it
recovers — and one when a schedule missed its window while the service was down.

`ponte run` alerts on every failed run; the service starts it with its alerts off and applies this rule
instead, so a pipeline failing every 5 minutes at night sends one e-mail, not a hundred. The streak lives in
`alert_streaks` (row lock while deciding), so instances sharing the database share it. Bad statuses: `failed`,
`stopped-quota` and whatever PONTE_ALERT_ON adds (e.g. `partial`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ponte.http.redaction import Redactor
from ponte.notify import Alert, Alerter
from ponte.runs.alerting import run_alert
from ponte.runs.store import PipelineRun
from ponte.service.database import Tables, connect
from ponte.service.settings import ServeSettings

logger = logging.getLogger(__name__)

ALWAYS_BAD = frozenset({"failed", "stopped-quota"})
Notify = Callable[[Alert], None]


def run_from_row(row: dict[str, Any]) -> PipelineRun:
    fields = set(PipelineRun.__dataclass_fields__)
    values = {k: v for k, v in row.items() if k in fields}
    values["run_id"] = uuid.UUID(str(row["run_id"]))
    return PipelineRun(**values)


class Streaks:
    """Decides whether a finished run (or a missed window) sends an alert, and sends it."""

    def __init__(self, settings: ServeSettings, dsn: str, tables: Tables, notify: Notify | None = None) -> None:
        self.settings = settings
        self.dsn = dsn
        self.tables = tables
        self.bad = ALWAYS_BAD | settings.alert_on
        self.redactor = Redactor(settings.secrets())
        self.alerter = Alerter(settings.alerts, redact=self.redactor.redact, logger=logger)
        self.notify: Notify = notify or self.send

    def send(self, alert: Alert) -> None:
        """Deliver through ponte.notify (SMTP and/or webhook of PONTE_ALERT_*); never raises."""
        self.alerter.send(alert)

    async def _turn(self, subject: str, failing: bool, run_id: str | None, at: datetime) -> tuple[bool, dict | None]:
        """Record the subject's new state; True when it changed (the moment to alert), with the previous row."""
        async with await connect(self.dsn) as conn, conn.transaction():
            conn.row_factory = dict_row
            cur = await conn.execute(self.tables.q("SELECT * FROM {streaks} WHERE subject = %s FOR UPDATE"), (subject,))
            before = await cur.fetchone()
            was_failing = bool(before and before["failing"])
            if before is None:
                if not failing:
                    return False, None
                await conn.execute(
                    self.tables.q("INSERT INTO {streaks} (subject, failing, since, runs, first_run_id, last_run_id) "
                                  "VALUES (%s, true, %s, 1, %s, %s)"),
                    (subject, at, run_id, run_id),
                )  # fmt: skip
                return True, None
            if failing and was_failing:
                await conn.execute(
                    self.tables.q("UPDATE {streaks} SET runs = runs + 1, last_run_id = %s, updated_at = now() "
                                  "WHERE subject = %s"),
                    (run_id, subject),
                )  # fmt: skip
                return False, before
            await conn.execute(
                self.tables.q("UPDATE {streaks} SET failing = %s, since = %s, runs = 1, first_run_id = %s, "
                              "last_run_id = %s, updated_at = now() WHERE subject = %s"),
                (failing, at, run_id, run_id, subject),
            )  # fmt: skip
            return failing != was_failing, before

    async def run_finished(self, run_id: str) -> Alert | None:
        """Apply the rule to a finished run; returns the alert sent, if any."""
        async with await connect(self.dsn) as conn:
            conn.row_factory = dict_row
            cur = await conn.execute(self.tables.q("SELECT * FROM {runs} WHERE run_id = %s"), (run_id,))
            row = await cur.fetchone()
        if row is None or row["status"] == "running":
            return None
        run = run_from_row(row)
        failing = run.status in self.bad
        changed, before = await self._turn(
            f"pipeline {run.pipeline}", failing, run_id, run.finished_at or run.started_at
        )
        if not changed:
            return None
        where = f"{self.tables.schema}.pipeline_runs"
        if failing:
            alert = run_alert(
                run, where, f'POST /api/runs {{"pipeline": {run.pipeline.split()!r}}} or ponte run {run.pipeline}'
            )
            alert.plugin = run.pipeline
        else:
            count = int(before["runs"]) if before else 1
            since = before["since"].isoformat() if before else "?"
            alert = Alert(
                run.pipeline, "warning", f"recovered: run {run.status}",
                f"The pipeline '{run.pipeline}' {run.status} again after {count} bad run(s) since {since}.",
                {"trigger": run.trigger, "environment": run.environment, "streams": run.streams},
                run_id=str(run.run_id), actions=["Nothing to do; this closes the earlier alert."],
            )  # fmt: skip
        await asyncio.to_thread(self.notify, alert)
        return alert

    async def schedule_missed(self, name: str, missed: int, since: datetime, caught_up: bool, at: datetime) -> None:
        """A schedule's window(s) passed while no instance ran: alert once per streak of misses."""
        changed, _ = await self._turn(f"schedule {name}", True, None, at)
        if not changed:
            return
        what = "it runs once now (trigger catch-up)" if caught_up else "catch-up is off: it waits for its next time"
        alert = Alert(
            f"schedule {name}", "warning", f"missed {missed} firing(s)",
            f"The schedule '{name}' should have fired {missed} time(s) since {since.isoformat()} while no ponte serve "
            f"was running; {what}.",
            {"schedule": name, "missed": missed, "first_missed": since.isoformat()},
            actions=["Check why the service was down (systemctl status ponte / docker compose ps)."],
        )  # fmt: skip
        await asyncio.to_thread(self.notify, alert)

    async def schedule_on_time(self, name: str, at: datetime, conn: psycopg.AsyncConnection) -> None:
        """The schedule fired on time again: its missed-window streak ends (silently; one statement, as this
        happens at every firing)."""
        await conn.execute(
            self.tables.q("UPDATE {streaks} SET failing = false, since = %s, runs = 0, updated_at = now() "
                          "WHERE subject = %s AND failing"),
            (at, f"schedule {name}"),
        )  # fmt: skip
