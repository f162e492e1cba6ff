"""Tables and views of a line-files source in PostgreSQL, created idempotently.

The tables are created (or evolved) with target-postgres's own DDL from the schemas the tap sends, so this
can run before the first line is loaded and agrees with what the loader does later. Then, when the
declaration has a `counters` section:

* `<view>` (keyence.producao_por_ordem): per production order and line, the units produced and rejected,
  readings, sensors, first and last reading, and `ativa` (a reading in the last `active_minutes`).
* `<active_view>` (keyence.producao_ordens_ativas): the same rows for the active orders only, computed from
  their readings alone (index on the read time, then on order/line/sensor), so it stays cheap on a long history.

Accumulation, per (order, line, sensor) in reading order (read time, then file and offset):
* `cumulative` counters: each reading adds `value - previous value`; a value lower than the previous one is a
  counter reset (power cycle) and adds the value itself. The first reading of a sensor in an order adds its
  value when `resets_on_order_change` (the PLC restarts at 0 with each order), else it is only the baseline.
  A reading loaded twice adds 0 the second time, and a lost reading is covered by the next one.
* `increment` counters: each reading's values are added as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from ponte.linefiles.declaration import Counters, LineFormat
from ponte.linefiles.schemas import KEY, lines_schema, rejects_schema
from ponte.targets.postgres import ddl
from ponte.targets.postgres.settings import LoaderSettings

VIEW_COLUMNS = {
    "ordem_producao": "Production order.",
    "linha": "Production line.",
    "produzidos": "Units produced (counted good) in the order on this line, all sensors together.",
    "rejeitados": "Units rejected in the order on this line, all sensors together.",
    "leituras": "Readings (lines) loaded for the order on this line.",
    "sensores": "Sensors that sent readings for the order on this line.",
    "primeira_leitura": "First reading of the order on this line.",
    "ultima_leitura": "Last reading of the order on this line.",
    "ativa": "The order had a reading in the last active_minutes (taps/keyence.yml counters.active_minutes).",
}


@dataclass(frozen=True)
class Created:
    """What `ensure` created or found: "schema.table" per stream and "schema.view" per view."""

    tables: dict[str, str]
    views: list[str]


def ensure(settings: LoaderSettings, fmt: LineFormat) -> Created:
    """Create or evolve the two tables, then create or replace the views (one transaction for the views)."""

    tables: dict[str, str] = {}
    views: list[str] = []
    with psycopg.connect(settings.conninfo, autocommit=False) as conn:
        plans = {}
        for stream, schema in ((fmt.lines_stream, lines_schema(fmt)), (fmt.rejects_stream, rejects_schema())):
            plan, _ = ddl.prepare_table(conn, settings, stream, schema, KEY)
            plans[stream] = plan
            tables[stream] = f"{plan.schema}.{plan.table}"
        if fmt.counters is not None:
            plan = plans[fmt.lines_stream]
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ponte.views.{plan.schema}",))
            indexes, views_sql = view_statements(plan.schema, plan.table, fmt.counters)
            for statement in indexes:
                conn.execute(statement)
            for view, query, comment in views_sql:
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(view, query))
                except psycopg.errors.InvalidTableDefinition:  # its columns changed: replace it for real
                    conn.execute(sql.SQL("DROP VIEW {}").format(view))
                    conn.execute(sql.SQL("CREATE VIEW {} AS {}").format(view, query))
                conn.execute(comment)
                for column, text in VIEW_COLUMNS.items():
                    conn.execute(
                        sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(view, sql.Identifier(column), sql.Literal(text))
                    )
            conn.commit()
            views = [f"{plan.schema}.{fmt.counters.view}", f"{plan.schema}.{fmt.counters.active_view}"]
    return Created(tables, views)


ViewSql = tuple[sql.Composable, sql.Composable, sql.Composable]


def view_statements(schema: str, table: str, counters: Counters) -> tuple[list[sql.Composable], list[ViewSql]]:
    """The indexes, and (view name, query, comment) of both views."""
    ident = sql.Identifier
    source = sql.SQL("{}.{}").format(ident(schema), ident(table))
    columns = {role: ident(getattr(counters, role)) for role in ("read_at", "order", "line", "sensor")}
    by_order = sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({order}, {line}, {sensor}, {read_at})").format(
        ident(f"{table}_por_ordem_idx"[:63]), source, **columns
    )
    by_time = sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({read_at})").format(
        ident(f"{table}_por_hora_idx"[:63]), source, **columns
    )
    everything = sql.SQL(
        "SELECT t.*, t.ultima_leitura >= now() - make_interval(mins => {}) AS ativa FROM ({}) t"
    ).format(sql.Literal(counters.active_minutes), _accumulate(source, counters, sql.SQL("")))
    only_active = sql.SQL(
        "SELECT p.*, true AS ativa FROM (SELECT DISTINCT {order} AS o, {line} AS l FROM {source} "
        "WHERE {read_at} >= now() - make_interval(mins => {minutes})) a "
        "CROSS JOIN LATERAL ({body}) p"
    ).format(
        source=source,
        minutes=sql.Literal(counters.active_minutes),
        body=_accumulate(source, counters, sql.SQL("WHERE {order} = a.o AND {line} = a.l").format(**columns)),
        **columns,
    )
    views = []
    for name, query in ((counters.view, everything), (counters.active_view, only_active)):
        view = sql.SQL("{}.{}").format(ident(schema), ident(name))
        comment = sql.SQL("COMMENT ON VIEW {} IS {}").format(view, sql.Literal(_comment(name, table, counters)))
        views.append((view, query, comment))
    return [by_order, by_time], views


def _accumulate(source: sql.Composable, counters: Counters, where: sql.Composable) -> sql.Composable:
    """Per (order, line): units produced and rejected, readings, sensors, first and last reading."""
    ident = sql.Identifier
    window = sql.SQL("PARTITION BY {order}, {line}, {sensor} ORDER BY {read_at}, _file_id, _file_offset").format(
        order=ident(counters.order),
        line=ident(counters.line),
        sensor=ident(counters.sensor),
        read_at=ident(counters.read_at),
    )
    deltas = [_delta(ident(getattr(counters, role)), counters) for role in ("produced", "rejected")]
    return sql.SQL(
        "SELECT ordem_producao, linha, sum(d_produzidos)::bigint AS produzidos, "
        "sum(d_rejeitados)::bigint AS rejeitados, count(*) AS leituras, count(DISTINCT sensor) AS sensores, "
        "min(lido_em) AS primeira_leitura, max(lido_em) AS ultima_leitura "
        "FROM (SELECT {order} AS ordem_producao, {line} AS linha, {sensor} AS sensor, {read_at} AS lido_em, "
        "{produced} AS d_produzidos, {rejected} AS d_rejeitados FROM {source} {where} WINDOW w AS ({window})) r "
        "GROUP BY ordem_producao, linha"
    ).format(
        order=ident(counters.order),
        line=ident(counters.line),
        sensor=ident(counters.sensor),
        read_at=ident(counters.read_at),
        produced=deltas[0],
        rejected=deltas[1],
        source=source,
        where=where,
        window=window,
    )


def _delta(column: sql.Composable, counters: Counters) -> sql.Composable:
    if counters.mode == "increment":
        return column
    first = column if counters.resets_on_order_change else sql.SQL("0")
    return sql.SQL(
        "CASE WHEN lag({c}) OVER w IS NULL THEN {first} WHEN {c} >= lag({c}) OVER w THEN {c} - lag({c}) OVER w "
        "ELSE {c} END"
    ).format(c=column, first=first)


def _comment(name: str, table: str, counters: Counters) -> str:
    scope = "active orders only" if name == counters.active_view else "every order"
    return (
        f"Units produced and rejected per production order and line ({scope}), accumulated from {table} "
        f"({counters.mode} counters{', restarting with each order' if counters.resets_on_order_change else ''}). "
        f"ativa: a reading in the last {counters.active_minutes} minutes. Created by ponte follow."
    )
