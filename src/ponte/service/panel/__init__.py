"""The control panel: server-rendered pages (Jinja2, htmx) on the service's own app, for operators logged in
with `ponte panel add-user` accounts. `routes()` and `SessionGate` are what `ponte.service.app` mounts."""

from __future__ import annotations

from ponte.service.panel.pages import error_page, routes
from ponte.service.panel.session import SessionGate

__all__ = ["SessionGate", "error_page", "routes"]
