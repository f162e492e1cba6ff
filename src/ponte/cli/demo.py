"""`ponte demo`: the Sienge sandbox → `ponte run tap-sienge target-postgres` → what landed, in one command.

Runs in the `demo` Meltano environment. The server is the local PostgreSQL when one answers on 127.0.0.1:5432
(or the one `PONTE_PG_DSN` names, which must answer), else an embedded one (pgserver wheel, data in
`.ponte/pgdata`); the demo says which and why. The database is `PONTE_DEMO_DB` (default `ponte_demo`),
created if missing. The demo starts its own sandbox on a free port and points the run at it
(TAP_SIENGE_BASE_URL), so a busy port 8765 (the `demo` environment's default) never gets in the way. The
sandbox's data is the same every time: a second run only asks it for what changed and upserts it, so it is
quick and changes nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import psycopg

from ponte.project.local_postgres import PostgresEndpoint, ensure_database, find_postgres
from ponte.project.local_postgres import stop_embedded as _stop_embedded
from ponte.project.meltano_install import ensure_installed
from ponte.runs.launcher import RunRequest, launch
from ponte.sandbox.process import SandboxProcess

DEMO_DATABASE = "ponte_demo"  # PONTE_DEMO_DB overrides it
TARGET_SCHEMA = "sienge"


def _say(text: str) -> None:
    click.echo(click.style("ponte demo: ", fg="cyan") + text)


def start_sandbox(log_file: Path) -> SandboxProcess:
    """Start a Sienge sandbox on a free port (its data is the same on every start)."""
    try:
        sandbox = SandboxProcess.start("sienge", log_file=log_file)
    except (RuntimeError, TimeoutError) as exc:
        raise click.ClickException(f"the Sienge sandbox did not start: {exc}") from None
    _say(f"Sienge sandbox listening on {sandbox.url} (log: {log_file})")
    return sandbox


def state_suffix(kind: str, database: str) -> str:
    """The demo's state ID suffix: one per server kind and database, so no run inherits another's bookmarks."""
    if database == DEMO_DATABASE:
        return kind
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_-]', '_', database)}"


def run_meltano(project: Path, dsn: str, state_id_suffix: str, base_url: str) -> None:
    """`meltano install` (only when something changed) then `ponte run tap-sienge target-postgres` in the demo environment.

    The state ID carries the database kind and name (`state_suffix`): the bookmarks of a run into the local
    server must not make a later run into the embedded database, or another PONTE_DEMO_DB, skip rows it never
    received. The run record goes to the demo database (`ponte.pipeline_runs`, next to `ponte.sync_runs`);
    alerts a `.env` may configure stay off.
    """
    env = {**os.environ, "MELTANO_ENVIRONMENT": "demo", "TAP_SIENGE_BASE_URL": base_url,
           "TARGET_POSTGRES_DSN": dsn, "PONTE_DB_DSN": dsn, "PONTE_DB_SCHEMA": "ponte",
           "PONTE_ALERT_SMTP_HOST": "", "PONTE_ALERT_SMTP_TO": "", "PONTE_ALERT_WEBHOOK_URL": ""}  # fmt: skip
    if ensure_installed(project, env):
        _say("installed the Meltano plugins (meltano.yml or the dependencies changed since the last install)")
    _say("ponte run tap-sienge target-postgres")
    request = RunRequest(["--state-id-suffix", state_id_suffix, "tap-sienge", "target-postgres"], project)
    code = launch(request, env)
    if code != 0:
        raise click.ClickException(f"the pipeline failed with exit code {code} (see the ERROR line above)")


def print_landed(dsn: str) -> None:
    """What the schema holds now, in one line: the run's own table above says what this run changed."""
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY table_name",
            (TARGET_SCHEMA,),
        ).fetchall()
        rows = 0
        for schema, table in tables:
            query = psycopg.sql.SQL("SELECT count(*) FROM {}.{}").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
            )
            rows += conn.execute(query).fetchone()[0]
    _say(f"schema {TARGET_SCHEMA} now holds {len(tables)} tables and {rows:,} rows")


def connection_hint(endpoint: PostgresEndpoint, dsn: str) -> None:
    """Tell the user how to connect (psql / BI tools)."""
    _say(f"database: {endpoint.kind} PostgreSQL — connection string: {dsn}")
    _say(f'try: psql "{dsn}" -c "select * from {TARGET_SCHEMA}.customers limit 5"')
    if endpoint.kind == "embedded":
        _say(
            f"the embedded server keeps running (data in {endpoint.data_dir}); stop it with `ponte demo --stop-embedded`"
        )


@click.command()
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd)
@click.option("--embedded", is_flag=True, help="Use the embedded PostgreSQL even if a local server answers.")
@click.option("--keep-sandbox", is_flag=True, help="Leave the sandbox running after the demo.")
@click.option("--stop-embedded", is_flag=True, help="Only stop the embedded PostgreSQL a previous demo left running.")
def demo(project: Path, embedded: bool, keep_sandbox: bool, stop_embedded: bool) -> None:
    """Run the demo: sandbox + database + ponte run tap-sienge target-postgres, then show what landed."""
    state = project / ".ponte"
    if stop_embedded:
        stopped = _stop_embedded(state / "pgdata")
        _say("embedded PostgreSQL stopped" if stopped else "no embedded PostgreSQL here")
        return
    state.mkdir(exist_ok=True)
    database = (os.environ.get("PONTE_DEMO_DB") or "").strip() or DEMO_DATABASE
    endpoint = find_postgres(state / "pgdata", allow_server=not embedded)
    _say(f"using the {endpoint.kind} PostgreSQL: {endpoint.why}")
    dsn = ensure_database(endpoint, database)
    _say(
        f"database {database}" + (" (PONTE_DEMO_DB)" if database != DEMO_DATABASE else " (PONTE_DEMO_DB picks another)")
    )
    sandbox = start_sandbox(state / "sandbox-sienge.log")
    try:
        run_meltano(project, dsn, state_suffix(endpoint.kind, database), sandbox.base_url)
    finally:
        if keep_sandbox:
            _say(f"the sandbox keeps running on {sandbox.url} (pid {sandbox.process.pid})")
        else:
            sandbox.stop()
    print_landed(dsn)
    connection_hint(endpoint, dsn)
