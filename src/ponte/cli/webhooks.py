"""`ponte webhooks`: see what became of the webhook events `ponte serve` accepted, and try failed ones again.

    ponte webhooks list [--status failed]       newest first, from <PONTE_DB_SCHEMA>.webhook_events
    ponte webhooks replay <eventId>... | --failed | --skipped

Replay puts events back to `pending` with a fresh set of tries; the running service's processor picks them up
within a second (docs/webhooks.md).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from ponte.core.errors import ConfigError


def _connect(dsn: str | None):
    import os

    import psycopg

    from ponte.runs.settings import project_env
    from ponte.targets.postgres.settings import build_conninfo

    env = project_env(Path.cwd(), os.environ)
    dsn = dsn or env.get("PONTE_DB_DSN")
    if not dsn:
        raise ConfigError("no database: pass --dsn or set PONTE_DB_DSN (the database `ponte serve` stores events in)")
    try:
        return psycopg.connect(build_conninfo({"dsn": dsn}, application_name="ponte webhooks"), autocommit=True)
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot connect to PONTE_DB_DSN: {str(exc).strip().splitlines()[0]}") from None


def _schema(schema: str | None) -> str:
    from ponte.runs.settings import project_env

    return schema or project_env(Path.cwd(), os.environ).get("PONTE_DB_SCHEMA") or "ponte"


def _options(command):
    command = click.option("--schema", help="Schema of webhook_events (default PONTE_DB_SCHEMA or ponte).")(command)
    return click.option("--dsn", help="Database of webhook_events (default PONTE_DB_DSN).")(command)


@click.group()
def webhooks() -> None:
    """Webhook events received by `ponte serve`: list them, replay failed ones."""


@webhooks.command("list")
@_options
@click.option(
    "--status", type=click.Choice(["pending", "processing", "running", "done", "failed", "skipped", "ignored"])
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="Most events shown.")
def list_command(dsn: str | None, schema: str | None, status: str | None, limit: int) -> None:
    """Events, newest first: when, event, account, status, tries, deliveries, run and error."""
    import psycopg

    from ponte.service.webhooks.store import list_events

    with _connect(dsn) as conn:
        try:
            events = list_events(conn, _schema(schema), status, limit)
        except psycopg.errors.UndefinedTable:
            click.echo("no webhook events yet (the table is created when `ponte serve` starts)")
            return
    if not events:
        click.echo(f"no {status + ' ' if status else ''}webhook events")
        return
    header = ("RECEIVED", "EVENT_ID", "EVENT", "ACCOUNT", "STATUS", "TRIES", "DELIV", "RUN", "ERROR")
    rows = [
        (
            e.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.event_id,
            e.event,
            e.account or e.company_id or "",
            e.status,
            str(e.attempts),
            str(e.deliveries),
            (e.run_id or "")[:8],
            " ".join((e.error or "").split()),
        )
        for e in events
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    room = shutil.get_terminal_size((200, 20)).columns if sys.stdout.isatty() else None
    for row in [header, *rows]:
        line = "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        click.echo(line[:room] if room else line.rstrip())


@webhooks.command()
@_options
@click.argument("event_ids", nargs=-1)
@click.option("--failed", "chosen", flag_value="failed", help="Every failed event.")
@click.option("--skipped", "chosen", flag_value="skipped", help="Every skipped event (e.g. once a missing job exists).")
def replay(dsn: str | None, schema: str | None, event_ids: tuple[str, ...], chosen: str | None) -> None:
    """Put events back in the queue with a fresh set of tries: EVENT_IDS, or --failed / --skipped."""
    from ponte.service.webhooks.store import replay as replay_events

    if not event_ids and not chosen:
        raise click.UsageError("name event ids, or pass --failed or --skipped")
    with _connect(dsn) as conn:
        done = replay_events(conn, _schema(schema), event_ids, chosen)
    missing = sorted(set(event_ids) - set(done))
    click.echo(f"replaying {len(done)} event(s); the running service picks them up within a second")
    if missing:
        raise ConfigError(f"not replayed (unknown, or being processed now): {', '.join(missing)}")
