"""Dead letters (/rejeitados): list with filters, edit the JSON, replay through the target, discard (as `ponte dlq`)."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
