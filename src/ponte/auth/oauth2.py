"""OAuth2 token endpoint grants (client credentials, password, refresh token), token cached until expiry.

The access token is fetched lazily, renewed a minute before it expires and once more on a 401. Rotated
refresh tokens are kept in memory here; persisting them across runs (Bling) is the token store's job.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import requests

from ponte.errors import AuthError


class OAuth2Auth:
    """Bearer auth whose token comes from a token endpoint."""

    def __init__(
        self,
        *,
        token_url: str,
        grant_type: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        scope: str | None = None,
        client_auth: str = "body",
        token_field: str = "access_token",
        expires_in_field: str = "expires_in",
        extra_params: dict[str, Any] | None = None,
        verify_tls: bool | str = True,
        timeout_seconds: float = 30.0,
        label: str = "oauth2",
    ) -> None:
        self.token_url = token_url
        self.grant_type = grant_type
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.refresh_token = refresh_token
        self.scope = scope
        self.client_auth = client_auth
        self.token_field = token_field
        self.expires_in_field = expires_in_field
        self.extra_params = extra_params or {}
        self.verify_tls = verify_tls
        self.timeout_seconds = timeout_seconds
        self.label = label
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def secrets(self) -> list[str]:
        """Everything that must never be printed."""
        return [s for s in (self.client_secret, self.password, self.refresh_token, self._token) if s]

    def apply(self, request: requests.PreparedRequest) -> None:
        """Attach a valid access token, fetching one first if needed."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at - 60:
                self._fetch()
            request.headers["Authorization"] = f"Bearer {self._token}"

    def on_unauthorized(self) -> bool:
        """The token was refused: drop it so the next apply fetches a new one."""
        with self._lock:
            self._token = None
        return True

    def _fetch(self) -> None:
        grant = self.grant_type
        # authorization_code: the user consented once (outside the tap) and configured the refresh token it
        # gave; the tap only ever exchanges that refresh token.
        if grant in ("refresh_token", "authorization_code") or (self.refresh_token and self._token is not None):
            form: dict[str, Any] = {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        elif grant == "password":
            form = {"grant_type": "password", "username": self.username, "password": self.password}
        else:
            form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        form.update(self.extra_params)
        auth = None
        if self.client_id:
            if self.client_auth == "basic":
                auth = (self.client_id, self.client_secret or "")
            else:
                form["client_id"] = self.client_id
                if self.client_secret:
                    form["client_secret"] = self.client_secret
        try:
            response = requests.post(
                self.token_url, data=form, auth=auth, timeout=self.timeout_seconds, verify=self.verify_tls
            )
        except requests.RequestException as exc:
            raise AuthError(f"{self.label}: could not reach the token endpoint ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise AuthError(
                f"{self.label}: the token endpoint refused the {form['grant_type']} grant "
                f"(HTTP {response.status_code}); check the client id/secret and user credentials"
            )
        body = orjson.loads(response.content)
        token = body.get(self.token_field)
        if not token:
            raise AuthError(f"{self.label}: the token endpoint answered without '{self.token_field}'")
        self._token = str(token)
        self._expires_at = time.monotonic() + float(body.get(self.expires_in_field) or 3600)
        if body.get("refresh_token"):
            self.refresh_token = str(body["refresh_token"])
