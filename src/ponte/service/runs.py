"""Starting pipeline runs from the service: each one is a `ponte run` child process (so its record, status rules
and log are the launcher's), under a run id known before it starts, at most one per pipeline at a time across
every instance of the service (a PostgreSQL advisory lock held on a connection of its own while it runs).

`RunStart` is what the scheduler, the API and the webhook processor ask for; `RunManager.start_run` answers
the run id at once and the run goes on in the background. Its output is kept line by line in `run_log` and
fanned out to the log endpoint's listeners. When it ends the service makes sure the run has a final record
(a launcher killed mid-run leaves `running`) and applies the alert rule of `ponte.service.streaks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from ponte.core.errors import PonteError
from ponte.core.meltano_project import MeltanoProject
from ponte.service.connection_settings import ConnectionSettings
from ponte.service.database import Tables, connect
from ponte.service.settings import ServeSettings

logger = logging.getLogger(__name__)

TRIGGERS = ("schedule", "manual", "webhook", "catch-up")
ALERTS_OFF = {"PONTE_ALERT_SMTP_HOST": "", "PONTE_ALERT_SMTP_TO": "", "PONTE_ALERT_WEBHOOK_URL": ""}
FLUSH_SECONDS = 0.2
KILL_AFTER_SECONDS = 30.0  # after the drain: SIGTERM, then this long before SIGKILL


@dataclass(frozen=True)
class RunStart:
    """One run to start. `pipeline`: a job name or plugin names, as `ponte run` takes them; `select`: streams
    (`customers` or Meltano select patterns like `customers.id`) of the pipeline's extractors."""

    pipeline: list[str]
    trigger: str
    environment: str | None = None
    select: tuple[str, ...] = ()
    full_refresh: bool = False
    extra_env: Mapping[str, str] = field(default_factory=dict)
    direct: bool = False  # `ponte run --direct`: the plugins as one pipe, no Meltano start (ponte.runs.direct)

    @property
    def key(self) -> str:
        """What "the same pipeline" means for the one-at-a-time rule."""
        return f"{self.environment or ''}|{' '.join(self.pipeline)}"


class PipelineBusy(PonteError):
    """The pipeline is already running (here or on another instance); the run was not started."""


class ServiceStopping(PonteError):
    """The service is shutting down and starts no new run."""


class UnknownPipeline(PonteError):
    """A name in the pipeline is neither a job nor a plugin of the project."""


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ActiveRun:
    """A run this instance started and has not finished yet."""

    run_id: str
    start: RunStart
    started_at: datetime
    lines: list[str] = field(default_factory=list)
    listeners: set[asyncio.Queue[str | None]] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    process: asyncio.subprocess.Process | None = None
    exit_code: int | None = None

    def listen(self) -> tuple[list[str], asyncio.Queue[str | None]]:
        """The lines so far and a queue of the next ones (None at the end)."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.listeners.add(queue)
        if self.done.is_set():
            queue.put_nowait(None)
        return list(self.lines), queue


OnFinished = Callable[[str, RunStart], "asyncio.Future[None] | object"]


class RunManager:
    """Starts runs, tracks them, and drains them on shutdown."""

    def __init__(self, settings: ServeSettings, dsn: str, tables: Tables, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.dsn = dsn
        self.tables = tables
        self.clock = clock
        self.active: dict[str, ActiveRun] = {}
        self.accepting = True
        self.on_finished: list[Callable[[str, RunStart], object]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def secret_key(self) -> str | None:
        """The key of the panel's saved settings (None when PONTE_SECRET_KEY is not set)."""
        return self.settings.secret_key if self.settings.secret_key_set else None

    def lock_key(self, start: RunStart) -> str:
        """Per pipeline and per run-record schema: two deployments sharing a database server (PONTE_DB_SCHEMA
        `staging` and `prod`) do not block each other's runs."""
        return f"ponte.serve.pipeline:{self.tables.schema}:{start.key}"

    def command(self, run_id: str, start: RunStart) -> list[str]:
        args = [*self.settings.run_command, f"--trigger={start.trigger}", f"--log-format={self.settings.log_format}"]
        args.append(f"--project={self.settings.project}")
        if start.environment:
            args.append(f"--environment={start.environment}")
        args += [*start.pipeline, f"--run-id={run_id}"]
        if start.full_refresh:
            args.append("--full-refresh")
        if start.direct:
            args.append("--direct")
        return args

    def environment(
        self, start: RunStart, project: MeltanoProject | None, saved: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The child's environment: the service's (over `.env`), the settings saved in the panel (`saved`, as
        `TAP_*`/`TARGET_*` variables, over both: Meltano ranks the environment above `.env`), the service's
        database for the record and Meltano's system database, alerts off (the service alerts, once per streak),
        the stream selection, the run's own extras."""
        env = {**self.settings.env, **(saved or {}), **ALERTS_OFF, "PONTE_DB_DSN": self.dsn,
               "PONTE_DB_SCHEMA": self.tables.schema}  # fmt: skip
        if self.settings.meltano_database_uri:
            env["MELTANO_DATABASE_URI"] = self.settings.meltano_database_uri
        if start.select and project is not None:
            patterns = [s if "." in s else f"{s}.*" for s in start.select]
            import json

            for extractor in project.extractors(start.pipeline):
                env[extractor.upper().replace("-", "_") + "__SELECT"] = json.dumps(patterns)
        env.update(start.extra_env)
        if start.direct and start.extra_env:  # what changes per run: laid over the cached settings, not part of them
            env["PONTE_RUN_OVERLAY"] = ",".join(sorted(start.extra_env))
        return env

    async def start_run(self, start: RunStart) -> str:
        """Start `start` in the background and return its run id; PipelineBusy when it already runs."""
        if not self.accepting:
            raise ServiceStopping("the service is shutting down and starts no new run; try again on another instance")
        if start.trigger not in TRIGGERS:
            raise PonteError(f"trigger must be one of {', '.join(TRIGGERS)}, got {start.trigger!r}")
        project = MeltanoProject.load(self.settings.project)
        unknown = project.unknown(start.pipeline)
        if unknown or not start.pipeline:
            raise UnknownPipeline(
                f"{', '.join(unknown) or 'nothing'}: not a job or plugin of {self.settings.project / 'meltano.yml'}; "
                f"jobs: {', '.join(sorted(project.jobs)) or 'none'}"
            )
        # a value the key cannot decrypt stops the run here, naming the setting (not a run on stale credentials)
        saved = await ConnectionSettings(self.dsn, self.tables, self.secret_key).environment()
        conn = await connect(self.dsn)
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (self.lock_key(start),))
            row = await cur.fetchone()
            if not row or not row[0]:
                raise PipelineBusy(f"'{' '.join(start.pipeline)}' is already running; it was not started again")
        except BaseException:
            await conn.close()
            raise
        run_id = str(uuid.uuid4())
        active = ActiveRun(run_id, start, self.clock())
        self.active[run_id] = active
        try:
            active.process = await asyncio.create_subprocess_exec(
                *self.command(run_id, start),
                cwd=self.settings.project,
                env=self.environment(start, project, saved),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C on the service must not kill the runs it drains
            )
        except BaseException:
            self.active.pop(run_id, None)
            await conn.close()
            raise
        logger.info("run started run_id=%s pipeline=%s trigger=%s", run_id, " ".join(start.pipeline), start.trigger)
        task = asyncio.create_task(self._follow(active, conn), name=f"run-{run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run_id

    async def _follow(self, active: ActiveRun, conn: psycopg.AsyncConnection) -> None:
        """Read the run's output until it exits, storing and fanning out each line; then finish it."""
        assert active.process is not None and active.process.stdout is not None
        pending: list[tuple[int, str]] = []
        flushed = asyncio.Event()
        writer = asyncio.create_task(self._write_log(active, conn, pending, flushed))
        try:
            while raw := await active.process.stdout.readline():
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                active.lines.append(line)
                pending.append((len(active.lines), line))
                for queue in list(active.listeners):
                    queue.put_nowait(line)
            active.exit_code = await active.process.wait()
        finally:
            flushed.set()
            with contextlib.suppress(Exception):
                await writer
            with contextlib.suppress(Exception):
                await conn.execute("SELECT pg_advisory_unlock_all()")
            await conn.close()
            with contextlib.suppress(Exception):
                await self._final_record(active)
            active.done.set()
            for queue in list(active.listeners):
                queue.put_nowait(None)
            self.active.pop(active.run_id, None)
        logger.info("run ended run_id=%s exit_code=%s", active.run_id, active.exit_code)
        for callback in self.on_finished:
            try:
                result = callback(active.run_id, active.start)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                logger.exception("after run %s", active.run_id)

    async def _write_log(
        self, active: ActiveRun, conn: psycopg.AsyncConnection, pending: list[tuple[int, str]], done: asyncio.Event
    ) -> None:
        query = self.tables.q("INSERT INTO {log} (run_id, line_no, line) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING")
        while True:
            finished = done.is_set()
            if pending:
                batch = pending[:]
                del pending[: len(batch)]
                async with conn.cursor() as cur:
                    await cur.executemany(query, [(active.run_id, n, line) for n, line in batch])
            if finished:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_SECONDS)

    async def _final_record(self, active: ActiveRun) -> None:
        """A run whose launcher died before recording its end (or before starting it) gets a failed record."""
        code = active.exit_code if active.exit_code is not None else -1
        last = next((line for line in reversed(active.lines) if line.strip()), "no output")
        status = "succeeded" if code == 0 else "failed"
        error = None if code == 0 else f"ponte run exited with code {code} without recording the run's end: {last}"
        query = self.tables.q(
            "INSERT INTO {runs} AS r (run_id, pipeline, environment, trigger, status, started_at, finished_at, "
            "exit_code, failed_plugin, error, host, pid) VALUES (%s, %s, %s, %s, %s, %s, now(), %s, %s, %s, %s, %s) "
            "ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, finished_at = EXCLUDED.finished_at, "
            "exit_code = EXCLUDED.exit_code, failed_plugin = EXCLUDED.failed_plugin, error = EXCLUDED.error "
            "WHERE r.status = 'running'"
        )
        values = (
            active.run_id, " ".join(active.start.pipeline), active.start.environment, active.start.trigger, status,
            active.started_at, code, "ponte run" if code else None, error, os.uname().nodename,
            active.process.pid if active.process else None,
        )  # fmt: skip
        async with await connect(self.dsn) as conn:
            await conn.execute(query, values)

    async def drain(self, seconds: float) -> None:
        """Stop accepting runs; wait up to `seconds` for the running ones, then stop them (SIGTERM, then SIGKILL)."""
        self.accepting = False
        if not self.active:
            return
        logger.info("draining: %d run(s) in progress, waiting up to %.0f s", len(self.active), seconds)
        waiting = [run.done.wait() for run in self.active.values()]
        _, late = await asyncio.wait([asyncio.ensure_future(w) for w in waiting], timeout=seconds)
        if not late:
            return
        for run in list(self.active.values()):
            logger.warning("run %s still running after %.0f s of drain; stopping it (SIGTERM)", run.run_id, seconds)
            if run.process and run.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    run.process.send_signal(signal.SIGTERM)
        _, late = await asyncio.wait(late, timeout=KILL_AFTER_SECONDS)
        for run in list(self.active.values()):
            if run.process and run.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(run.process.pid, signal.SIGKILL)
        await asyncio.wait(late, timeout=5)

    async def wait_idle(self) -> None:
        """Until every background follower (final record, alerts) is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
