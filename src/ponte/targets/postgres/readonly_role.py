"""A read-only login role for BI tools, and the connection string to hand them.

The role can connect, use the loaded schemas and SELECT from every table in them, including tables the
loader creates later (default privileges of the loader's role); every session starts read-only as a second
guard. Running it again is harmless: grants are idempotent, so it is also how a new source schema is added.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from psycopg import sql

from ponte.core.errors import ConfigError


@dataclass(frozen=True)
class ReadonlyGrant:
    """What was granted, and how a BI tool connects."""

    role: str
    schemas: list[str]
    created: bool
    connection_string: str


def generate_password() -> str:
    """A URL-safe random password (no characters that need quoting in a connection string)."""
    return secrets.token_urlsafe(24)


# Tables no BI role may read even when their schema is granted (the run-record schema `ponte` holds the service's
# own): operator password hashes, panel-saved settings and OAuth tokens (both encrypted, still nobody's business).
PRIVATE_TABLES = ("panel_users", "settings", "oauth_tokens", "oauth_tokens_calls")
_REVOKE_PRIVATE = """
DO $revoke$ DECLARE r record; BEGIN
  FOR r IN SELECT c.relname, a.grantee FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                  aclexplode(c.relacl) a
           WHERE n.nspname = {schema} AND c.relname = ANY({tables}) AND a.grantee <> c.relowner
  LOOP
    IF r.grantee = 0 THEN EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC', {schema}, r.relname);
    ELSE EXECUTE format('REVOKE ALL ON %I.%I FROM %I', {schema}, r.relname, r.grantee::regrole::text); END IF;
  END LOOP;
END $revoke$"""


def revoke_private_tables(schema: str) -> sql.Composed:
    """The statement that takes every grant on `schema`'s PRIVATE_TABLES back from everyone but their owner.

    `grant-readonly` runs it after granting a schema, and `ponte serve` after creating its tables, since default
    privileges give a BI role SELECT on tables created after the grant."""
    return sql.SQL(_REVOKE_PRIVATE).format(schema=sql.Literal(schema), tables=sql.Literal(list(PRIVATE_TABLES)))


# Schemas the loader wrote to that still exist (the panel's /banco asks the same from its async connection).
LOADED_SCHEMAS = (
    "SELECT DISTINCT split_part(target_table, '.', 1) AS s FROM {} "
    "WHERE to_regnamespace(split_part(target_table, '.', 1)) IS NOT NULL ORDER BY 1"
)


def loaded_schemas_query(log_schema: str) -> sql.Composed:
    return sql.SQL(LOADED_SCHEMAS).format(sql.Identifier(log_schema, "sync_runs"))


def loaded_schemas(conn: psycopg.Connection, log_schema: str) -> list[str]:
    """Schemas the loader has written to (from the run log) that still exist, plus the run log's own schema."""
    exists = conn.execute("SELECT to_regclass(%s)", (f"{log_schema}.sync_runs",)).fetchone()[0]
    if exists is None:
        return []
    rows = conn.execute(loaded_schemas_query(log_schema)).fetchall()
    return sorted({row[0] for row in rows} | {log_schema})


def grant_readonly(
    conn: psycopg.Connection,
    role: str,
    schemas: Sequence[str],
    *,
    password: str | None = None,
    owner: str | None = None,
    show_password: bool = False,
) -> ReadonlyGrant:
    """Create (or update) `role` as a read-only login on `schemas`, in one transaction.

    The returned connection string carries the password only with `show_password` (a generated one the
    user has to copy); otherwise it holds a `<password>` placeholder, so secrets do not end up in logs.
    """
    if not schemas:
        raise ConfigError(
            "ponte db grant-readonly: no schema to grant; pass --schema (e.g. --schema sienge) or load data first"
        )
    role_id = sql.Identifier(role)
    with conn.transaction():
        found = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if found and found[0]:
            raise ConfigError(f"ponte db grant-readonly: role '{role}' is a superuser, it cannot be made read-only")
        missing = [s for s in schemas if conn.execute("SELECT to_regnamespace(%s)", (s,)).fetchone()[0] is None]
        if missing:
            raise ConfigError(f"ponte db grant-readonly: schema(s) {', '.join(missing)} do not exist in this database")
        verb = "ALTER" if found else "CREATE"
        login = sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(sql.SQL(verb), role_id)
        if password is not None:
            login = sql.SQL("{} PASSWORD {}").format(login, sql.Literal(password))
        conn.execute(login)
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role_id))
        database = conn.info.dbname
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role_id))
        owner_id = sql.Identifier(owner) if owner else sql.SQL("CURRENT_USER")
        for schema in schemas:
            schema_id = sql.Identifier(schema)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_id, role_id))
            conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema_id, role_id))
            conn.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                    owner_id, schema_id, role_id
                )
            )
            conn.execute(revoke_private_tables(schema))
    shown = password if show_password else None
    return ReadonlyGrant(role, list(schemas), not found, reader_connection_string(conn, role, shown))


def reader_connection_string(conn: psycopg.Connection, role: str, password: str | None) -> str:
    """postgresql://role:password@host:port/database as seen from this connection (password as a placeholder
    when it is not known here)."""
    host = conn.info.host if conn.info.host and not conn.info.host.startswith("/") else "localhost"
    return connection_string(role, host, conn.info.port, conn.info.dbname, password)


def connection_string(
    role: str, host: str, port: int | str, database: str, password: str | None, placeholder: str = "<password>"
) -> str:
    """The URL a BI tool takes; `placeholder` stands for a password that is not shown (the panel's `<senha>`)."""
    secret = quote(password, safe="") if password is not None else placeholder
    return f"postgresql://{quote(role, safe='')}:{secret}@{host}:{port}/{quote(database, safe='')}"
