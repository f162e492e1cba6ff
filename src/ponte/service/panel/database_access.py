"""Database access (/banco): the read-only connection string for BI tools and the tables with row counts."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
