"""A pipeline's page (/pipelines/<name>): rows per stream (its table, rows now in PostgreSQL, the last run's counts,
the last successful refresh), the run history filtered by trigger, status and date (keyset pages on
`pipeline_runs (pipeline, started_at)`), each run linking to its live log, and the full refresh with a confirmation.

Tables come from target-postgres's run log (`<PONTE_DLQ_SCHEMA>.sync_runs`, where the letters are too, at
PONTE_DLQ_DSN or the service's database): a pipeline whose loader keeps no run log there shows its streams
without tables."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ponte.core.errors import PonteError
from ponte.core.meltano_project import MeltanoProject
from ponte.runs.dead_letters import store_settings
from ponte.runs.outcome import STATUSES, TRIGGERS
from ponte.service.database import connect
from ponte.service.panel.formatting import ZONE, status, trigger
from ponte.service.panel.overview import pipelines
from ponte.service.panel.rendering import render
from ponte.service.panel.session import checked_form, read_session
from ponte.service.runs import PipelineBusy, RunStart, ServiceStopping, UnknownPipeline

logger = logging.getLogger("ponte.service.panel")
PAGE_SIZE = 25
RECENT_RUNS = 200  # the runs whose streams say when each stream last succeeded and which table it fills
EXACT_COUNT_UP_TO = 30_000  # rows per table counted exactly; bigger tables show PostgreSQL's estimate


@dataclass
class StreamRow:
    stream: str
    table: str | None = None
    rows: int | None = None
    estimated: bool = False
    inserted: int | None = None
    updated: int | None = None
    deleted: int | None = None
    last_success: datetime | None = None


def _check_name(request: Request, name: str) -> None:
    """404 for a name that is no pipeline of the project (asked only of a pipeline without runs: reading
    meltano.yml costs more than the rest of the page)."""
    if name not in pipelines(MeltanoProject.load(request.app.state.service.settings.project)):
        raise HTTPException(404, "Pipeline não encontrado.")


async def _runs_part(
    service: Any, conn: psycopg.AsyncConnection, name: str
) -> tuple[dict[str, Any] | None, dict[str, datetime], list[str]]:
    """The last run, each stream's last successful refresh and the recent run ids (for their tables)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        service.tables.q("SELECT * FROM {runs} WHERE pipeline = %s ORDER BY started_at DESC, run_id DESC LIMIT 1"),
        (name,),
    )
    last = await cur.fetchone()
    await cur.execute(
        service.tables.q(
            "SELECT run_id::text, started_at, finished_at, streams FROM {runs} WHERE pipeline = %s "
            "ORDER BY started_at DESC, run_id DESC LIMIT %s"
        ),
        (name, RECENT_RUNS),
    )
    recent = await cur.fetchall()
    successes: dict[str, datetime] = {}
    for run in recent:  # newest first: the first success seen per stream is its last
        for item in run["streams"] or []:
            if item.get("status") == "succeeded":
                successes.setdefault(item["stream"], run["finished_at"] or run["started_at"])
    return last, successes, [run["run_id"] for run in recent]


async def _tables_part(
    service: Any, service_conn: psycopg.AsyncConnection, run_ids: list[str]
) -> dict[str, tuple[str, int | None, bool]]:
    """stream → (table, rows now, estimated?) from target-postgres's run log of those runs; {} without one."""
    _spec, dsn, schema = store_settings(service.settings.env, service.dsn)
    if not dsn or not run_ids:
        return {}
    found: dict[str, tuple[str, int | None, bool]] = {}
    try:
        async with contextlib.AsyncExitStack() as stack:
            conn = service_conn if dsn == service.dsn else await stack.enter_async_context(await connect(dsn))
            cur = await conn.execute(
                sql.SQL(
                    "SELECT DISTINCT ON (stream) stream, target_table FROM {} WHERE run_id = ANY(%s::uuid[]) "
                    "ORDER BY stream, started_at DESC"
                ).format(sql.Identifier(schema, "sync_runs")),
                (run_ids,),
            )
            for stream, table in await cur.fetchall():
                found[stream] = (table, *(await row_count(conn, table)))
    except psycopg.Error as exc:  # no run log there (another loader, another database): streams without tables
        logger.info("pipeline page: no tables from %s.sync_runs: %s", schema, str(exc).splitlines()[0])
    return found


async def row_count(conn: psycopg.AsyncConnection, table: str) -> tuple[int | None, bool]:
    """Rows in `schema.table`: counted when PostgreSQL's estimate (reltuples; the statistics' live rows for a table
    never analyzed) is under EXACT_COUNT_UP_TO — ANALYZE samples up to 30,000 rows, so up to there it is the
    count anyway — else that estimate."""
    schema, _, name = table.partition(".")
    cur = await conn.execute(
        "SELECT c.reltuples::bigint, COALESCE(s.n_live_tup, 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    )
    row = await cur.fetchone()
    if row is None:
        return None, False
    estimate = row[0] if row[0] >= 0 else row[1]
    if estimate >= EXACT_COUNT_UP_TO:
        return int(estimate), True
    cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name)))
    counted = await cur.fetchone()
    return int(counted[0]) if counted else None, False


def _streams(last: dict[str, Any] | None, successes: dict[str, datetime], tables: dict[str, Any]) -> list[StreamRow]:
    rows: dict[str, StreamRow] = {}
    for item in (last or {}).get("streams") or []:
        row = rows.setdefault(item["stream"], StreamRow(item["stream"]))
        row.inserted, row.updated, row.deleted = (int(item.get(k) or 0) for k in ("inserted", "updated", "deleted"))
    for stream in [*successes, *tables]:
        rows.setdefault(stream, StreamRow(stream))
    for row in rows.values():
        row.last_success = successes.get(row.stream)
        if row.stream in tables:
            row.table, row.rows, row.estimated = tables[row.stream]
    return sorted(rows.values(), key=lambda row: row.stream)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _history_filter(request: Request) -> dict[str, Any]:
    params = request.query_params
    return {
        "gatilho": params.get("gatilho") if params.get("gatilho") in TRIGGERS else "",
        "situacao": params.get("situacao") if params.get("situacao") in STATUSES else "",
        "de": _day(params.get("de")),
        "ate": _day(params.get("ate")),
        "antes": params.get("antes") or "",
    }


async def _history(
    service: Any, conn: psycopg.AsyncConnection, name: str, wanted: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of runs, newest first; the keyset (`started_at|run_id`) of the next page or None."""
    where, values = ["pipeline = %s"], [name]
    if wanted["gatilho"]:
        where.append("trigger = %s")
        values.append(wanted["gatilho"])
    if wanted["situacao"]:
        where.append("status = %s")
        values.append(wanted["situacao"])
    if wanted["de"]:
        where.append("started_at >= %s")
        values.append(datetime.combine(wanted["de"], time(), ZONE))
    if wanted["ate"]:
        where.append("started_at < %s")
        values.append(datetime.combine(wanted["ate"] + timedelta(days=1), time(), ZONE))
    at, _, run_id = wanted["antes"].partition("|")
    try:
        values += [datetime.fromisoformat(at), run_id] if at and run_id else []
        where += ["(started_at, run_id) < (%s, %s::uuid)"] if at and run_id else []
    except ValueError:
        pass
    query = "SELECT * FROM {runs} WHERE " + " AND ".join(where) + " ORDER BY started_at DESC, run_id DESC LIMIT %s"
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(service.tables.q(query), [*values, PAGE_SIZE + 1])
    rows = await cur.fetchall()
    following = None
    if len(rows) > PAGE_SIZE:
        following = f"{rows[PAGE_SIZE - 1]['started_at'].isoformat()}|{rows[PAGE_SIZE - 1]['run_id']}"
    return rows[:PAGE_SIZE], following


def _records(run: dict[str, Any]) -> int:
    return sum(int(s.get("inserted") or 0) + int(s.get("updated") or 0) for s in run.get("streams") or [])


async def page(request: Request) -> Response:
    service = request.app.state.service
    name = request.path_params["name"]
    wanted = _history_filter(request)
    async with await connect(service.dsn) as conn:
        last, successes, run_ids = await _runs_part(service, conn, name)
        if last is None:
            _check_name(request, name)
        tables = await _tables_part(service, conn, run_ids)
        history, following = await _history(service, conn, name, wanted)
    query = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in wanted.items() if v and k != "antes"}
    return render(
        request, "pipeline.html", nome=name, endereco=quote(name), last=last, streams=_streams(last, successes, tables),
        historico=history, filtro=wanted, gatilhos={t: trigger(t) for t in TRIGGERS},
        situacoes={s: status(s) for s in STATUSES}, registros=_records, aviso=request.query_params.get("aviso"),
        mais=f"?{urlencode({**query, 'antes': following})}" if following else None,
    )  # fmt: skip


async def full_refresh(request: Request) -> Response:
    """First POST: the confirmation (what a full refresh does); the confirmed POST starts the run with full_refresh."""
    form = await checked_form(request)
    service = request.app.state.service
    name = request.path_params["name"]
    _check_name(request, name)
    if form.get("confirmado") != "sim":
        return render(request, "pipeline_recarga.html", nome=name, endereco=quote(name))
    try:
        run_id = await service.runs.start_run(RunStart(name.split(), "manual", full_refresh=True))
    except (UnknownPipeline, PipelineBusy, ServiceStopping, PonteError) as exc:
        message = "Já existe uma execução em andamento." if isinstance(exc, PipelineBusy) else str(exc)
        return RedirectResponse(f"/pipelines/{quote(name)}?{urlencode({'aviso': message})}", 303)
    logger.info("panel full refresh user=%s pipeline=%s run_id=%s", read_session(request).get("user"), name, run_id)
    return RedirectResponse(f"/execucoes/{run_id}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/pipelines/{name}", page, methods=["GET"]),
        Route("/pipelines/{name}/recarga-completa", full_refresh, methods=["POST"]),
    ]
