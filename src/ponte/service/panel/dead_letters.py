"""Dead letters (/rejeitados): list with filters, edit the JSON, replay through the target, discard — the operations
of `ponte dlq` (ponte.runs.dead_letters), on the store PONTE_DLQ_* name (default: the service's database, schema
`ponte`)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ponte.core.errors import ConfigError, PonteError
from ponte.runlog.dead_letters import STATUSES, DeadLetterNotFound, DeadLetterStore, LetterFilter
from ponte.runs import dead_letters as operations
from ponte.service.panel.rendering import render
from ponte.service.panel.session import checked_form, read_session
from ponte.service.runs import RunStart

logger = logging.getLogger("ponte.service.panel")
PAGE_SIZE = 50
STATUS_TEXT = {"open": "aberto", "replayed": "reenviado", "discarded": "descartado", "all": "todos"}
_opening = threading.Lock()
_using = threading.Lock()  # one operation at a time on the shared connection (its transactions are not per thread)


def _store(request: Request) -> DeadLetterStore:
    """The service's store, opened once (its DDL runs then) and kept on the app; a failed one is opened again."""
    state = request.app.state
    with _opening:
        store = getattr(state, "dead_letter_store", None)
        conn = getattr(store, "_conn", None)
        if store is None or (conn is not None and conn.closed):
            service = state.service
            store = operations.store_from_settings(service.settings.env, service.dsn, service.settings.project)
            state.dead_letter_store = store
        return store


async def _call(request: Request, function: Any, *args: Any, **kwargs: Any) -> Any:
    """A store operation (blocking psycopg or a file lock) on a worker thread."""
    store = await asyncio.to_thread(_store, request)

    def locked() -> Any:
        with _using:
            return function(store, *args, **kwargs)

    return await asyncio.to_thread(locked)


def _own_store(request: Request) -> DeadLetterStore:
    """A store of its own for a replay, which holds it while the target runs (the shared one stays free)."""
    service = request.app.state.service
    return operations.store_from_settings(service.settings.env, service.dsn, service.settings.project)


def _filters(request: Request) -> LetterFilter:
    params = request.query_params
    status = params.get("situacao") or "open"
    if status not in (*STATUSES, "all"):
        status = "open"
    before = params.get("antes") or ""
    return LetterFilter(
        status=status,
        pipeline=params.get("pipeline") or None,
        entity=params.get("entidade") or None,
        reason=(params.get("motivo") or "").strip() or None,
        before_id=int(before) if before.isdigit() else None,
    )


def _query(wanted: LetterFilter, **extra: Any) -> str:
    values = {"situacao": wanted.status, "pipeline": wanted.pipeline, "entidade": wanted.entity,
              "motivo": wanted.reason, **extra}  # fmt: skip
    return urlencode({k: v for k, v in values.items() if v})


def _page(store: DeadLetterStore, wanted: LetterFilter) -> dict[str, Any]:
    letters, following = operations.page(store, wanted, PAGE_SIZE)
    return {"letters": letters, "following": following, "choices": store.choices()}


async def list_page(request: Request) -> Response:
    wanted = _filters(request)
    try:
        found = await _call(request, _page, wanted)
    except PonteError as exc:
        return render(request, "rejeitados.html", 503, erro=str(exc), filtro=wanted, letters=[], choices={},
                      situacoes=STATUS_TEXT)  # fmt: skip
    following = found["following"]
    return render(request, "rejeitados.html", filtro=wanted, situacoes=STATUS_TEXT, letters=found["letters"],
                  choices=found["choices"], aviso=request.query_params.get("aviso"),
                  mais=f"/rejeitados?{_query(wanted, antes=following)}" if following else None)  # fmt: skip


def _letter_id(request: Request) -> int:
    text = request.path_params["letter_id"]
    if not text.isdigit():
        raise HTTPException(404, "Rejeitado não encontrado.")
    return int(text)


async def _show(request: Request, letter_id: int, status_code: int = 200, **context: Any) -> Response:
    try:
        letter = await _call(request, lambda store: store.get(letter_id))
    except DeadLetterNotFound:
        raise HTTPException(404, "Rejeitado não encontrado.") from None
    context.setdefault("registro", json.dumps(letter.record, indent=2, ensure_ascii=False, default=str))
    response = letter.api_response
    shown = None if response is None else response if isinstance(response, str) else json.dumps(
        response, indent=2, ensure_ascii=False, default=str)  # fmt: skip
    return render(request, "rejeitados_item.html", status_code, letter=letter, resposta=shown, situacoes=STATUS_TEXT,
                  alvo=operations.loader_plugin(letter.target), **context)  # fmt: skip


async def letter_page(request: Request) -> Response:
    return await _show(request, _letter_id(request))


def _who(request: Request) -> str:
    return str(read_session(request).get("user") or "?")


async def edit(request: Request) -> Response:
    form = await checked_form(request)
    letter_id = _letter_id(request)
    text = form.get("registro", "")
    try:
        record = operations.parse_record(text)
        await _call(request, operations.edit, letter_id, record)
    except DeadLetterNotFound:
        raise HTTPException(404, "Rejeitado não encontrado.") from None
    except ConfigError as exc:
        message = "O registro precisa ser um objeto JSON válido" if "JSON" in str(exc) else "Não foi possível salvar"
        return await _show(request, letter_id, 400, registro=text, erro=f"{message}: {exc}")
    logger.info("panel dead letter edited user=%s id=%s", _who(request), letter_id)
    return await _show(request, letter_id, aviso="Registro salvo. Reenvie para gravá-lo no destino.")


async def discard(request: Request) -> Response:
    await checked_form(request)
    letter_id = _letter_id(request)
    try:
        await _call(request, operations.discard, [letter_id])
    except DeadLetterNotFound:
        raise HTTPException(404, "Rejeitado não encontrado.") from None
    logger.info("panel dead letter discarded user=%s id=%s", _who(request), letter_id)
    return RedirectResponse(f"/rejeitados?{urlencode({'aviso': f'Rejeitado #{letter_id} descartado.'})}", 303)


def _redacted(service: Any, lines: list[str]) -> list[str]:
    secrets = sorted(service.settings.secrets(), key=len, reverse=True)
    cleaned = []
    for line in lines:
        for secret in secrets:
            line = line.replace(secret, "***")
        cleaned.append(line)
    return cleaned


async def replay(request: Request) -> Response:
    """Through the target, as `ponte dlq replay --through-target`: the letter is marked replayed when it succeeds."""
    await checked_form(request)
    letter_id = _letter_id(request)
    service = request.app.state.service
    try:
        store = await asyncio.to_thread(_own_store, request)
        try:
            letter = await asyncio.to_thread(store.get, letter_id)
            letters = await asyncio.to_thread(
                operations.chosen, store, [letter_id], all_open=False, target=letter.target
            )
            env = service.runs.environment(RunStart([operations.loader_plugin(letter.target)], "manual"), None)
            outcome = await asyncio.to_thread(
                operations.replay_through_target, store, letters, service.settings.project, env
            )
        finally:
            await asyncio.to_thread(store.close)
    except DeadLetterNotFound:
        raise HTTPException(404, "Rejeitado não encontrado.") from None
    except ConfigError as exc:
        return await _show(request, letter_id, 400, erro=f"Não foi possível reenviar: {exc}")
    logger.info("panel dead letter replayed user=%s id=%s exit=%s run_id=%s", _who(request), letter_id,
                outcome.exit_code, outcome.run_id)  # fmt: skip
    if not outcome.ok:
        return await _show(request, letter_id, 502, saida=_redacted(service, outcome.output),
                           erro=f"O destino terminou com o código {outcome.exit_code}; o rejeitado continua aberto.")  # fmt: skip
    return await _show(request, letter_id, reenvio=outcome)


def routes() -> list[BaseRoute]:
    return [
        Route("/rejeitados", list_page, methods=["GET"]),
        Route("/rejeitados/{letter_id}", letter_page, methods=["GET"]),
        Route("/rejeitados/{letter_id}/editar", edit, methods=["POST"]),
        Route("/rejeitados/{letter_id}/reenviar", replay, methods=["POST"]),
        Route("/rejeitados/{letter_id}/descartar", discard, methods=["POST"]),
    ]
