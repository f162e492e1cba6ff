"""Connections (/conexoes): a settings form per plugin, values encrypted with PONTE_SECRET_KEY, "Testar conexão", Bling's "Autorizar"."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
