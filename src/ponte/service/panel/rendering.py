"""The panel's templates and `render`: one Jinja2 environment (pt-BR filters) every page module shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ponte.service.panel import formatting
from ponte.service.panel.session import read_session

HERE = Path(__file__).parent

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
templates.filters.update(
    quando=formatting.when, numero=formatting.number, situacao=formatting.status, gatilho=formatting.trigger
)
templates.globals["duracao"] = formatting.duration


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = read_session(request)
    html = templates.get_template(name).render(
        user=session.get("user"), csrf=session.get("csrf", ""), path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
