"""Schedules (/agendamentos): each schedule of meltano.yml with its interval in words, its next three runs and a
pause/resume form. The scheduler owns the state (`<schema>.schedules.paused`, so a pause survives a restart and
holds on every instance); this page only reads `Scheduler.describe()` and calls `Scheduler.set_paused`, as the
API's /api/schedules/<name>/pause does. The webhook events page (/eventos) lives in `webhook_events`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ponte.service.panel import webhook_events
from ponte.service.panel.cron_words import describe
from ponte.service.panel.rendering import render
from ponte.service.panel.session import checked_form, read_session

logger = logging.getLogger("ponte.service.panel")

UPCOMING = 3


async def schedule_rows(service: Any) -> list[dict[str, Any]]:
    """What the page shows per schedule: the scheduler's description, the words and the next runs."""
    scheduler = service.scheduler
    rows = []
    for name, described in (await scheduler.describe()).items():
        schedule = scheduler.schedules[name]
        first = datetime.fromisoformat(described["next_fire_at"]) if described["next_fire_at"] else None
        rows.append({
            **described,
            "words": describe(schedule.interval),
            "upcoming": schedule.upcoming(first, UPCOMING),
            "manual": schedule.trigger is None,
            "pipeline_text": " ".join(schedule.pipeline),
        })  # fmt: skip
    return sorted(rows, key=lambda row: row["name"])


async def schedules_page(request: Request) -> Response:
    rows = await schedule_rows(request.app.state.service)
    return render(request, "agendamentos.html", agendamentos=rows)


async def _set_paused(request: Request, paused: bool) -> Response:
    await checked_form(request)
    name = request.path_params["name"]
    described = await request.app.state.service.scheduler.set_paused(name, paused)
    if described is None:
        raise HTTPException(404, f"Não há agendamento “{name}” no meltano.yml.")
    logger.info("panel schedule %s user=%s schedule=%s", "paused" if paused else "resumed",
                read_session(request).get("user"), name)  # fmt: skip
    return RedirectResponse("/agendamentos", status_code=303)


async def pause(request: Request) -> Response:
    return await _set_paused(request, True)


async def resume(request: Request) -> Response:
    return await _set_paused(request, False)


def routes() -> list[BaseRoute]:
    return [
        Route("/agendamentos", schedules_page, methods=["GET"]),
        Route("/agendamentos/{name}/pausar", pause, methods=["POST"]),
        Route("/agendamentos/{name}/retomar", resume, methods=["POST"]),
        *webhook_events.routes(),
    ]
