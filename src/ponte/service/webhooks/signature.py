"""Bling's webhook signature: `X-Bling-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with the
app's client secret (docs/api-facts-bling-totvs.md §4). Compared in constant time against every configured
secret (one app, or accounts with apps of their own), before anything reads the body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

HEADER = "X-Bling-Signature-256"
PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The header value Bling sends for `body`."""
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    """True when `header` is the signature of `body` under one of `secrets` (every secret is tried, so the time
    taken does not tell which one, nor how much of the signature matched)."""
    if not header or not header.startswith(PREFIX):
        return False
    given = header.strip().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(given, sign(body, secret).encode("ascii"))
    return matched
