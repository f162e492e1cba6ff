"""Connections (/conexoes): a settings form per plugin, values encrypted with PONTE_SECRET_KEY, "Testar conexão",
Bling's "Autorizar".

The form is built from the plugin's `settings:` in meltano.yml (ponte.service.plugin_settings). A field holds the
value saved in the panel, never one from `.env` or meltano.yml (those show as its placeholder, with their source),
so saving a form copies nothing into the panel that was not typed there. Sensitive fields never come back: an
empty one keeps the saved value, "Remover" clears it, and the page shows only when it was set.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ponte.service import connection_test
from ponte.service.connection_settings import ConnectionSettings, SavedSetting, for_service
from ponte.service.panel import bling_authorization, formatting
from ponte.service.panel.rendering import render, templates
from ponte.service.panel.session import checked_form, read_session, set_session
from ponte.service.plugin_settings import (
    PluginDefinition,
    Resolved,
    SettingDefinition,
    active_environment,
    as_text,
    plugins,
    resolve,
    source_text,
)

logger = logging.getLogger("ponte.service.panel")
FIELD = "v:"  # form field of a setting: v:<name> (keeps them apart from csrf and the buttons)
templates.filters["quando_epoca"] = lambda epoch: formatting.when(datetime.fromtimestamp(float(epoch), UTC))


def store(request: Request) -> ConnectionSettings:
    return for_service(request.app.state.service)


def _plugin(request: Request) -> PluginDefinition:
    found = plugins(request.app.state.service.settings.project).get(request.path_params["plugin"])
    if found is None:
        raise HTTPException(404, "Plugin não encontrado (ou sem configurações declaradas no meltano.yml).")
    return found


@dataclass
class FieldView:
    """One setting as the form shows it."""

    setting: SettingDefinition
    value: str  # the panel's value (never for a sensitive setting)
    source: str  # where the run's value comes from, in words
    placeholder: str  # the value from elsewhere (non-sensitive) or what keeps it
    saved: SavedSetting | None
    error: str = ""
    checked: bool = False

    @property
    def label(self) -> str:
        return self.setting.label or self.setting.name


@dataclass
class FormState:
    """What a save or a test would use: the panel's values after the form, and the fields' errors."""

    panel: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    typed: dict[str, str] = field(default_factory=dict)  # non-sensitive text as typed, to show it back


def _boolean(value: Any) -> bool:
    return as_text(value).strip().lower() in ("1", "true", "yes", "on")


def checked_value(setting: SettingDefinition, text: str) -> tuple[str, str]:
    """(the value as it is saved, "") or ("", why it is refused): JSON for objects and lists, whole numbers, options."""
    if setting.kind in ("object", "array"):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            return "", f"JSON inválido: {exc.msg} (linha {exc.lineno}, coluna {exc.colno})."
        if setting.kind == "object" and not isinstance(parsed, dict):
            return "", "Esperado um objeto JSON ({…})."
        if setting.kind == "array" and not isinstance(parsed, list):
            return "", "Esperada uma lista JSON ([…])."
        return json.dumps(parsed, ensure_ascii=False), ""
    if setting.kind == "integer":
        try:
            return str(int(text)), ""
        except ValueError:
            return "", "Esperado um número inteiro."
    if setting.kind == "options" and setting.options and text not in {v for v, _ in setting.options}:
        return "", "Opção desconhecida."
    return text, ""


def read_form(
    plugin: PluginDefinition, form: dict[str, str], saved: dict[str, str], others: dict[str, Resolved]
) -> FormState:
    """The panel's values once this form is applied (`others`: each setting's value without the panel)."""
    state = FormState(dict(saved))
    for setting in plugin.settings:
        name = setting.name
        key = FIELD + name
        if setting.kind == "boolean" and not setting.sensitive:
            chosen = "true" if form.get(key) else "false"
            if name in saved or chosen != ("true" if _boolean(others[name].value) else "false"):
                state.panel[name] = chosen  # only a change from the value elsewhere becomes the panel's
            continue
        raw = form.get(key, "")
        if not setting.sensitive:
            state.typed[name] = raw
        text = raw if setting.sensitive else raw.strip()
        if not text:
            if not setting.sensitive:
                state.panel.pop(name, None)  # a sensitive field left empty keeps the saved value
            continue
        value, error = checked_value(setting, text)
        if error:
            state.errors[name] = error
        else:
            state.panel[name] = value
    return state


async def _page(
    request: Request, plugin: PluginDefinition, status_code: int = 200, *, state: FormState | None = None,
    answer: connection_test.ConnectionAnswer | None = None, aviso: str | None = None,
) -> Response:  # fmt: skip
    service = request.app.state.service
    settings = store(request)
    saved_rows = (await settings.saved(plugin.name)).get(plugin.name, {})
    saved, undecryptable = await settings.read(plugin.name)
    environment = active_environment(service.settings.project, service.settings.env)
    others = resolve(service.settings.project, plugin, service.settings.env, {}, environment)
    effective = resolve(service.settings.project, plugin, service.settings.env, saved, environment)
    fields = []
    for setting in plugin.settings:
        name = setting.name
        source = "panel" if name in saved_rows else effective[name].source
        other = others[name]
        if setting.sensitive:
            placeholder = (
                "definida no painel — deixe em branco para manter"
                if name in saved_rows
                else (f"vem de {source_text(other.source, environment)}" if other.value not in (None, "") else "")
            )
            value = ""
        else:
            placeholder = as_text(other.value)
            value = state.typed[name] if state and name in state.typed else saved.get(name, "")
        checked = _boolean(effective[name].value) if setting.kind == "boolean" else False
        if state and setting.kind == "boolean" and name in state.panel:
            checked = _boolean(state.panel[name])
        fields.append(FieldView(setting, value, source_text(source, environment), placeholder, saved_rows.get(name),
                                (state.errors.get(name, "") if state else "") or undecryptable.get(name, ""),
                                checked))  # fmt: skip
    accounts = None
    if bling_authorization.supports(plugin):
        accounts = await bling_authorization.accounts(service, plugin, effective)
    result = bling_authorization.take_result(request)
    response = render(
        request, "conexoes_plugin.html", status_code, plugin=plugin, fields=fields, answer=answer, aviso=aviso,
        salvo=request.query_params.get("salvo") == "1", environment=environment, accounts=accounts,
        autorizacao=result, request_base=str(request.base_url).rstrip("/"),
    )  # fmt: skip
    if result is not None:  # shown once
        session = read_session(request)
        session.pop("oauth_result", None)
        set_session(request, response, session)
    return response


async def index(request: Request) -> Response:
    service = request.app.state.service
    found = plugins(service.settings.project)
    saved = await store(request).saved()
    return render(request, "conexoes.html", plugins=list(found.values()), saved=saved)


async def plugin_page(request: Request) -> Response:
    return await _page(request, _plugin(request))


async def _form_state(request: Request, plugin: PluginDefinition, form: dict[str, str]) -> FormState:
    service = request.app.state.service
    saved, _ = await store(request).read(plugin.name)
    environment = active_environment(service.settings.project, service.settings.env)
    others = resolve(service.settings.project, plugin, service.settings.env, {}, environment)
    return read_form(plugin, form, saved, others)


async def submit(request: Request) -> Response:
    """Save the form, test it ("Testar conexão": the form's values, saved or only typed), or remove one value."""
    form = await checked_form(request)
    plugin = _plugin(request)
    service = request.app.state.service
    user = read_session(request).get("user")
    settings = store(request)
    if form.get("remover"):
        name = form["remover"]
        if plugin.setting(name) is None:
            raise HTTPException(400, "Configuração desconhecida.")
        await settings.remove(plugin.name, name)
        await service.settings_saved()
        logger.info("panel setting removed user=%s plugin=%s setting=%s", user, plugin.name, name)
        return RedirectResponse(f"/conexoes/{plugin.name}?salvo=1", status_code=303)
    state = await _form_state(request, plugin, form)
    if state.errors:
        return await _page(request, plugin, 400, state=state, aviso="Corrija os campos marcados; nada foi salvo.")
    if form.get("acao") == "testar":
        environment = active_environment(service.settings.project, service.settings.env)
        values = resolve(service.settings.project, plugin, service.settings.env, state.panel, environment)
        answer = await connection_test.check(service.settings.project, service.settings.env, plugin, values)
        logger.info("panel connection test user=%s plugin=%s ok=%s", user, plugin.name, answer.ok)
        return await _page(request, plugin, state=state, answer=answer)
    saved, _ = await settings.read(plugin.name)
    changed = {name: value for name, value in state.panel.items() if saved.get(name) != value}
    gone = [name for name in saved if name not in state.panel]
    await settings.save(plugin.name, changed, user)
    for name in gone:
        await settings.remove(plugin.name, name)
    await service.settings_saved()
    logger.info("panel settings saved user=%s plugin=%s changed=%s removed=%s", user, plugin.name,
                ",".join(sorted(changed)) or "-", ",".join(gone) or "-")  # fmt: skip
    return RedirectResponse(f"/conexoes/{plugin.name}?salvo=1", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/conexoes", index, methods=["GET"]),
        *bling_authorization.routes(),
        Route("/conexoes/{plugin}", plugin_page, methods=["GET"]),
        Route("/conexoes/{plugin}", submit, methods=["POST"]),
    ]
