"""Read a table's shape from the catalog and apply a `TablePlan` to it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from ponte.core.errors import DataError
from ponte.targets.postgres import names
from ponte.targets.postgres.settings import LoaderSettings
from ponte.targets.postgres.table_plan import ExistingColumn, TableInfo, TablePlan, plan_table

logger = logging.getLogger(__name__)

_TABLE = """
SELECT c.oid, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
"""
_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum),
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_PRIMARY_KEY = """
SELECT con.conname,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord)
FROM pg_constraint con
WHERE con.conrelid = %s AND con.contype = 'p'
"""


def fetch_table(conn: psycopg.Connection, schema: str, table: str) -> TableInfo:
    """Columns (type, comment), primary key and comment of `schema.table`, or `exists=False`."""
    found = conn.execute(_TABLE, (schema, table)).fetchone()
    if found is None:
        return TableInfo(exists=False)
    oid, comment = found
    columns = {
        name: ExistingColumn(sql_type, column_comment, default)
        for name, sql_type, column_comment, default in conn.execute(_COLUMNS, (oid,)).fetchall()
    }
    key = conn.execute(_PRIMARY_KEY, (oid,)).fetchone()
    return TableInfo(
        exists=True,
        columns=columns,
        primary_key=list(key[1]) if key else [],
        primary_key_name=key[0] if key else None,
        comment=comment,
    )


def ensure_schema(conn: psycopg.Connection, schema: str) -> None:
    """CREATE SCHEMA IF NOT EXISTS, serialised so two loaders starting together do not collide."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ponte.schema.{schema}",))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def lock_table_ddl(conn: psycopg.Connection, schema: str, table: str) -> None:
    """Serialise DDL on one table between concurrent loaders (released at commit)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ponte.table.{schema}.{table}",))


def resolve_table_name(conn: psycopg.Connection, schema: str, stream: str, wanted: str | None = None) -> str:
    """The table for `stream`: its snake_case name, or `<name>_2`… when another stream already owns it.

    A table owns a stream when its comment says `source stream: <stream>`; tables without that line
    (created by hand or by another loader) are adopted.
    """
    base = wanted or names.snake_case(stream)
    allocator = names.NameAllocator()
    while True:
        candidate = allocator.allocate(base)
        found = conn.execute(_TABLE, (schema, candidate)).fetchone()
        if found is None or names.source_stream_of(found[1]) in (None, stream):
            return candidate


def apply_plan(conn: psycopg.Connection, plan: TablePlan) -> None:
    """Run the plan's DDL in the current transaction; a failure names the table and the statement."""
    for warning in plan.warnings:
        logger.warning("schema change: %s", warning)
    for statement in plan.statements:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            if conn.broken:
                raise  # the connection was lost, not the statement refused: the caller reconnects
            text = statement.as_string(conn)
            raise DataError(
                f"target-postgres: cannot change table {plan.schema}.{plan.table}: {exc.diag.message_primary or exc} "
                f"(while running: {text[:300]}). Fix the table by hand (for a primary key change: remove "
                "duplicate or NULL keys, or drop the table to reload it) and run again."
            ) from exc


def table_is_empty(conn: psycopg.Connection, ident: sql.Identifier) -> bool:
    """True when the table has no rows, so a first load can COPY straight into it."""
    return conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(ident)).fetchone()[0]


def prepare_table(
    conn: psycopg.Connection, settings: LoaderSettings, stream: str, schema: Mapping[str, Any], keys: Sequence[str]
) -> tuple[TablePlan, bool]:
    """Create or evolve the stream's table and commit; returns the plan and whether the table is empty."""
    schema_name, wanted_table = settings.destination(stream)
    ensure_schema(conn, schema_name)
    table = resolve_table_name(conn, schema_name, stream, wanted_table)
    lock_table_ddl(conn, schema_name, table)
    plan = plan_table(
        schema_name=schema_name,
        table_name=table,
        stream=stream,
        schema=schema,
        key_properties=keys,
        existing=fetch_table(conn, schema_name, table),
        add_record_metadata=settings.add_record_metadata,
        append_only=settings.load_method == "append-only",
    )
    apply_plan(conn, plan)
    empty = table_is_empty(conn, plan.ident)
    conn.commit()
    return plan, empty
