"""Find a PostgreSQL to load into: the local server if one answers, else an embedded one (pgserver wheel).

The demo and newcomers need a database without installing one. A server on 127.0.0.1:5432 (or the DSN in
`PONTE_PG_DSN`) wins because BI tools can reach it; otherwise the `pgserver` wheel runs a private PostgreSQL
from `.ponte/pgdata` over a Unix socket, left running after the demo so psql and BI tools can connect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

DEFAULT_SERVER_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@dataclass(frozen=True)
class PostgresEndpoint:
    """Where to connect, and what kind of server it is (`server` or `embedded`)."""

    admin_dsn: str
    kind: str
    data_dir: Path | None = None

    def dsn_for(self, database: str) -> str:
        """The same server, another database."""
        info = psycopg.conninfo.conninfo_to_dict(self.admin_dsn)
        info["dbname"] = database
        return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


def server_answers(dsn: str) -> bool:
    """True when a PostgreSQL accepts a connection at `dsn`."""
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def find_postgres(data_dir: Path, *, allow_server: bool = True) -> PostgresEndpoint:
    """The local server when it answers (and `allow_server`), else the embedded one, started if needed."""
    dsn = os.environ.get("PONTE_PG_DSN") or DEFAULT_SERVER_DSN
    if allow_server and server_answers(dsn):
        return PostgresEndpoint(dsn, "server")
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - the embedded-pg extra is part of the default install
        raise RuntimeError(
            "no PostgreSQL answers and the pgserver wheel is not installed: pip install pgserver"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return PostgresEndpoint(server.get_uri("postgres"), "embedded", data_dir)


def ensure_database(endpoint: PostgresEndpoint, name: str) -> str:
    """Create database `name` if missing; return its DSN."""
    with psycopg.connect(endpoint.admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    return endpoint.dsn_for(name)


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded server of `data_dir` if it runs; True when there was one."""
    if not (data_dir / "PG_VERSION").exists():
        return False
    import pgserver

    pgserver.get_server(data_dir, cleanup_mode="stop").cleanup()
    return True
