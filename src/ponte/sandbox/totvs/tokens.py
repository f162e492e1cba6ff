"""Bearer tokens of the three TOTVS flavours: issue, check, refresh (rotating), expire, invalidate.

Access tokens look like JWTs (`header.payload.signature`, base64url) as Protheus and RM issue them [C] TDN; the
sandbox never verifies them cryptographically, it keeps every token in a table. Lifetimes come from the
`<flavour>_access_ttl_seconds` / `<flavour>_refresh_ttl_seconds` switches, read at issue time. Times are real
seconds on a monotonic clock (a token must expire while a tap runs); `advance` moves that clock forward for
tests. Token values are random (`secrets`), never derived from the seed.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import orjson

from ponte.sandbox.switches import Switches
from ponte.sandbox.token_clock import TokenClock
from ponte.sandbox.totvs.errors import TotvsError, unauthorized

ISSUERS = {"protheus": "TOTVS-PROTHEUS", "plant": "farmace-plant-api", "rm": "RM.Host"}


@dataclass
class Token:
    """One access or refresh token of a flavour, for a subject (user or client id)."""

    value: str
    flavour: str
    kind: str  # "access" | "refresh"
    subject: str
    expires_at: float
    dead: bool = False

    def live(self, now: float) -> bool:
        return not self.dead and now < self.expires_at


def mask(secret: str | None) -> str | None:
    """First four characters, an ellipsis and, for long values, the last four (JWTs all start with 'eyJh'):
    enough to tell tokens apart in a log, useless to replay them."""
    if not secret:
        return secret
    return f"{secret[:4]}…{secret[-4:]}" if len(secret) >= 24 else secret[:4] + "…"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_like(flavour: str, subject: str, ttl: float) -> str:
    """A token shaped like a signed JWT (HS256), with iss/sub/iat/exp/jti claims and a random signature."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"iss": ISSUERS[flavour], "sub": subject, "iat": now, "exp": now + int(ttl), "jti": secrets.token_hex(8)}
    return ".".join((_b64(orjson.dumps(header)), _b64(orjson.dumps(claims)), _b64(secrets.token_bytes(32))))


class TokenStore(TokenClock):
    """Every token issued by the sandbox, per flavour, with counters for `/_sandbox/totvs/tokens`."""

    def __init__(self, switches: Switches) -> None:
        super().__init__()
        self.switches = switches
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._counts: defaultdict[str, Counter[str]] = defaultdict(Counter)

    # --- issue / check ----------------------------------------------------------------------------------------
    def issue(
        self, flavour: str, subject: str, with_refresh: bool, counter: str | None = "issued"
    ) -> tuple[str, str | None, int]:
        """(access token, refresh token or None, expires_in seconds as announced)."""
        ttl = float(self.switches[f"{flavour}_access_ttl_seconds"])
        now = self.clock()
        access = Token(jwt_like(flavour, subject, ttl), flavour, "access", subject, now + ttl)
        refresh = None
        if with_refresh:
            refresh_ttl = float(self.switches[f"{flavour}_refresh_ttl_seconds"])
            refresh = Token(secrets.token_urlsafe(32), flavour, "refresh", subject, now + refresh_ttl)
        with self._lock:
            self._tokens[access.value] = access
            if refresh:
                self._tokens[refresh.value] = refresh
            if counter:
                self._counts[flavour][counter] += 1
        return access.value, refresh.value if refresh else None, round(ttl)

    def subject(self, flavour: str, value: str) -> str:
        """The subject of a live access token of this flavour, or a 401 TOTVS error."""
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.flavour != flavour or token.kind != "access":
                self._counts[flavour]["rejected"] += 1
                raise unauthorized("Invalid token: not issued by this server.")
            if not token.live(self.clock()):
                self._counts[flavour]["rejected"] += 1
                reason = "Token invalidated." if token.dead else "Token expired."
                raise unauthorized(reason)
            return token.subject

    def refresh(self, flavour: str, value: str) -> tuple[str, str | None, int]:
        """A new access token for a live refresh token; rotates it when `<flavour>_refresh_rotates` is on."""
        rotates = bool(self.switches[f"{flavour}_refresh_rotates"])
        with self._lock:
            token = self._tokens.get(value)
            ok = token is not None and token.flavour == flavour and token.kind == "refresh"
            if not ok or token is None or not token.live(self.clock()):
                self._counts[flavour]["refresh_refused"] += 1
                why = "unknown" if not ok else ("invalidated" if token and token.dead else "expired")
                raise TotvsError(401, "Refresh token inválido ou expirado.", f"Refresh token {why}.", code="401")
            if rotates:
                token.dead = True
            self._counts[flavour]["refreshed"] += 1
            subject = token.subject
        access, new_refresh, ttl = self.issue(flavour, subject, with_refresh=rotates, counter=None)
        return access, new_refresh if rotates else value, ttl

    # --- admin ------------------------------------------------------------------------------------------------
    def expire(self, flavour: str | None, refresh: bool = False) -> int:
        """Expire now every live access token (and refresh tokens with `refresh`) of a flavour (None: all)."""
        now = self.clock()
        kinds = ("access", "refresh") if refresh else ("access",)
        count = 0
        with self._lock:
            for token in self._tokens.values():
                if (flavour is None or token.flavour == flavour) and token.kind in kinds and token.live(now):
                    token.expires_at = now
                    count += 1
        return count

    def invalidate(self, flavour: str, access: str, refresh: str | None) -> int:
        """Kill an access token (and optionally a refresh token) of the same subject; returns how many died."""
        with self._lock:
            killed = 0
            subject = self._tokens[access].subject if access in self._tokens else None
            for value in (access, refresh):
                token = self._tokens.get(value or "")
                if token and token.flavour == flavour and token.subject == subject and not token.dead:
                    token.dead = True
                    killed += 1
            return killed

    def stats(self) -> dict[str, Any]:
        """Per flavour: issued, refreshed, refused refreshes, rejected bearers, live tokens."""
        now = self.clock()
        with self._lock:
            out: dict[str, Any] = {}
            for flavour in ISSUERS:
                live = Counter(t.kind for t in self._tokens.values() if t.flavour == flavour and t.live(now))
                out[flavour] = {
                    **{k: self._counts[flavour][k] for k in ("issued", "refreshed", "refresh_refused", "rejected")},
                    "live_access_tokens": live["access"],
                    "live_refresh_tokens": live["refresh"],
                }
            return {"flavours": out, "clock_offset_seconds": self._offset}


__all__ = ["ISSUERS", "Token", "TokenStore", "jwt_like", "mask"]
