"""Reading JSON bodies off a request and masking secret-named values for the request log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ponte.sandbox.server import Request
from ponte.sandbox.totvs.errors import bad_request
from ponte.sandbox.totvs.tokens import mask

SECRET_NAMES = frozenset({"password", "refresh_token", "client_secret", "access_token", "token"})


def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (400 in the TOTVS model otherwise); kept on the request for the log."""
    try:
        body = request.json()
    except orjson.JSONDecodeError:
        raise bad_request("Corpo da requisição inválido.", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("Corpo da requisição inválido.", "the request body must be a JSON object")
    request.context["body"] = body
    return body


def masked(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with secret-named values masked (names compared case-insensitively; passwords entirely)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = key.lower()
        if name in SECRET_NAMES and value:
            out[key] = "***" if name in ("password", "client_secret") else mask(str(value))
        else:
            out[key] = value
    return out


__all__ = ["SECRET_NAMES", "json_object", "masked"]
