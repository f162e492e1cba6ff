"""Bling's error envelope and the documented error bodies (docs/api-facts-bling-totvs.md §1 and §3).

Every error is `{"error": {"type", "message", "description", "fields"?}}`. `BlingError` carries one from deep
inside a handler to the app, which answers it with its status. Texts quoted from the developer site are marked
[C]; the others follow the same style and are the sandbox's wording.
"""

from __future__ import annotations

from typing import Any

VALIDATION_MESSAGE = "Não foi possível executar a operação"  # [C] /erros-comuns
VALIDATION_DESCRIPTION = "Ocorreu um erro ao validar os dados recebidos."  # [C] /erros-comuns


class BlingError(Exception):
    """An error answer: HTTP status plus the envelope's fields."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        description: str,
        fields: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(f"{status} {type_}: {description}")
        self.status = status
        self.body = envelope(type_, message, description, fields, **extra)


def envelope(
    type_: str, message: str, description: str, fields: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """`{"error": {...}}`; `fields` only when given, extra keys (limit, period) after the documented ones."""
    error: dict[str, Any] = {"type": type_, "message": message, "description": description}
    if fields is not None:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


def validation(description: str = VALIDATION_DESCRIPTION, fields: list[dict[str, Any]] | None = None) -> BlingError:
    """400 VALIDATION_ERROR with the documented message."""
    return BlingError(400, "VALIDATION_ERROR", VALIDATION_MESSAGE, description, fields)


def field(code: int, msg: str, element: str, namespace: str) -> dict[str, Any]:
    """One entry of `fields[]` (ErrorField in the spec)."""
    return {"code": code, "msg": msg, "element": element, "namespace": namespace}


def not_found(description: str = "O recurso solicitado não foi encontrado no sistema.") -> BlingError:
    """404 RESOURCE_NOT_FOUND: unknown URIs and unknown ids alike [C]."""
    return BlingError(404, "RESOURCE_NOT_FOUND", "Recurso não encontrado", description)


def method_not_allowed(method: str) -> BlingError:
    """405 METHOD_NOT_ALLOWED (type from the spec's enum; wording is the sandbox's)."""
    return BlingError(
        405, "METHOD_NOT_ALLOWED", "Método não permitido", f"O método {method} não é permitido para este recurso."
    )


def oauth(status: int, code: str, description: str) -> BlingError:
    """OAuth errors use the code as both type and message [C]: invalid_client, invalid_grant, invalid_token ..."""
    return BlingError(status, code, code, description)


def server_error_body(status: int) -> dict[str, Any]:
    """Body of an injected or internal 5xx (SERVER_ERROR [C]) or of an injected 4xx."""
    if status >= 500:
        return envelope("SERVER_ERROR", "Erro interno", "Um erro interno ocorreu.")
    if status == 429:
        return envelope("TOO_MANY_REQUESTS", "Limite de requisições atingido.", "Tente novamente mais tarde.")
    return envelope("UNKNOWN_ERROR", VALIDATION_MESSAGE, "Ocorreu um erro inesperado.")


def rate_limited(limit: int, period: str) -> dict[str, Any]:
    """The documented 429 bodies [C] /limites: per second, or per day."""
    if period == "day":
        description = "O limite de requisições diárias foi atingido, tente novamente amanhã."
    else:
        description = "O limite de requisições por segundo foi atingido, tente novamente mais tarde."
    return envelope("TOO_MANY_REQUESTS", "Limite de requisições atingido.", description, limit=limit, period=period)
