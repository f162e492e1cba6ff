"""Reading credentials off an Authorization header and masking them for a request log.

Every sandbox that checks Basic or Bearer credentials reads them here, so they all parse the header alike.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable


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


def masked_auth(header: str | None, mask: Callable[[str], str | None]) -> str | None:
    """`Basic user:***`, `Bearer eyJh…`: who or which token, never the secret (`mask` shortens a token)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "basic":
        credentials = basic_credentials(header)
        return f"Basic {credentials[0]}:***" if credentials else "Basic ***"
    return f"{scheme} {mask(value.strip())}"


__all__ = ["basic_credentials", "bearer", "masked_auth"]
