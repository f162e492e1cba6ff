"""Find a PostgreSQL to load into: the local server if one answers, else an embedded one (pgserver wheel).

The demo and newcomers need a database without installing one. A server on 127.0.0.1:5432 wins because BI
tools can reach it; otherwise the `pgserver` wheel runs a private PostgreSQL from `.ponte/pgdata` over a Unix
socket, left running after the demo so psql and BI tools can connect. The choice is always explained
(`PostgresEndpoint.why`). A server the user named in `PONTE_PG_DSN` is never replaced by the embedded one
behind their back: if it does not answer, that is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ponte.core.errors import ConfigError

DEFAULT_SERVER_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@dataclass(frozen=True)
class PostgresEndpoint:
    """Where to connect, and what kind of server it is (`server` or `embedded`)."""

    admin_dsn: str
    kind: str
    data_dir: Path | None = None
    why: str = ""

    def dsn_for(self, database: str) -> str:
        """The same server, another database."""
        info = psycopg.conninfo.conninfo_to_dict(self.admin_dsn)
        info["dbname"] = database
        return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


def connection_problem(dsn: str) -> str | None:
    """Why a PostgreSQL does not accept a connection at `dsn` (libpq's first line), or None when it does."""
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        lines = str(exc).strip().splitlines()
        return " ".join(lines[0].split()) if lines else type(exc).__name__


def _where(dsn: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}"


def find_postgres(data_dir: Path, *, allow_server: bool = True) -> PostgresEndpoint:
    """The local server when it answers (and `allow_server`), else the embedded one, started if needed.

    `PONTE_PG_DSN`, when set, must answer: the user chose that server, so falling back would load elsewhere.
    """
    configured = (os.environ.get("PONTE_PG_DSN") or "").strip()
    dsn = configured or DEFAULT_SERVER_DSN
    if not allow_server:
        why = "--embedded was given"
    else:
        problem = connection_problem(dsn)
        if problem is None:
            origin = "PONTE_PG_DSN" if configured else "the default local server"
            return PostgresEndpoint(dsn, "server", why=f"{origin} answers at {_where(dsn)}")
        if configured:
            raise ConfigError(
                f"PONTE_PG_DSN ({_where(dsn)}) does not answer: {problem}; start that server, fix PONTE_PG_DSN, or "
                "unset it (or pass --embedded) to use the embedded PostgreSQL"
            )
        why = f"no PostgreSQL answers at {_where(dsn)} ({problem}); set PONTE_PG_DSN to use another server"
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - the embedded-pg extra is part of the default install
        raise RuntimeError(
            "no PostgreSQL answers and the pgserver wheel is not installed: pip install pgserver"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return PostgresEndpoint(server.get_uri("postgres"), "embedded", data_dir, why)


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
