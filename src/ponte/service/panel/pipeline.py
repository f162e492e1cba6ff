"""A pipeline's page (/pipelines/<name>): rows per stream, run history with filters, full refresh."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
