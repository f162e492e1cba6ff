"""SQL that moves a staged batch into its table, and that applies deletions.

The merge is one `INSERT … SELECT … ON CONFLICT (key) DO UPDATE`, counted with the `xmax = 0` idiom (a row
PostgreSQL inserted has no xmax; one it updated has). It first runs without de-duplication; only if the batch
repeats a key (PostgreSQL refuses to update one row twice) does it run again, inside a savepoint, keeping the
last record of each key — so the common case pays for no sort.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from ponte.targets.postgres.table_plan import DELETED_AT, TABLE_VERSION, TablePlan

STAGING = sql.Identifier("ponte_staging")


def create_staging(conn: psycopg.Connection, plan: TablePlan) -> None:
    """A session-private staging table with the plan's columns and types, emptied at every commit.

    Built with CREATE TABLE AS so it has no constraints: NULL keys are caught by the strict replay, which
    can name the record, rather than by COPY.
    """
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in plan.columns)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(STAGING))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA").format(
            STAGING, columns, plan.ident
        )
    )


def _upsert(plan: TablePlan, *, deduplicate: bool) -> sql.Composable:
    staged = [c.name for c in plan.columns]
    names = [*staged, *plan.stamped]
    columns = sql.SQL(", ").join(map(sql.Identifier, staged))
    targets = sql.SQL(", ").join(map(sql.Identifier, names))
    selected = sql.SQL(", ").join([*map(sql.Identifier, staged), *(sql.SQL("now()") for _ in plan.stamped)])
    keys = sql.SQL(", ").join(map(sql.Identifier, plan.key_columns))
    if deduplicate:
        # A freshly filled temp table stores rows in arrival order, so the highest ctid is the last record.
        source = sql.SQL("(SELECT DISTINCT ON ({keys}) {cols} FROM {stg} ORDER BY {keys}, ctid DESC) AS s").format(
            keys=keys, cols=columns, stg=STAGING
        )
    else:
        source = STAGING
    updates = [n for n in names if n not in plan.key_columns]
    action = (
        sql.SQL("DO UPDATE SET {}").format(
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in updates)
        )
        if updates
        else sql.SQL("DO NOTHING")
    )
    return sql.SQL(
        "WITH merged AS (INSERT INTO {table} ({targets}) SELECT {selected} FROM {source} "
        "ON CONFLICT ({keys}) {action} RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
    ).format(table=plan.ident, targets=targets, selected=selected, source=source, keys=keys, action=action)


def merge_staging(conn: psycopg.Connection, plan: TablePlan, *, repeats_keys: bool) -> tuple[int, int, bool]:
    """Upsert the staged rows; returns (inserted, updated, batch repeated a key)."""
    if not repeats_keys:
        try:
            with conn.transaction():
                inserted, updated = conn.execute(_upsert(plan, deduplicate=False)).fetchone()
            return inserted, updated, False
        except psycopg.errors.CardinalityViolation:
            pass
    inserted, updated = conn.execute(_upsert(plan, deduplicate=True)).fetchone()
    return inserted, updated, True


def activate_version(conn: psycopg.Connection, plan: TablePlan, version: int, *, hard: bool) -> int:
    """Rows a full-table sync did not send again (older version, or none): delete them, or stamp them deleted."""
    older = sql.SQL("({v} IS NULL OR {v} < %(version)s)").format(v=sql.Identifier(TABLE_VERSION))
    if hard:
        statement = sql.SQL("DELETE FROM {} WHERE {}").format(plan.ident, older)
    else:
        statement = sql.SQL("UPDATE {t} SET {d} = now() WHERE {older} AND {d} IS NULL").format(
            t=plan.ident, d=sql.Identifier(DELETED_AT), older=older
        )
    return conn.execute(statement, {"version": version}).rowcount


def delete_flagged(conn: psycopg.Connection, plan: TablePlan) -> int:
    """With hard_delete, rows whose record carried `_sdc_deleted_at` (log-based deletes) are removed."""
    statement = sql.SQL("DELETE FROM {} WHERE {} IS NOT NULL").format(plan.ident, sql.Identifier(DELETED_AT))
    return conn.execute(statement).rowcount
