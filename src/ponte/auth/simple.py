"""Static credentials: HTTP Basic, bearer token, API key in a header or the query string."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests


class NoAuth:
    """For open endpoints."""

    def apply(self, request: requests.PreparedRequest) -> None:
        """Nothing to add."""

    def on_unauthorized(self) -> bool:
        """Nothing to refresh."""
        return False

    def secrets(self) -> list[str]:
        """No secrets."""
        return []


class BasicAuth(NoAuth):
    """`Authorization: Basic base64(user:password)` on every request (Sienge)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self._header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def apply(self, request: requests.PreparedRequest) -> None:
        """Set the header."""
        request.headers["Authorization"] = self._header

    def secrets(self) -> list[str]:
        """The password and the encoded header value."""
        return [self.password, self._header.split(" ", 1)[1]]


class BearerAuth(NoAuth):
    """`Authorization: Bearer <token>` with a fixed token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def apply(self, request: requests.PreparedRequest) -> None:
        """Set the header."""
        request.headers["Authorization"] = f"Bearer {self.token}"

    def secrets(self) -> list[str]:
        """The token."""
        return [self.token]


class ApiKeyAuth(NoAuth):
    """An API key in a named header (`X-API-Key`) or query parameter."""

    def __init__(self, value: str, header: str | None = None, query_param: str | None = None) -> None:
        if not header and not query_param:
            header = "X-API-Key"
        self.value = value
        self.header = header
        self.query_param = query_param

    def apply(self, request: requests.PreparedRequest) -> None:
        """Set the header or add the query parameter."""
        if self.header:
            request.headers[self.header] = self.value
            return
        parts = urlsplit(request.url or "")
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != self.query_param]
        query.append((str(self.query_param), self.value))
        request.url = urlunsplit(parts._replace(query=urlencode(query)))

    def secrets(self) -> list[str]:
        """The key."""
        return [self.value]
