"""The scheduler: fires the project's schedules through the run manager, shared by every instance on a database.

Each schedule row keeps its last nominal fire time. An instance fires a time only after claiming it (an UPDATE
that succeeds for one instance only), and the run manager's advisory lock keeps a second run of the same job
from starting while the first one still runs (that firing is skipped and logged). Missed windows (every instance
was down): the latest missed time is claimed and run once with trigger `catch-up` (or skipped when catch-up is
off), an alert says so; a time at most PONTE_SERVE_MISFIRE_GRACE_SECONDS late is simply on time. Pausing keeps
the schedule from firing; resuming does not catch up what the pause skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ponte.core.errors import PonteError
from ponte.core.meltano_project import MeltanoProject
from ponte.service.database import Tables, connect
from ponte.service.runs import Clock, PipelineBusy, RunManager, ServiceStopping
from ponte.service.schedules import Schedule, load_schedules
from ponte.service.settings import ServeSettings
from ponte.service.streaks import Streaks

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.25


@dataclass
class Firing:
    """One decision of the scheduler (kept for /healthz and the tests)."""

    schedule: str
    nominal: datetime
    trigger: str
    run_id: str | None
    skipped: str | None = None


class Scheduler:
    def __init__(
        self, settings: ServeSettings, dsn: str, tables: Tables, runs: RunManager, streaks: Streaks, clock: Clock
    ) -> None:
        self.settings = settings
        self.dsn = dsn
        self.tables = tables
        self.runs = runs
        self.streaks = streaks
        self.clock = clock
        self.schedules: dict[str, Schedule] = {}
        self.firings: deque[Firing] = deque(maxlen=1000)  # the latest decisions, for the curious and the tests
        self.running = False
        self.error: str | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._conn: psycopg.AsyncConnection | None = None

    async def _db(self) -> psycopg.AsyncConnection:
        """The scheduler's own connection (reopened after a failure): one per instance, not one per firing."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await connect(self.dsn)
        return self._conn

    async def start(self) -> None:
        """Read the schedules (a bad one fails the start) and register them; then fire them in the background."""
        project = MeltanoProject.load(self.settings.project)
        self.schedules = {s.name: s for s in load_schedules(project, self.settings)}
        now = self.clock()
        conn = await self._db()
        for name in self.schedules:
            await conn.execute(
                self.tables.q("INSERT INTO {schedules} (name, first_seen_at) VALUES (%s, %s) ON CONFLICT DO NOTHING"),
                (name, now),
            )
        self.running = True
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        self._stop.set()
        if self._task:
            await self._task
        for task in list(self._tasks):  # jittered firings not started yet
            task.cancel()
        self.running = False
        if self._conn is not None:
            await self._conn.close()

    async def rows(self) -> dict[str, dict[str, Any]]:
        conn = await self._db()
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self.tables.q("SELECT * FROM {schedules}"))
            return {row["name"]: row for row in await cur.fetchall()}

    def next_fire(self, schedule: Schedule, row: dict[str, Any] | None) -> datetime | None:
        if row is None:
            return None
        return schedule.following(row["last_fire_at"] or row["first_seen_at"])

    async def _loop(self) -> None:
        while not self._stop.is_set():
            wait = TICK_SECONDS
            try:
                due = await self._tick()
                self.error = None
                if due is not None:  # wake at the next firing rather than up to a tick after it
                    wait = min(TICK_SECONDS, max(0.0, (due - self.clock()).total_seconds()))
            except Exception as exc:  # the database went away: say so in /healthz, keep trying
                if self.error is None:
                    logger.warning("scheduler: %s: %s; retrying", type(exc).__name__, exc)
                self.error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)

    async def _tick(self) -> datetime | None:
        """Fire what is due; returns the earliest time something is due next (as read now)."""
        rows = await self.rows()
        now = self.clock()
        soonest: datetime | None = None
        for schedule in self.schedules.values():
            row = rows.get(schedule.name)
            if row is None or row["paused"] or schedule.trigger is None:
                continue
            due = self.next_fire(schedule, row)
            if due is not None and due > now:
                soonest = due if soonest is None or due < soonest else soonest
            if due is None or due > now:
                continue
            latest, count = schedule.latest_until(due, now)
            late = (now - due).total_seconds()
            on_time = count == 1 and late <= self.settings.misfire_grace_seconds
            trigger = "schedule" if on_time else "catch-up"
            if not await self._claim(schedule.name, row["last_fire_at"], latest):
                continue  # another instance took it
            if on_time:
                await self.streaks.schedule_on_time(schedule.name, now, await self._db())
            else:
                logger.warning("schedule %s missed %d firing(s) since %s", schedule.name, count, due.isoformat())
                await self.streaks.schedule_missed(schedule.name, count, due, schedule.catch_up, now)
                if not schedule.catch_up:
                    self.firings.append(Firing(schedule.name, latest, trigger, None, "catch-up is off"))
                    continue
            delay = random.uniform(0, schedule.jitter_seconds) if schedule.jitter_seconds else 0.0
            task = asyncio.create_task(self._fire(schedule, latest, trigger, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            following = schedule.following(latest)
            if following is not None and (soonest is None or following < soonest):
                soonest = following
        return soonest

    async def _claim(self, name: str, last: datetime | None, fire: datetime) -> bool:
        """Take the firing at `fire` for this instance; False when another instance was first."""
        conn = await self._db()
        cur = await conn.execute(
            self.tables.q("UPDATE {schedules} SET last_fire_at = %s, updated_at = now() WHERE name = %s "
                          "AND NOT paused AND (last_fire_at IS NULL OR last_fire_at < %s) RETURNING name"),
            (fire, name, fire),
        )  # fmt: skip
        return await cur.fetchone() is not None

    async def _fire(self, schedule: Schedule, nominal: datetime, trigger: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)  # the jitter itself, not a wait for something to happen
        try:
            run_id = await self.runs.start_run(schedule.run_start(trigger))
        except (PipelineBusy, ServiceStopping) as exc:
            logger.info("schedule %s at %s skipped: %s", schedule.name, nominal.isoformat(), exc)
            self.firings.append(Firing(schedule.name, nominal, trigger, None, str(exc)))
            return
        except PonteError as exc:
            logger.error("schedule %s at %s could not start: %s", schedule.name, nominal.isoformat(), exc)
            self.firings.append(Firing(schedule.name, nominal, trigger, None, str(exc)))
            return
        self.firings.append(Firing(schedule.name, nominal, trigger, run_id))
        await (await self._db()).execute(
            self.tables.q("UPDATE {schedules} SET last_run_id = %s, last_trigger = %s WHERE name = %s"),
            (run_id, trigger, schedule.name),
        )

    async def set_paused(self, name: str, paused: bool) -> dict[str, Any] | None:
        """Pause or resume; resuming moves the last firing to now, so the paused time is not caught up."""
        if name not in self.schedules:
            return None
        await (await self._db()).execute(
            self.tables.q("UPDATE {schedules} SET paused = %s, updated_at = now(), last_fire_at = CASE WHEN %s "
                          "THEN last_fire_at ELSE GREATEST(last_fire_at, %s) END WHERE name = %s"),
            (paused, paused, self.clock(), name),
        )  # fmt: skip
        return (await self.describe())[name]

    async def describe(self) -> dict[str, dict[str, Any]]:
        rows = await self.rows()
        described = {}
        for name, schedule in self.schedules.items():
            row = rows.get(name) or {}
            nxt = None if row.get("paused") else self.next_fire(schedule, row or None)
            described[name] = {
                "name": name,
                "pipeline": schedule.pipeline,
                "interval": schedule.interval,
                "timezone": schedule.timezone,
                "jitter_seconds": schedule.jitter_seconds,
                "catch_up": schedule.catch_up,
                "paused": bool(row.get("paused")),
                "last_fire_at": _iso(row.get("last_fire_at")),
                "last_run_id": str(row["last_run_id"]) if row.get("last_run_id") else None,
                "last_trigger": row.get("last_trigger"),
                "next_fire_at": _iso(nxt),
            }
        return described


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
