"""OAuth2 token endpoint grants, access token cached until shortly before it expires.

Without a token store: client credentials, password or a configured refresh token, kept in memory.

With a token store (`authorization_code`, Bling): `ponte auth <source>` exchanged the user's code once and
saved the token pair; the tap only ever refreshes from the store. Refresh tokens rotate and the old one dies
at once, so a refresh happens under the store's lock for that key: reload the record (another process may
have rotated it already and left a valid access token), otherwise spend the stored refresh token and save the
new pair before the lock is released and before the new access token is used. Every call to the token
endpoint also goes through a rolling per-minute budget shared by all processes using the store.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import requests

from ponte.auth.token_store import TokenRecord, TokenStore, reserve_in_log
from ponte.core.errors import AuthError, TokenEndpointUnavailable
from ponte.declaration.models import OAuth2Config

# renew an access token once a tenth of its lifetime is left, but never more than a minute ahead
RENEWAL_SHARE = 0.1
MAX_RENEWAL_MARGIN_SECONDS = 60.0

# token-endpoint call log of auths without a store, per token URL (one process)
_MEMORY_CALLS: dict[str, list[float]] = collections.defaultdict(list)
_MEMORY_CALLS_LOCK = threading.Lock()

# error codes a token endpoint answers when the grant itself (code or refresh token) is dead
_DEAD_GRANT = {"invalid_grant", "invalid_token", "validation_error", "unauthorized_error", "unauthorized"}


class OAuth2Auth:
    """Bearer auth whose token comes from a token endpoint (and, with a store, survives between runs)."""

    def __init__(
        self,
        config: OAuth2Config,
        *,
        token_store: TokenStore | None = None,
        verify_tls: bool | str = True,
        label: str = "oauth2",
        account: str | None = None,
        on_new_secret: Callable[[str], Any] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        # the refresh token rotates: the declared one is only where a store-less auth starts
        self.refresh_token = config.refresh_token
        self.token_store = token_store
        self.store_key = config.store_key
        if token_store is not None and not self.store_key:
            raise ValueError("a token store needs a key")
        self.verify_tls = verify_tls
        self.label = label
        self.account = account
        # called with every token value the moment it is known (the runtime wires it to Redactor.add)
        self.on_new_secret = on_new_secret
        self.clock = clock
        self.sleep = sleep
        self.logger = logger or logging.getLogger("ponte.auth")
        self._token: str | None = None
        self._expires_at = 0.0
        self._margin = MAX_RENEWAL_MARGIN_SECONDS
        self._stale: set[str] = set()
        self._seen: list[str] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- what the HttpClient calls -------------------------------------------------------------------------
    def secrets(self) -> list[str]:
        """Everything that must never be printed, including every token this instance ever held."""
        found = [s for s in (self.config.client_secret, self.config.password, self.refresh_token, self._token) if s]
        found += [s for s in self._seen if s not in found]
        if self.token_store is not None:
            found += self.token_store.secrets()
        return found

    def apply(self, request: requests.PreparedRequest) -> None:
        """Attach a valid access token, renewing it first if it is about to expire (see `renewal_margin`)."""
        with self._lock:
            if self._token is None or self._expires_at - self.clock() <= self._margin:
                self._renew()
            token = self._token
            self._local.applied = token
        request.headers["Authorization"] = f"Bearer {token}"

    def on_unauthorized(self) -> bool:
        """The token this thread sent was refused: mark it stale so the next apply gets another one.

        If another thread already replaced it, the retry simply uses the newer token; with a store, the next
        apply reloads the record and refreshes only if the store still holds the refused token.
        """
        with self._lock:
            failed = getattr(self._local, "applied", None)
            if failed is not None:
                self._stale.add(failed)
            if self._token is not None and (failed is None or failed == self._token):
                self._stale.add(self._token)
                self._token = None
        return True

    # -- used by `ponte auth` ------------------------------------------------------------------------------
    @property
    def who(self) -> str:
        """`account 'x'` for messages."""
        if self.account:
            return f"account '{self.account}'"
        if self.store_key:
            return f"token store key '{self.store_key}'"
        return "this client"

    @property
    def reauth_hint(self) -> str:
        """The command that gets new consent."""
        return self.config.reauth_command or "ponte auth <source> --account <name>"

    def wait_for_token_budget(self) -> None:
        """Wait, counting nothing, until one more token call fits in the shared budget.

        `ponte auth` does this before asking for consent: a code lives a minute, and a budget wait of up to a
        minute after it arrives could outlive it.
        """
        limit, window = self.config.rate_limit.requests, self.config.rate_limit.per_seconds
        while True:
            now = self.clock()
            if self.token_store is not None:
                calls = self.token_store.token_calls()
            else:
                with _MEMORY_CALLS_LOCK:
                    calls = list(_MEMORY_CALLS.get(self.config.token_url, []))
            wait = reserve_in_log(calls, limit, window, now)[1]
            if wait <= 0:
                return
            self._budget_wait(wait)

    def exchange_code(self, code: str) -> TokenRecord:
        """Trade an authorization code for a token pair at once (codes live a minute) and save it in the store.

        Client credentials go only in the Basic header, as Bling requires.
        """
        body = self._token_request({"grant_type": "authorization_code", "code": code}, basic_only=True)
        record = self._record_from(body, None)
        self._learn(record)
        if self.token_store is not None and self.store_key:
            with self.token_store.lock(self.store_key):
                self._save(record)
        with self._lock:
            self._use(record)
        return record

    def stored_record(self) -> TokenRecord | None:
        """The record in the store (None without a store or without a record)."""
        if self.token_store is None or not self.store_key:
            return None
        return self.token_store.load(self.store_key)

    # -- internals ----------------------------------------------------------------------------------------
    def _renew(self) -> None:
        if self.token_store is None:
            self._fetch_without_store()
            return
        store, key = self.token_store, str(self.store_key)
        with store.lock(key):
            record = store.load(key)
            if record is None:
                raise AuthError(
                    f"{self.label}: no tokens for {self.who} yet in the token store ({store.describe()}): "
                    f"run `{self.reauth_hint}`"
                )
            self._learn(record)
            margin = renewal_margin(record.lifetime)
            if record.access_token not in self._stale and record.valid_for(margin, self.clock()):
                self._use(record)  # fresh enough, maybe rotated by another process meanwhile
                return
            if not record.refresh_token:
                raise AuthError(
                    f"{self.label}: the token store holds no refresh token for {self.who}: "
                    f"run `{self.reauth_hint}` to authorize again"
                )
            body = self._token_request({"grant_type": "refresh_token", "refresh_token": record.refresh_token})
            new = self._record_from(body, record)
            self._learn(new)
            self._save(new)  # before the lock goes and before the token is used: the old refresh token is dead
            self._use(new)

    def _save(self, record: TokenRecord) -> None:
        assert self.token_store is not None and self.store_key
        try:
            self.token_store.save(self.store_key, record)
        except Exception as exc:
            raise AuthError(
                f"{self.label}: new tokens for {self.who} could not be saved in {self.token_store.describe()} "
                f"({type(exc).__name__}: {exc}); the previous refresh token is no longer valid: fix the store, "
                f"then run `{self.reauth_hint}`"
            ) from None

    def _use(self, record: TokenRecord) -> None:
        self._token = record.access_token
        self._expires_at = record.expires_at
        self._margin = renewal_margin(record.lifetime)

    def _learn(self, record: TokenRecord) -> None:
        for value in record.secrets():
            if value not in self._seen:
                self._seen.append(value)
                if self.on_new_secret is not None:
                    self.on_new_secret(value)

    def _record_from(self, body: Mapping[str, Any], previous: TokenRecord | None) -> TokenRecord:
        token = body.get(self.config.token_field)
        if not token:
            raise AuthError(f"{self.label}: the token endpoint answered without '{self.config.token_field}'")
        now = self.clock()
        try:
            lifetime = float(body.get(self.config.expires_in_field) or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        refresh = body.get("refresh_token") or (previous.refresh_token if previous else None)
        scope = body.get("scope") or (previous.scope if previous else None)
        return TokenRecord(
            access_token=str(token),
            refresh_token=str(refresh) if refresh else None,
            expires_at=now + lifetime,
            scope=str(scope) if scope else None,
            updated_at=now,
        )

    def _fetch_without_store(self) -> None:
        grant = self.config.grant_type
        # authorization_code without a store: the configured refresh token is exchanged (and rotated in memory)
        if grant in ("refresh_token", "authorization_code") or (self.refresh_token and self._token is not None):
            if not self.refresh_token:
                raise AuthError(
                    f"{self.label}: no refresh token configured and no token store: run `{self.reauth_hint}`"
                )
            form: dict[str, Any] = {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        elif grant == "password":
            form = {"grant_type": "password", "username": self.config.username, "password": self.config.password}
        else:
            form = {"grant_type": "client_credentials"}
        try:
            body = self._token_request(form)
        except TokenEndpointUnavailable:
            raise  # down, not refused: the other grant would meet the same outage
        except AuthError:
            if form["grant_type"] != "refresh_token" or grant not in ("password", "client_credentials"):
                raise
            # the refresh token died (Protheus keeps them 24 h): the configured credentials still work
            self.logger.info(f"{self.label}: refresh token refused; asking a new token with the {grant} grant")
            self.refresh_token = None
            self._fetch_without_store()
            return
        previous = TokenRecord("", self.refresh_token, 0.0)
        record = self._record_from(body, previous)
        self._learn(record)
        self._use(record)
        if record.refresh_token:
            self.refresh_token = record.refresh_token

    def _throttle(self) -> None:
        """Wait until one more token call fits in the rolling window shared through the store."""
        limit, window = self.config.rate_limit.requests, self.config.rate_limit.per_seconds
        while True:
            now = self.clock()
            if self.token_store is not None:
                wait = self.token_store.reserve_token_call(limit, window, now)
            else:
                with _MEMORY_CALLS_LOCK:
                    calls, wait = reserve_in_log(_MEMORY_CALLS[self.config.token_url], limit, window, now)
                    _MEMORY_CALLS[self.config.token_url] = calls
            if wait <= 0:
                return
            self._budget_wait(wait)

    def _budget_wait(self, wait: float) -> None:
        limit, window = self.config.rate_limit.requests, self.config.rate_limit.per_seconds
        self.logger.warning(
            f"{self.label}: waiting {wait:.1f} s before calling the token endpoint: {limit} token requests "
            f"already made in the last {window:g} s (auth.rate_limit; Bling blocks the IP for "
            "an hour after 20 a minute)"
        )
        self.sleep(wait)

    def _token_request(self, form: dict[str, Any], *, basic_only: bool = False) -> dict[str, Any]:
        grant = str(form["grant_type"])
        form = dict(form)
        if self.config.scope and grant != "refresh_token":
            form["scope"] = self.config.scope
        form.update(self.config.extra_params)
        auth = None
        if self.config.client_id:
            if basic_only or self.config.client_auth == "basic":
                auth = (self.config.client_id, self.config.client_secret or "")
            else:
                form["client_id"] = self.config.client_id
                if self.config.client_secret:
                    form["client_secret"] = self.config.client_secret
        self._throttle()
        try:
            body_or_query = {"json": "json", "query": "params"}.get(self.config.token_request_format, "data")
            response = requests.post(
                self.config.token_url,
                **{body_or_query: form},
                auth=auth,
                headers=self.config.token_headers or None,
                timeout=self.config.timeout_seconds,
                verify=self.verify_tls,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TokenEndpointUnavailable(
                f"{self.label}: could not reach the token endpoint ({type(exc).__name__})"
            ) from None
        except requests.RequestException as exc:
            raise AuthError(f"{self.label}: could not reach the token endpoint ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise TokenEndpointUnavailable(self._refusal(response, grant))
        if response.status_code >= 400:
            raise AuthError(self._refusal(response, grant))
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise AuthError(
                f"{self.label}: the token endpoint answered HTTP {response.status_code} with a body that is not JSON"
            ) from None
        if not isinstance(body, dict):
            raise AuthError(f"{self.label}: the token endpoint answered with unexpected JSON")
        return body

    def _refusal(self, response: requests.Response, grant: str) -> str:
        """One sentence for a refused token request, with the server's reason and what to do, no secrets."""
        status = response.status_code
        code, description = _oauth_error(response)
        reason = ": ".join(p for p in (code, description) if p)
        for secret in sorted(self.secrets(), key=len, reverse=True):
            reason = reason.replace(secret, "****")
        detail = f"HTTP {status}" + (f", {reason}" if reason else "")
        lowered = code.lower()
        if status == 429 or lowered in ("too_many_requests", "rate_limit_exceeded"):
            return (
                f"{self.label}: the token endpoint is blocking this IP ({detail}): too many token requests in a "
                "short time (Bling blocks the IP for an hour after 20 a minute); wait before running again"
            )
        if lowered == "invalid_client":
            return (
                f"{self.label}: the token endpoint refused the client credentials of {self.who} ({detail}): "
                "check client_id and client_secret"
            )
        if grant == "refresh_token" and (status in (400, 401) or lowered in _DEAD_GRANT):
            return (
                f"{self.label}: the refresh token of {self.who} was refused (revoked, already used, or older than "
                f"30 days; {detail}): run `{self.reauth_hint}` to authorize again"
            )
        if grant == "authorization_code" and status in (400, 401):
            return (
                f"{self.label}: the authorization code was refused ({detail}); a code works once and only for a "
                f"minute: run `{self.reauth_hint}` again"
            )
        if status >= 500:
            return f"{self.label}: the token endpoint failed ({detail}); run again later"
        return (
            f"{self.label}: the token endpoint refused the {grant} grant ({detail}); check the client id/secret "
            "and user credentials"
        )


def renewal_margin(lifetime: float | None) -> float:
    """Seconds before expiry at which a token of this lifetime is renewed.

    A tenth of the lifetime, at most a minute: a fixed minute would renew a token that lives a minute or less
    (RM can be configured so) before every request, spending the token-call budget; a 6-hour token still gets
    a minute, enough for a rate-limit wait and a slow request. Unknown lifetime (a record without its issue
    time): a minute.
    """
    if lifetime is None:
        return MAX_RENEWAL_MARGIN_SECONDS
    return min(MAX_RENEWAL_MARGIN_SECONDS, max(0.0, lifetime * RENEWAL_SHARE))


def _oauth_error(response: requests.Response) -> tuple[str, str]:
    """(error code, description) from RFC 6749 bodies and Bling's `{"error": {"type", "description"}}`."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict):
        code = str(error.get("type") or error.get("message") or "")
        description = str(error.get("description") or error.get("message") or "")
    else:
        code = str(error or "")
        description = str(body.get("error_description") or body.get("message") or "")
    return code[:80], " ".join(description.split())[:200]
