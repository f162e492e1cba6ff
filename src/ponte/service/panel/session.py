"""The panel's session: a cookie signed with PONTE_SECRET_KEY (itsdangerous) holding the operator's name and a
CSRF token, HttpOnly and SameSite=Strict. Visiting /login gives an anonymous session (a CSRF token only), so the
login form is protected too. `SessionGate` sends every panel request without a logged-in session to /login."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "ponte_sessao"
MAX_AGE_SECONDS = 12 * 3600
MAX_FORM_BYTES = 1_000_000
# /api/* has its bearer token and /webhooks/* their signatures; these never need a panel session. The OAuth callback
# checks the session itself: the browser leaves the Strict cookie out when the provider's site sends it there.
OPEN_PATHS = ("/login", "/healthz", "/conexoes/autorizacao/retorno")
OPEN_PREFIXES = ("/api/", "/webhooks/", "/static/")


def serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="ponte.panel.session")


def read_session(request: Request) -> dict[str, Any]:
    """The request's valid session, or {}."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    try:
        data = serializer(request.app.state.service.settings.secret_key).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return {}
    return data if isinstance(data, dict) else {}


def new_session(user: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"csrf": secrets.token_urlsafe(24)}
    if user:
        data["user"] = user
    return data


def set_session(request: Request, response: Response, data: dict[str, Any]) -> None:
    value = serializer(request.app.state.service.settings.secret_key).dumps(data)
    response.set_cookie(COOKIE, value, max_age=MAX_AGE_SECONDS, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")  # fmt: skip


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form (urlencoded: the panel's forms upload no files), after its CSRF token matched the
    session's (403 otherwise)."""
    body = await request.body() if len(await request.body()) <= MAX_FORM_BYTES else b""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    given = form.get("csrf") or request.headers.get("x-csrf-token") or ""
    expected = str(read_session(request).get("csrf") or "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(403, "Formulário expirado ou sem o token CSRF: recarregue a página e tente de novo.")
    return form


class SessionGate:
    """Every page but /login, /healthz and the static files needs a logged-in session (pure ASGI, so the SSE
    log streams are not buffered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path == "/healthz" or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response: Response | None = None
        if not scope["app"].state.service.panel_enabled:
            response = PlainTextResponse(
                "Painel desativado: defina PONTE_SECRET_KEY (ao menos 16 caracteres aleatórios) e reinicie o serviço.",
                status_code=503,
            )
        elif path in OPEN_PATHS:
            pass
        elif not read_session(request).get("user"):
            if scope.get("method") == "GET":
                response = RedirectResponse("/login", status_code=303)
            else:
                response = PlainTextResponse("Sessão expirada: entre de novo em /login.", status_code=403)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
