"""The service object (database, run manager, scheduler, alerts, webhook intake) and its Starlette app.

`Service.prepare()` does everything that can fail on a bad setting — finds the database, creates the tables,
reads the schedules, brings Meltano's system database up to date — before the server listens, so a mistake is
one line and a non-zero exit. The app's lifespan starts the scheduler (and the webhook processor) and, on
shutdown, stops them and drains the runs in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ponte.core.console_scripts import console_script
from ponte.core.errors import PonteError
from ponte.notify import Alert
from ponte.project.local_postgres import ensure_database, find_postgres
from ponte.service import api, panel
from ponte.service.connection_settings import for_service
from ponte.service.database import Connections, Tables, connect, create_tables
from ponte.service.panel.rate_limit import LoginAttempts
from ponte.service.runs import Clock, RunManager, RunStart, utc_now
from ponte.service.scheduler import Scheduler
from ponte.service.settings import MELTANO_SCHEMA, ServeSettings, meltano_database_uri
from ponte.service.streaks import Notify, Streaks
from ponte.service.webhooks import Processor
from ponte.service.webhooks import routes as webhook_routes
from ponte.service.webhooks.context import WebhookContext

logger = logging.getLogger("ponte.service")

DEMO_DATABASE = "ponte_demo"


@dataclass
class Webhooks:
    """The webhook intake: its routes and the processor that turns stored events into runs."""

    routes: list[BaseRoute]
    processor: Any


def resolve_dsn(settings: ServeSettings) -> str:
    """PONTE_DB_DSN, else the demo's database on the local server or the embedded one (ponte.project.local_postgres)."""
    if settings.dsn:
        return settings.dsn
    endpoint = find_postgres(settings.project / ".ponte" / "pgdata")
    database = (os.environ.get("PONTE_DEMO_DB") or "").strip() or DEMO_DATABASE
    logger.info(
        "PONTE_DB_DSN is not set: using database %s on the %s PostgreSQL (%s)", database, endpoint.kind, endpoint.why
    )
    return ensure_database(endpoint, database)


class Service:
    """Everything `ponte serve` runs, on one database."""

    def __init__(self, settings: ServeSettings, clock: Clock = utc_now, notify: Notify | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.notify_override = notify
        self.tables = Tables(settings.schema)
        self.dsn = ""
        self.webhooks: Webhooks | None = None
        self.draining = False
        self.panel_enabled = settings.secret_key_set
        self.panel_attempts = LoginAttempts()

    async def prepare(self) -> None:
        """Database, tables, Meltano's system database, schedules: fail here, before listening."""
        self.dsn = await asyncio.to_thread(resolve_dsn, self.settings)
        derived = self.settings.meltano_database_uri is None
        if derived:
            self.settings.meltano_database_uri = meltano_database_uri(self.dsn)
        await create_tables(self.dsn, self.tables, (MELTANO_SCHEMA,) if derived else ())
        self.connections = Connections(self.dsn)
        if not self.panel_enabled:
            logger.warning("the control panel is off: PONTE_SECRET_KEY is not set (the JSON API works without it)")
        if derived:
            await self._migrate_meltano()
        self.streaks = Streaks(self.settings, self.dsn, self.tables, self.notify_override)
        self.runs = RunManager(self.settings, self.dsn, self.tables, self.clock)
        self.runs.on_finished.append(lambda run_id, _start: self.streaks.run_finished(run_id))
        self.scheduler = Scheduler(self.settings, self.dsn, self.tables, self.runs, self.streaks, self.clock)
        self.webhooks = self._webhooks()
        await self.settings_saved()

    async def _migrate_meltano(self) -> None:
        """Create or upgrade Meltano's tables in schema `meltano` once, before two runs could race to do it."""
        async with await connect(self.dsn) as conn:
            cur = await conn.execute("SELECT to_regclass(%s)", (f"{MELTANO_SCHEMA}.alembic_version",))
            row = await cur.fetchone()
            if row and row[0]:
                return
            await conn.execute("SELECT pg_advisory_lock(hashtext('ponte.serve.meltano_migrations'))")
            env = {**self.settings.env, "MELTANO_DATABASE_URI": self.settings.meltano_database_uri or ""}
            command = [console_script("meltano"), "state", "list"]
            done = await asyncio.to_thread(
                subprocess.run, command, cwd=self.settings.project, env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                logger.warning(
                    "Meltano's system database in schema %s: `meltano state list` failed: %s", MELTANO_SCHEMA, last
                )

    def _webhooks(self) -> Webhooks:
        """The webhook intake's routes and its processor, on this service's database, runs and alerts."""
        context = WebhookContext(
            dsn=self.dsn, schema=self.tables.schema, project=self.settings.project, start_run=self.start_run,
            notify=self.notify, env=self.settings.env, environment=self.settings.env.get("MELTANO_ENVIRONMENT"),
        )  # fmt: skip
        self.webhook_context = context
        return Webhooks(list(webhook_routes(context)), Processor(context))

    async def settings_saved(self) -> None:
        """Hand the settings saved in the panel to the webhook intake (runs read them when they start)."""
        if self.webhooks is None:
            return
        try:
            saved = await for_service(self).environment()
        except PonteError as exc:  # a value the key cannot decrypt: runs refuse to start and say which
            logger.warning("webhooks: the settings saved in the panel are not used: %s", exc)
            return
        self.webhook_context.use_saved(saved)

    async def start_run(self, start: RunStart) -> str:
        return await self.runs.start_run(start)

    def notify(self, alert: Alert) -> None:
        self.streaks.notify(alert)

    async def start(self) -> None:
        await self.connections.open()
        await self.scheduler.start()
        if self.webhooks is not None:
            await self.webhooks.processor.start()

    async def stop(self) -> None:
        """Stop taking work (scheduler, webhook processing, new runs), then let the runs finish (bounded)."""
        self.draining = True
        self.runs.accepting = False
        await self.scheduler.stop()
        if self.webhooks is not None:
            with contextlib.suppress(Exception):
                await self.webhooks.processor.stop()
        await self.runs.drain(self.settings.drain_seconds)
        await self.runs.wait_idle()
        await self.connections.close()

    async def health(self) -> tuple[bool, dict[str, Any]]:
        database: dict[str, Any] = {"ok": True}
        try:
            async with await connect(self.dsn) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:
            database = {"ok": False, "error": type(exc).__name__}
        scheduler = {
            "running": self.scheduler.running,
            "error": self.scheduler.error,
            "schedules": len(self.scheduler.schedules),
        }
        body = {
            "status": "draining" if self.draining else "ok",
            "database": database,
            "scheduler": scheduler,
            "runs_in_progress": len(self.runs.active),
            "webhooks": self.webhooks is not None,
        }
        return database["ok"] and scheduler["error"] is None, body


async def healthz(request: Request) -> Response:
    ok, body = await request.app.state.service.health()
    return JSONResponse(body, status_code=200 if ok else 503)


class TokenMiddleware(BaseHTTPMiddleware):
    """/api/* needs the bearer token when one is set."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith("/api/") and not api.authorized(request):
            return JSONResponse({"error": "missing or wrong bearer token (Authorization: Bearer <PONTE_SERVE_TOKEN>)"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        return await call_next(request)


def create_app(service: Service) -> Starlette:
    """The ASGI app of a prepared service."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    routes: list[BaseRoute] = [Route("/healthz", healthz), *api.routes()]
    if service.webhooks is not None:
        routes += service.webhooks.routes
    routes += panel.routes()
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(TokenMiddleware),
                    Middleware(panel.SessionGate)], exception_handlers={HTTPException: panel.error_page})  # fmt: skip
    app.state.service = service
    return app
