"""Bling's OAuth 2.0 authorization server, as docs/api-facts-bling-totvs.md §1 describes it.

One registered app (client id, secret, redirect URI) authorized by several companies. Authorization Code only:
`/oauth/authorize` auto-approves and redirects to the *registered* URI with a 40-hex `code` (single use, 1 minute);
`/oauth/token` takes a form body and the client credentials in `Authorization: Basic` only, exchanges codes and
rotates refresh tokens; re-using a code revokes that company's user. `/oauth/revoke` revokes a token, its chain
or the whole company. The token endpoint blocks an IP after too many requests.

Times here are real seconds on a monotonic clock (tokens must expire while a tap runs); `advance` moves that
clock forward for tests. Tokens are random (`secrets`), never derived from the seed.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson

from ponte.sandbox.bling.errors import BlingError, envelope, oauth
from ponte.sandbox.credentials import basic_credentials
from ponte.sandbox.server import Request, Response
from ponte.sandbox.switches import Switches
from ponte.sandbox.token_clock import TokenClock

SCOPE = "98309 318257570 5862218180"  # [C] the docs' example: scope ids, not names
DOCS_ERRORS = "https://developer.bling.com.br/erros-comuns"
INACTIVE = ("UNAUTHORIZED_ERROR", "Empresa inativa", "A empresa vinculada ao token esta inativa.")  # [C]


@dataclass
class Token:
    """An access or refresh token; `chain` groups the tokens descending from one authorization."""

    value: str
    company: str
    kind: str  # "access" | "refresh"
    chain: int
    expires_at: float
    revoked: bool = False
    dead_at: float | None = None  # a rotated refresh token stops working from here

    def live(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at and (self.dead_at is None or now < self.dead_at)


@dataclass
class Code:
    """An authorization code: single use, short-lived."""

    value: str
    company: str
    expires_at: float
    used: bool = False


def mask(secret: str | None) -> str | None:
    """First four characters and an ellipsis: enough to tell tokens apart in a log, useless to an attacker."""
    if not secret:
        return secret
    return secret[:4] + "…"


class OAuthServer(TokenClock):
    """Codes, tokens, per-company counters and the token endpoint's IP limiter."""

    def __init__(
        self, switches: Switches, client_id: str, client_secret: str, companies: Callable[[], Mapping[str, Any]]
    ) -> None:
        super().__init__()
        self.switches = switches
        self.client_id, self.client_secret = client_id, client_secret
        self._companies = companies  # slug -> company (for authorize's sandbox_company and admin grants)
        self._lock = threading.RLock()
        self._codes: dict[str, Code] = {}
        self._tokens: dict[str, Token] = {}
        self._chains = itertools.count(1)
        self._counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)
        self._blocked: dict[str, float] = {}

    # --- authorize --------------------------------------------------------------------------------------------
    def authorize(self, request: Request, default_company: str) -> Response:
        """Auto-consent and 302 to the registered redirect URI with code and state (or error params)."""
        query = request.query
        state = query.get("state", "")
        if not state.strip():
            raise BlingError(400, "VALIDATION_ERROR", "Parâmetro state inválido", "O parâmetro state é obrigatório.")
        company = query.get("sandbox_company") or default_company
        request.context["company"] = company
        if company not in self._companies():
            known = ", ".join(self._companies())
            raise BlingError(
                400, "VALIDATION_ERROR", "Empresa inexistente", f"sandbox_company '{company}' não existe ({known})."
            )
        if query.get("client_id") != self.client_id:
            if self.switches["authorize_unknown_client"] == "page":
                raise oauth(400, "invalid_client", "The client credentials are invalid")
            return self._redirect(state, error="invalid_client", description="Aplicativo não encontrado.")
        if query.get("response_type") != "code":
            return self._redirect(
                state, error="unsupported_response_type", description="O response_type deve ser 'code'."
            )
        if company in self.switches["inactive_companies"]:
            return self._redirect(state, error=INACTIVE[0], description=INACTIVE[2])
        if self.switches["authorize_outcome"] == "access_denied":
            return self._redirect(state, error="access_denied", description="O usuário não autorizou o aplicativo.")
        code = Code(secrets.token_hex(20), company, self.clock() + self.switches["code_ttl_seconds"])
        with self._lock:
            self._codes[code.value] = code
            self._counts[company]["authorizations"] += 1
        return self._redirect(state, code=code.value)

    def _redirect(self, state: str, **params: str) -> Response:
        if "error" in params:
            params = {
                "error": params["error"],
                "error_description": params["description"],
                "error_uri": DOCS_ERRORS,
            }
        target = self.switches["redirect_uri"]
        joiner = "&" if "?" in target else "?"
        location = f"{target}{joiner}{urlencode({**params, 'state': state})}"
        return Response(302, b"", {"Location": location, "Cache-Control": "no-store"}, content_type="text/html")

    # --- token ------------------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        """`POST /oauth/token`: grant_type authorization_code or refresh_token."""
        self._check_ip(request)
        form = self._client_form(request)
        grant = form.get("grant_type", "")
        if not grant:
            raise self._bad_request("invalid_request", "The grant type was not specified in the request")
        if grant == "authorization_code":
            pair = self._exchange_code(form.get("code", ""), request)
        elif grant == "refresh_token":
            pair = self._refresh(form.get("refresh_token", ""), request)
        else:
            raise self._bad_request("unsupported_grant_type", "The authorization grant type is not supported")
        return Response(200, pair, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _client_form(self, request: Request) -> dict[str, str]:
        """The form of a token or revoke request (kept for the log), once its client credentials check out."""
        form = self._form(request)
        request.context["form"] = form
        self._check_client(request, form)
        return form

    def _form(self, request: Request) -> dict[str, str]:
        content_type = request.headers.get("Content-Type", "").lower()
        if "json" in content_type:
            if not self.switches["token_accept_json"]:
                raise self._bad_request("invalid_request", "The request body must be application/x-www-form-urlencoded")
            try:
                body = orjson.loads(request.body or b"{}")
            except orjson.JSONDecodeError:
                raise self._bad_request("invalid_request", "The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise self._bad_request("invalid_request", "The request body must be an object")
            return {str(k): str(v) for k, v in body.items()}
        text = request.body.decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def _check_client(self, request: Request, form: Mapping[str, str]) -> None:
        in_body = "client_id" in form or "client_secret" in form
        if in_body and not self.switches["token_credentials_in_body"]:
            raise self._bad_request(
                "invalid_request",
                "Client credentials are not allowed in the request body; send them in the Authorization header",
            )
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is None and in_body:
            credentials = (form.get("client_id", ""), form.get("client_secret", ""))
        request.context["client_id"] = credentials[0] if credentials else None
        if credentials != (self.client_id, self.client_secret):
            raise oauth(self.switches["invalid_client_status"], "invalid_client", "The client credentials are invalid")

    def _bad_request(self, code: str, description: str) -> BlingError:
        return oauth(self.switches["invalid_grant_status"], code, description)

    def _exchange_code(self, value: str, request: Request) -> dict[str, Any]:
        if not value:
            raise self._bad_request("invalid_request", "The authorization code was not specified in the request")
        now = self.clock()
        with self._lock:
            code = self._codes.get(value)
            if code is None:
                raise self._bad_request("invalid_grant", "The authorization code is invalid")
            request.context["company"] = code.company
            if now >= code.expires_at:
                raise self._bad_request("invalid_grant", "The authorization code has expired")
            if code.used:  # [C] re-use of a valid code: VALIDATION_ERROR and the user is revoked
                self._revoke_where(lambda t: t.company == code.company)
                self._counts[code.company]["code_reuses"] += 1
                raise BlingError(
                    400,
                    "VALIDATION_ERROR",
                    "Invalid authorization code",
                    "This authorization code has already been used, for security reasons the user has been revoked.",
                )
            self._check_active(code.company)
            code.used = True
            self._counts[code.company]["code_exchanges"] += 1
            return self._issue(code.company, next(self._chains), now)

    def _refresh(self, value: str, request: Request) -> dict[str, Any]:
        if not value:
            raise self._bad_request("invalid_request", "The refresh token was not specified in the request")
        now = self.clock()
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.kind != "refresh":
                raise self._bad_request("invalid_grant", "Invalid refresh token")
            request.context["company"] = token.company
            counts = self._counts[token.company]
            if not token.live(now):
                counts["dead_refresh_attempts"] += 1
                if not token.revoked and now >= token.expires_at:
                    raise self._bad_request("invalid_grant", "Refresh token has expired")
                raise self._bad_request("invalid_grant", "Invalid refresh token")
            self._check_active(token.company)
            if token.dead_at is None:
                token.dead_at = now + self.switches["refresh_grace_seconds"]
            if self.switches["refresh_revokes_access_token"]:
                self._revoke_where(lambda t: t.kind == "access" and t.chain == token.chain)
            counts["refreshes"] += 1
            return self._issue(token.company, token.chain, now)

    def _check_active(self, company: str) -> None:
        if company in self.switches["inactive_companies"]:
            raise BlingError(401, *INACTIVE)

    def _issue(self, company: str, chain: int, now: float) -> dict[str, Any]:
        access_ttl = self.switches["access_token_ttl_seconds"]
        access = Token(secrets.token_hex(20), company, "access", chain, now + access_ttl)
        refresh = Token(
            secrets.token_hex(20), company, "refresh", chain, now + self.switches["refresh_token_ttl_seconds"]
        )
        self._tokens[access.value] = access
        self._tokens[refresh.value] = refresh
        return {
            "access_token": access.value,
            "expires_in": round(access_ttl),
            "token_type": "Bearer",
            "scope": SCOPE,
            "refresh_token": refresh.value,
        }

    def _check_ip(self, request: Request) -> None:
        """Sliding window per IP; the request over the limit starts the block [C] (status/body: guess)."""
        limit = self.switches["token_rate_limit"]
        if limit <= 0:
            return
        ip = client_ip(request)
        now = self.clock()
        with self._lock:
            blocked_until = self._blocked.get(ip)
            if blocked_until is None or now >= blocked_until:
                self._blocked.pop(ip, None)
                hits = self._hits[ip]
                window = self.switches["token_rate_window_seconds"]
                while hits and hits[0] <= now - window:
                    hits.popleft()
                hits.append(now)
                if len(hits) <= limit:
                    return
                hits.clear()
                self._blocked[ip] = now + self.switches["token_block_seconds"]
        request.context["fault"] = "ip_blocked"
        raise BlingError(
            self.switches["token_block_status"],
            "TOO_MANY_REQUESTS",
            "Limite de requisições atingido.",
            "Seu IP foi bloqueado temporariamente por excesso de requisições ao endpoint de token.",
        )

    # --- revoke -----------------------------------------------------------------------------------------------
    def revoke(self, request: Request) -> Response:
        """`POST /oauth/revoke` [C]: token (+ token_type_hint), revoke_target user|company; 200 even if unknown."""
        form = self._client_form(request)
        value = form.get("token", "")
        if not value:
            raise self._bad_request("invalid_request", "The token was not specified in the request")
        with self._lock:
            token = self._tokens.get(value)
            if token is not None:
                request.context["company"] = token.company
                whole = form.get("revoke_target") in ("user", "company") or form.get("revoke_action") == "uninstall"
                if whole:
                    self._revoke_where(lambda t: t.company == token.company)
                elif token.kind == "refresh":
                    self._revoke_where(lambda t: t.chain == token.chain)
                else:
                    token.revoked = True
        return Response(200, b"")

    # --- resource requests ------------------------------------------------------------------------------------
    def bearer(self, header: str | None) -> str:
        """The company of a valid `Bearer` access token, else the documented 400/401 errors."""
        parts = (header or "").split()
        if not parts:
            raise oauth(401, "invalid_token", "The access token provided is invalid")
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise oauth(400, "invalid_request", "Malformed auth header")
        token = self._tokens.get(parts[1])
        if token is None or token.kind != "access" or token.revoked:
            raise oauth(401, "invalid_token", "The access token provided is invalid")
        if self.clock() >= token.expires_at:
            raise oauth(401, "invalid_token", "The access token provided has expired")
        if token.company in self.switches["inactive_companies"]:
            raise BlingError(401, *INACTIVE)
        return token.company

    def owner(self, header: str | None) -> str | None:
        """The company an access token was issued to, valid or not (for the request log)."""
        parts = (header or "").split()
        token = self._tokens.get(parts[1]) if len(parts) == 2 else None
        return token.company if token is not None else None

    # --- admin helpers ----------------------------------------------------------------------------------------
    def grant(self, company: str) -> dict[str, Any]:
        """A fresh token pair for a company without the browser flow."""
        self._require(company)
        with self._lock:
            self._counts[company]["admin_grants"] += 1
            return self._issue(company, next(self._chains), self.clock())

    def expire_access_tokens(self, company: str) -> int:
        """Make every live access token of the company expired now; returns how many."""
        self._require(company)
        now = self.clock()
        with self._lock:
            hit = [t for t in self._tokens.values() if t.company == company and t.kind == "access" and t.live(now)]
            for token in hit:
                token.expires_at = now
            return len(hit)

    def revoke_refresh_tokens(self, company: str) -> int:
        """Revoke every live refresh token of the company; returns how many."""
        self._require(company)
        now = self.clock()
        with self._lock:
            return self._revoke_where(lambda t: t.company == company and t.kind == "refresh" and t.live(now))

    def _revoke_where(self, test: Callable[[Token], bool]) -> int:
        with self._lock:
            hit = [t for t in self._tokens.values() if not t.revoked and test(t)]
            for token in hit:
                token.revoked = True
            return len(hit)

    def _require(self, company: str) -> None:
        if company not in self._companies():
            raise ValueError(f"unknown company '{company}'; known: {', '.join(self._companies())}")

    def stats(self) -> dict[str, Any]:
        """Per company: authorizations, code exchanges and reuses, refreshes, dead refresh attempts, live tokens."""
        now = self.clock()
        with self._lock:
            live: Counter[tuple[str, str]] = Counter((t.company, t.kind) for t in self._tokens.values() if t.live(now))
            companies = {}
            for slug in self._companies():
                counts = self._counts[slug]
                companies[slug] = {
                    "authorizations": counts["authorizations"],
                    "code_exchanges": counts["code_exchanges"],
                    "code_reuses": counts["code_reuses"],
                    "admin_grants": counts["admin_grants"],
                    "refreshes": counts["refreshes"],
                    "dead_refresh_attempts": counts["dead_refresh_attempts"],
                    "live_access_tokens": live[(slug, "access")],
                    "live_refresh_tokens": live[(slug, "refresh")],
                }
            blocked = {ip: round(until - now, 3) for ip, until in self._blocked.items() if until > now}
        return {"companies": companies, "blocked_ips": blocked}

    def reset_limits(self) -> None:
        """Forget the token endpoint's request windows and IP blocks."""
        with self._lock:
            self._hits.clear()
            self._blocked.clear()


def client_ip(request: Request) -> str:
    """The first X-Forwarded-For address (lets tests act as several clients), else the socket peer."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.split(",")[0].strip() or request.client or "unknown"


def error_response(error: BlingError) -> Response:
    """A `BlingError` as a response."""
    return Response(error.status, error.body)


__all__ = ["SCOPE", "OAuthServer", "Token", "client_ip", "envelope", "error_response", "mask"]
