"""The JSON API: runs (start, list, one, its log as Server-Sent Events) and schedules (list, pause, resume).

Every /api route needs `Authorization: Bearer <PONTE_SERVE_TOKEN>` when a token is set (the service refuses to
listen beyond loopback without one). Errors are JSON `{"error": "<sentence>"}` with the usual status codes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ponte.core.errors import PonteError
from ponte.service.database import connect
from ponte.service.runs import PipelineBusy, RunStart, ServiceStopping, UnknownPipeline

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
LOG_POLL_SECONDS = 0.25
RUN_COLUMNS = ("run_id", "pipeline", "environment", "trigger", "status", "started_at", "finished_at", "exit_code",
               "failed_plugin", "error", "dead_letters", "host")  # fmt: skip


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def authorized(request: Request) -> bool:
    token = request.app.state.service.settings.token
    if not token:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _run(row: dict[str, Any], full: bool = False) -> dict[str, Any]:
    data = {k: _json(row.get(k)) for k in RUN_COLUMNS}
    if full:
        data["plugins"] = row.get("plugins") or []
        data["streams"] = row.get("streams") or []
        data["command"] = row.get("command")
    data["log_url"] = f"/api/runs/{data['run_id']}/log"
    return data


async def post_run(request: Request) -> Response:
    """Start a run: {"job": name} or {"pipeline": [plugins...]} / {"tap": .., "target": ..}; optional
    "environment", "select" (streams), "full_refresh". 202 with the run id."""
    try:
        body = await request.json()
    except ValueError:
        return error(400, 'the body must be JSON, e.g. {"job": "sienge-to-postgres"}')
    if not isinstance(body, dict):
        return error(400, "the body must be a JSON object")
    if body.get("job"):
        pipeline = [str(body["job"])]
    elif body.get("pipeline"):
        raw = body["pipeline"]
        pipeline = raw.split() if isinstance(raw, str) else [str(p) for p in raw]
    elif body.get("tap") and body.get("target"):
        pipeline = [str(body["tap"]), str(body["target"])]
    else:
        return error(
            400, 'name a "job", or a "pipeline" (e.g. ["tap-sienge", "target-postgres"]), or a "tap" and "target"'
        )
    select = body.get("select") or []
    if isinstance(select, str):
        select = [s.strip() for s in select.split(",") if s.strip()]
    start = RunStart(
        pipeline, "manual", environment=body.get("environment") or None, select=tuple(str(s) for s in select),
        full_refresh=bool(body.get("full_refresh")),
    )  # fmt: skip
    service = request.app.state.service
    try:
        run_id = await service.runs.start_run(start)
    except UnknownPipeline as exc:
        return error(400, str(exc))
    except PipelineBusy as exc:
        return error(409, str(exc))
    except ServiceStopping as exc:
        return error(503, str(exc))
    except PonteError as exc:
        return error(400, str(exc))
    return JSONResponse({"run_id": run_id, "status": "starting", "trigger": "manual", "pipeline": pipeline,
                         "url": f"/api/runs/{run_id}", "log_url": f"/api/runs/{run_id}/log"}, status_code=202)  # fmt: skip


async def list_runs(request: Request) -> Response:
    """`?pipeline=&status=&trigger=&since=&limit=&before=` newest first; `next` names the following page."""
    service = request.app.state.service
    params = request.query_params
    where, values = [], []
    for name in ("pipeline", "status", "trigger", "environment"):
        if params.get(name):
            where.append(f"{name} = %s")
            values.append(params[name])
    for name, op in (("since", ">="), ("before", "<")):
        if params.get(name):
            try:
                values.append(datetime.fromisoformat(params[name]))
            except ValueError:
                return error(400, f"{name} must be an ISO 8601 time, e.g. 2026-12-01T00:00:00-03:00")
            where.append(f"started_at {op} %s")
    try:
        limit = min(MAX_PAGE_SIZE, max(1, int(params.get("limit") or PAGE_SIZE)))
    except ValueError:
        return error(400, "limit must be a number")
    query = "SELECT * FROM {runs}" + (" WHERE " + " AND ".join(where) if where else "")
    query += " ORDER BY started_at DESC, run_id DESC LIMIT %s"
    async with await connect(service.dsn) as conn:
        conn.row_factory = dict_row
        cur = await conn.execute(service.tables.q(query), [*values, limit + 1])
        rows = await cur.fetchall()
    page = [_run(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = str(request.url.include_query_params(before=page[-1]["started_at"]))
    return JSONResponse({"runs": page, "next": following})


async def _row(service: Any, run_id: str) -> dict[str, Any] | None:
    async with await connect(service.dsn) as conn:
        conn.row_factory = dict_row
        cur = await conn.execute(service.tables.q("SELECT * FROM {runs} WHERE run_id = %s"), (run_id,))
        return await cur.fetchone()


def _run_id(request: Request) -> str | None:
    try:
        return str(uuid.UUID(request.path_params["run_id"]))
    except ValueError:
        return None


async def get_run(request: Request) -> Response:
    service = request.app.state.service
    run_id = _run_id(request)
    if run_id is None:
        return error(404, "no such run (run ids are UUIDs)")
    row = await _row(service, run_id)
    if row is None:
        active = service.runs.active.get(run_id)
        if active is None:
            return error(404, f"no run {run_id}")
        row = {"run_id": run_id, "pipeline": " ".join(active.start.pipeline), "trigger": active.start.trigger,
               "environment": active.start.environment, "status": "starting", "started_at": active.started_at}  # fmt: skip
    return JSONResponse(_run(row, full=True))


async def _stored_lines(service: Any, run_id: str, after: int) -> list[tuple[int, str]]:
    async with await connect(service.dsn) as conn:
        cur = await conn.execute(
            service.tables.q("SELECT line_no, line FROM {log} WHERE run_id = %s AND line_no > %s ORDER BY line_no"),
            (run_id, after),
        )
        return [(int(n), str(line)) for n, line in await cur.fetchall()]


def _event(number: int, line: str) -> str:
    return f"id: {number}\ndata: {line}\n\n"


async def _sse(service: Any, run_id: str, after: int) -> AsyncIterator[str]:
    """Lines as they come while the run is running (here: from memory; on another instance: from the table),
    then an `end` event with the run's status."""
    active = service.runs.active.get(run_id)
    if active is not None:
        lines, queue = active.listen()
        try:
            number = 0
            for number, line in enumerate(lines, start=1):
                if number > after:
                    yield _event(number, line)
            while (line := await queue.get()) is not None:
                number += 1
                if number > after:
                    yield _event(number, line)
        finally:
            active.listeners.discard(queue)
    else:
        while True:
            row = await _row(service, run_id)
            for number, line in await _stored_lines(service, run_id, after):
                after = number
                yield _event(number, line)
            if row is None or row["status"] != "running":
                break
            await asyncio.sleep(LOG_POLL_SECONDS)  # another instance runs it: poll its stored lines
    row = await _row(service, run_id)
    yield f"event: end\ndata: {json.dumps({'status': row['status'] if row else None})}\n\n"


async def run_log(request: Request) -> Response:
    """The run's output: Server-Sent Events (`Accept: text/event-stream`; `Last-Event-ID` resumes), else text."""
    service = request.app.state.service
    run_id = _run_id(request)
    if run_id is None or (run_id not in service.runs.active and await _row(service, run_id) is None):
        return error(404, f"no run {request.path_params['run_id']}")
    if "text/event-stream" in request.headers.get("accept", ""):
        after = (
            int(request.headers.get("last-event-id") or 0)
            if (request.headers.get("last-event-id") or "").isdigit()
            else 0
        )
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(_sse(service, run_id, after), media_type="text/event-stream", headers=headers)
    lines = await _stored_lines(service, run_id, 0)
    return PlainTextResponse("".join(f"{line}\n" for _, line in lines))


async def list_schedules(request: Request) -> Response:
    described = await request.app.state.service.scheduler.describe()
    return JSONResponse({"schedules": list(described.values())})


async def pause(request: Request) -> Response:
    return await _set_paused(request, True)


async def resume(request: Request) -> Response:
    return await _set_paused(request, False)


async def _set_paused(request: Request, paused: bool) -> Response:
    name = request.path_params["name"]
    described = await request.app.state.service.scheduler.set_paused(name, paused)
    if described is None:
        return error(404, f"no schedule {name!r} in the project's meltano.yml")
    return JSONResponse(described)


def routes() -> list[Route]:
    return [
        Route("/api/runs", post_run, methods=["POST"]),
        Route("/api/runs", list_runs, methods=["GET"]),
        Route("/api/runs/{run_id}", get_run, methods=["GET"]),
        Route("/api/runs/{run_id}/log", run_log, methods=["GET"]),
        Route("/api/schedules", list_schedules, methods=["GET"]),
        Route("/api/schedules/{name}/pause", pause, methods=["POST"]),
        Route("/api/schedules/{name}/resume", resume, methods=["POST"]),
    ]
