"""The service's own tables, in the schema of the run record (`ponte` by default), next to `pipeline_runs`.

schedules      one row per schedule: paused, the last time it fired (claimed by one instance), first seen
alert_streaks  one row per pipeline (or `schedule <name>`): failing or not since when, so a failure streak
               alerts once and its end once
panel_users    the control panel's operator accounts (argon2 hashes; `ponte panel add-user`)
run_log        every line `ponte run` printed for a run the service started (the log endpoint's stored log)
settings       plugin settings typed in the panel's Connections page, Fernet-encrypted (ponte.service.connection_settings)

Every instance of the service on one database shares them; DDL runs under an advisory lock so two instances
starting at once do not race.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from ponte.runs.store import PIPELINE_RUNS_DDL
from ponte.targets.postgres.readonly_role import revoke_private_tables

SERVICE_DDL = """
CREATE TABLE IF NOT EXISTS {schedules} (
    name text PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false,
    first_seen_at timestamptz NOT NULL,
    last_fire_at timestamptz,
    last_run_id uuid,
    last_trigger text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {schedules} IS 'ponte serve: one row per schedule of meltano.yml — paused, last firing (nominal time).';
CREATE TABLE IF NOT EXISTS {streaks} (
    subject text PRIMARY KEY,
    failing boolean NOT NULL,
    since timestamptz NOT NULL,
    runs integer NOT NULL DEFAULT 0,
    first_run_id uuid,
    last_run_id uuid,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {streaks} IS 'ponte serve: failure streak per pipeline, so a streak alerts once and its recovery once.';
CREATE TABLE IF NOT EXISTS {log} (
    run_id uuid NOT NULL,
    line_no integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    line text NOT NULL,
    PRIMARY KEY (run_id, line_no)
);
COMMENT ON TABLE {log} IS 'ponte serve: the output of ponte run for each run the service started, line by line.';
CREATE TABLE IF NOT EXISTS {users} (
    name text PRIMARY KEY,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
COMMENT ON TABLE {users} IS 'ponte serve: operator accounts of the control panel (argon2 hashes; ponte panel add-user).';
CREATE TABLE IF NOT EXISTS {settings} (
    plugin text NOT NULL,
    name text NOT NULL,
    ciphertext text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text,
    PRIMARY KEY (plugin, name)
);
COMMENT ON TABLE {settings} IS 'ponte serve: plugin settings saved in the panel, encrypted (Fernet, key from PONTE_SECRET_KEY); they override .env in runs.';
"""


class Tables:
    """Qualified names of the service's tables in `schema`."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.schedules = sql.Identifier(schema, "schedules")
        self.streaks = sql.Identifier(schema, "alert_streaks")
        self.log = sql.Identifier(schema, "run_log")
        self.runs = sql.Identifier(schema, "pipeline_runs")
        self.users = sql.Identifier(schema, "panel_users")
        self.settings = sql.Identifier(schema, "settings")

    def q(self, text: str) -> sql.Composed:
        """`text` with {schedules}, {streaks}, {log}, {runs}, {users}, {settings} filled in."""
        return sql.SQL(text).format(
            schedules=self.schedules, streaks=self.streaks, log=self.log, runs=self.runs, users=self.users,
            settings=self.settings,
        )  # fmt: skip


async def connect(dsn: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, connect_timeout=10, application_name="ponte serve"
    )


class Connections:
    """A small pool for the pages' short queries: a page then costs no connection set-up (a new backend, and
    the password exchange on a real server), which counts against the panel's 200 ms (bench/panel_pages.py).
    Opened in the server's event loop (`Service.start`) and closed at stop; outside that, each use opens
    a connection of its own."""

    def __init__(self, dsn: str, max_size: int = 8) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool: AsyncConnectionPool | None = None

    async def open(self) -> None:
        pool = AsyncConnectionPool(
            self.dsn, min_size=1, max_size=self.max_size, open=False, name="ponte-serve", timeout=10,
            kwargs={"autocommit": True, "connect_timeout": 10, "application_name": "ponte serve"}, reset=_reset,
        )  # fmt: skip
        await pool.open(wait=True, timeout=10)
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        if self._pool is None:
            async with await connect(self.dsn) as conn:
                yield conn
            return
        async with self._pool.connection() as conn:
            yield conn


async def _reset(conn: psycopg.AsyncConnection) -> None:
    """A page may have set dict rows on the connection: the next user gets tuples again."""
    conn.row_factory = tuple_row


async def create_tables(dsn: str, tables: Tables, extra_schemas: tuple[str, ...] = ()) -> None:
    """The schema, `pipeline_runs` (so the API answers before the first run) and the service's tables."""
    async with await connect(dsn) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ponte.run_log'))")
        for schema in (tables.schema, *extra_schemas):
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        await conn.execute(sql.SQL(PIPELINE_RUNS_DDL).format(runs=tables.runs))
        await conn.execute(tables.q(SERVICE_DDL))
        await conn.execute(revoke_private_tables(tables.schema))  # a BI role granted this schema reads none of them
