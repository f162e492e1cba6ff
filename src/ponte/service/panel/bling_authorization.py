"""Bling's "Autorizar" on the Connections page: the OAuth authorization-code flow through the panel.

The button (a POST with the CSRF token) sends the browser to Bling's authorize URL with a fresh `state` kept in
the operator's session; Bling sends it back to `/conexoes/autorizacao/retorno` (the redirect URL to register in the
Bling app) with a code, which is exchanged at once and the token pair saved in the tap's own token store — the one
`ponte auth bling` and the runs use. The page then shows each account's token expiry and last rotation, never a token.

The session cookie is SameSite=Strict, so the browser leaves it out when Bling's site sends it back; the callback
is open and answers such a visit with a page that reloads itself from this site, which then carries the cookie.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ponte.auth.authorize import authorize_url
from ponte.auth.oauth2 import OAuth2Auth
from ponte.core.errors import PonteError
from ponte.core.setting_text import read_setting
from ponte.service.connection_settings import for_service
from ponte.service.panel.session import checked_form, read_session, set_session
from ponte.service.plugin_settings import PluginDefinition, Resolved, active_environment, plugins, resolve
from ponte.tap.account_auth import account_authenticator, account_names

logger = logging.getLogger("ponte.service.panel")
CALLBACK = "/conexoes/autorizacao/retorno"
SOURCES = {"tap-bling": "bling"}  # plugins whose accounts the panel can authorize → their declaration


def supports(plugin: PluginDefinition) -> bool:
    return plugin.name in SOURCES


def tap_config(service: Any, plugin: PluginDefinition, values: dict[str, Resolved]) -> dict[str, Any]:
    """The tap's settings as it reads them (kinds applied), a relative token file under the project."""
    config: dict[str, Any] = {}
    for setting in plugin.settings:
        value = values[setting.name].value
        if value not in (None, ""):
            config[setting.name] = read_setting(setting.kind, value, setting.name)
    path = config.get("token_store_path")
    if isinstance(path, str) and not Path(path).is_absolute():
        config["token_store_path"] = str(Path(service.settings.project) / path)
    return config


async def _values(service: Any, plugin: PluginDefinition) -> dict[str, Resolved]:
    saved = await for_service(service).values(plugin.name)
    environment = active_environment(service.settings.project, service.settings.env)
    return resolve(service.settings.project, plugin, service.settings.env, saved.get(plugin.name, {}), environment)


def _authenticator(service: Any, plugin: PluginDefinition, values: dict[str, Resolved], account: str) -> OAuth2Auth:
    auth, _redactor, _uri = account_authenticator(
        SOURCES[plugin.name], tap_config(service, plugin, values), account, label=f"painel {plugin.name}"
    )
    return auth


async def accounts(service: Any, plugin: PluginDefinition, values: dict[str, Resolved]) -> list[dict[str, Any]]:
    """Each configured account with its tokens' expiry and last rotation (epoch seconds), or why they are unknown."""

    def read() -> list[dict[str, Any]]:
        try:
            names = account_names(SOURCES[plugin.name], tap_config(service, plugin, values))
        except PonteError as exc:
            return [{"name": "?", "error": str(exc)}]
        found = []
        for name in names:
            try:
                record = _authenticator(service, plugin, values, name).stored_record()
            except PonteError as exc:
                found.append({"name": name, "error": str(exc)})
                continue
            found.append({"name": name, "expires_at": record.expires_at if record else None,
                          "rotated_at": record.updated_at if record else None,
                          "refresh": bool(record and record.refresh_token)})  # fmt: skip
        return found

    return await asyncio.to_thread(read)


async def authorize(request: Request) -> Response:
    """Send the browser to the authorize URL with a state bound to this session."""
    form = await checked_form(request)
    service = request.app.state.service
    plugin = plugins(service.settings.project).get(request.path_params["plugin"])
    if plugin is None or not supports(plugin):
        raise HTTPException(404, "Este plugin não tem autorização pelo painel.")
    account = form.get("conta", "")
    try:
        auth = _authenticator(service, plugin, await _values(service, plugin), account)
    except PonteError as exc:
        raise HTTPException(400, f"Não foi possível autorizar a conta {account}: {exc}") from None
    if not auth.config.authorize_url:
        raise HTTPException(400, f"{plugin.name} não tem authorize_url configurada.")
    state = secrets.token_hex(16)
    session = read_session(request)
    session["oauth"] = {"state": state, "plugin": plugin.name, "account": account}
    url = authorize_url(str(auth.config.authorize_url), str(auth.config.client_id), state)
    logger.info("panel authorization started user=%s plugin=%s account=%s", session.get("user"), plugin.name, account)
    response = RedirectResponse(url, status_code=303)
    set_session(request, response, session)
    return response


RELOAD = """<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={url}"><title>Autorização · Ponte</title></head>
<body><p>Voltando ao painel… <a href="{url}">continuar</a></p></body></html>"""


async def callback(request: Request) -> Response:
    """Bling's redirect: check the state against the session, exchange the code, save the tokens in the store."""
    session = read_session(request)
    query = dict(request.query_params)
    if not session.get("user"):
        if query.get("recarregado"):
            return RedirectResponse("/login", status_code=303)
        url = CALLBACK + "?" + urlencode({**query, "recarregado": "1"})
        return HTMLResponse(RELOAD.format(url=url.replace("&", "&amp;")), headers={"Cache-Control": "no-store"})
    pending = session.get("oauth") or {}
    if not pending.get("state") or not secrets.compare_digest(str(query.get("state", "")), str(pending["state"])):
        raise HTTPException(400, "Autorização recusada: o parâmetro state não é o desta sessão. Comece de novo.")
    service = request.app.state.service
    plugin = plugins(service.settings.project).get(str(pending.get("plugin")))
    if plugin is None or not supports(plugin):
        raise HTTPException(400, "Autorização de um plugin que não existe mais.")
    account = str(pending.get("account") or "")
    session.pop("oauth", None)
    target = f"/conexoes/{plugin.name}"
    if query.get("error"):
        description = " ".join(str(query.get("error_description") or "").split())[:300]
        return _back(request, session, target, f"Autorização falhou — {query['error']}: {description}".strip(": "))
    values = await _values(service, plugin)

    def exchange() -> None:
        auth = _authenticator(service, plugin, values, account)
        auth.exchange_code(str(query.get("code") or "").strip())

    try:
        await asyncio.to_thread(exchange)
    except PonteError as exc:  # the auth layer's messages carry no token
        logger.warning("panel authorization failed plugin=%s account=%s: %s", plugin.name, account, exc)
        return _back(request, session, target, f"Autorização da conta {account} falhou — {exc}")
    logger.info("panel authorization done user=%s plugin=%s account=%s", session.get("user"), plugin.name, account)
    return _back(request, session, target, f"Conta {account} autorizada.", ok=True)


def _back(request: Request, session: dict[str, Any], target: str, text: str, ok: bool = False) -> Response:
    """To the plugin's page, the outcome kept in the session (a link cannot forge it), shown once."""
    session["oauth_result"] = {"ok": ok, "text": text}
    response = RedirectResponse(target, status_code=303)
    set_session(request, response, session)
    return response


def take_result(request: Request) -> dict[str, Any] | None:
    """The outcome of the last authorization, removed from the session (the caller writes the session back)."""
    return read_session(request).get("oauth_result")


def routes() -> list[BaseRoute]:
    return [
        Route(CALLBACK, callback, methods=["GET"]),
        Route("/conexoes/{plugin}/autorizar", authorize, methods=["POST"]),
    ]
