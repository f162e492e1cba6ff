"""The panel's pages: login, overview (one card per pipeline, "Sincronizar agora"), a run with its live log."""

from __future__ import annotations

import logging
import uuid

from psycopg.rows import dict_row
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ponte.core.errors import PonteError
from ponte.service import api
from ponte.service.database import connect
from ponte.service.panel import connections, database_access, dead_letters, pipeline, schedules
from ponte.service.panel.overview import cards
from ponte.service.panel.rendering import HERE, render, templates
from ponte.service.panel.session import checked_form, new_session, read_session, set_session
from ponte.service.panel.users import check_password
from ponte.service.runs import PipelineBusy, RunStart, ServiceStopping, UnknownPipeline

logger = logging.getLogger("ponte.service.panel")


def _address(request: Request) -> str:
    return request.client.host if request.client else "?"


async def login_page(request: Request) -> Response:
    session = read_session(request)
    if session.get("user"):
        return RedirectResponse("/", status_code=303)
    if not session.get("csrf"):
        session = new_session()
    response = HTMLResponse(
        templates.get_template("login.html").render(user=None, csrf=session["csrf"], erro=None, nome="")
    )
    set_session(request, response, session)
    return response


async def login(request: Request) -> Response:
    form = await checked_form(request)
    service = request.app.state.service
    name, password = form.get("nome", "").strip(), form.get("senha", "")
    attempts = service.panel_attempts
    wait = attempts.wait_seconds(name, _address(request))
    if wait:
        logger.warning("panel login refused (rate limit) user=%s address=%s", name, _address(request))
        return render(request, "login.html", 429, erro=f"Muitas tentativas. Tente de novo em {wait:.0f} s.", nome=name)
    async with await connect(service.dsn) as conn:
        ok = await check_password(conn, service.tables, name, password)
    if not ok:
        attempts.failed(name, _address(request))
        logger.warning("panel login failed user=%s address=%s", name, _address(request))
        return render(request, "login.html", 401, erro="Usuário ou senha incorretos.", nome=name)
    attempts.succeeded(name, _address(request))
    logger.info("panel login user=%s address=%s", name, _address(request))
    response = RedirectResponse("/", status_code=303)
    set_session(request, response, new_session(name))  # a fresh CSRF token for the logged-in session
    return response


async def logout(request: Request) -> Response:
    await checked_form(request)
    response = RedirectResponse("/login", status_code=303)
    set_session(request, response, new_session())
    return response


async def overview(request: Request) -> Response:
    found = await cards(request.app.state.service)
    return render(request, "overview.html", cards=found)


async def sync_now(request: Request) -> Response:
    """ "Sincronizar agora": a manual run through the RunManager, then its page with the live log."""
    form = await checked_form(request)
    pipeline = form.get("pipeline", "").split()
    service = request.app.state.service
    try:
        run_id = await service.runs.start_run(RunStart(pipeline, "manual"))
    except (UnknownPipeline, PipelineBusy, ServiceStopping, PonteError) as exc:
        found = await cards(service)
        status = 409 if isinstance(exc, PipelineBusy) else 400
        return render(request, "overview.html", status, cards=found, aviso=str(exc))
    logger.info(
        "panel sync user=%s pipeline=%s run_id=%s", read_session(request).get("user"), " ".join(pipeline), run_id
    )
    return RedirectResponse(f"/execucoes/{run_id}", status_code=303)


async def run_page(request: Request) -> Response:
    service = request.app.state.service
    try:
        run_id = str(uuid.UUID(request.path_params["run_id"]))
    except ValueError:
        raise HTTPException(404, "Execução não encontrada.") from None
    async with await connect(service.dsn) as conn:
        conn.row_factory = dict_row
        cur = await conn.execute(service.tables.q("SELECT * FROM {runs} WHERE run_id = %s"), (run_id,))
        row = await cur.fetchone()
    active = service.runs.active.get(run_id)
    if row is None and active is None:
        raise HTTPException(404, "Execução não encontrada.")
    if row is None:
        assert active is not None
        row = {"run_id": run_id, "pipeline": " ".join(active.start.pipeline), "status": "running",
               "trigger": active.start.trigger, "started_at": active.started_at, "finished_at": None,
               "streams": [], "error": None}  # fmt: skip
    live = active is not None or row["status"] == "running"
    return render(request, "run.html", run=row, live=live)


async def error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith(("/api/", "/webhooks/")):
        return api.error(exc.status_code, str(exc.detail))
    return render(request, "error.html", exc.status_code, mensagem=exc.detail)


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/sair", logout, methods=["POST"]),
        Route("/", overview, methods=["GET"]),
        Route("/sincronizar", sync_now, methods=["POST"]),
        Route("/execucoes/{run_id}", run_page, methods=["GET"]),
        Route("/execucoes/{run_id}/log", api.run_log, methods=["GET"]),  # the API's SSE stream, behind the session
        *pipeline.routes(),
        *connections.routes(),
        *dead_letters.routes(),
        *schedules.routes(),
        *database_access.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
