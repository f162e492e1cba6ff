"""Schedules (/agendamentos: pause/resume, cron in words, next runs) and webhook events (/eventos)."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
