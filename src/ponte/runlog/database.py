"""Opening the run-record tables: how every store connects and creates its schema and tables.

The DDL runs under one advisory lock (`ponte.run_log`), so loaders, API targets and the launcher starting
together never race on the same CREATE statements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ponte.core.errors import ConfigError


def connect(dsn: str, what: str, redact: Callable[[str], str] | None = None) -> Any:
    """An autocommit connection for a run-record store; failing is a ConfigError naming `what` (redacted)."""
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        text = str(exc) if redact is None else redact(str(exc))
        raise ConfigError(f"cannot connect to the {what} database: {text.strip()}") from exc


def create_tables(conn: Any, schema: str, *ddl: str, **tables: Any) -> None:
    """Create `schema` and run each DDL text, formatted with the `tables` identifiers, under the run-log lock."""
    from psycopg import sql

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ponte.run_log'))")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for text in ddl:
            conn.execute(sql.SQL(text).format(**tables))


__all__ = ["connect", "create_tables"]
