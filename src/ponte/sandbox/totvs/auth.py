"""Reading credentials off a request (Basic, Bearer, JSON bodies) and masking them for the request log."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from ponte.sandbox.server import Request
from ponte.sandbox.totvs.errors import bad_request
from ponte.sandbox.totvs.tokens import mask

SECRET_NAMES = frozenset({"password", "refresh_token", "client_secret", "access_token", "token"})


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from `Basic base64(user:password)`, or None."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def bearer(header: str | None) -> str | None:
    """The token of `Bearer <token>`, or None."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


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


def masked_auth(header: str | None) -> str | None:
    """`Basic user:***`, `Bearer eyJh…`: who or which token, never the secret."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "basic":
        credentials = basic_credentials(header)
        return f"Basic {credentials[0]}:***" if credentials else "Basic ***"
    return f"{scheme} {mask(value.strip())}"


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


__all__ = ["SECRET_NAMES", "basic_credentials", "bearer", "json_object", "masked", "masked_auth"]
