"""What the three TOTVS flavours share: open routes (token endpoints) and guarded routes behind `authenticate`."""

from __future__ import annotations

from typing import Any

from ponte.sandbox.credentials import basic_credentials, bearer
from ponte.sandbox.server import Request, Response, as_response
from ponte.sandbox.switches import Switches
from ponte.sandbox.totvs.errors import method_not_allowed, not_found, unauthorized
from ponte.sandbox.totvs.query import CaseRouter, Row, collection
from ponte.sandbox.totvs.tokens import TokenStore

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class FlavourApi:
    """One TOTVS product on the shared server. Subclasses fill `open` and `routes` and define `authenticate`."""

    name = ""
    page_size_switch = ""

    def __init__(self, switches: Switches, tokens: TokenStore) -> None:
        self.switches = switches
        self.tokens = tokens
        self.open = CaseRouter()  # no credentials needed (token endpoints)
        self.routes = CaseRouter()  # authenticate first

    def serve(self, request: Request) -> Response:
        """Route, authenticate when the route needs it, answer; TotvsError propagates to the app."""
        handler, params, open_exists = self.open.match(request.method, request.path)
        if handler is not None:
            request.params = params
            return as_response(handler(request))
        handler, params, exists = self.routes.match(request.method, request.path)
        if handler is None:
            if exists or open_exists:
                raise method_not_allowed(request.method, request.path)
            raise not_found(f"No route for {request.method} {request.path}")
        request.params = params
        self.authenticate(request)
        return as_response(handler(request))

    def is_auth_path(self, path: str) -> bool:
        """Whether a path is one of the open (token) endpoints."""
        return self.open.knows(path)

    def authenticate(self, request: Request) -> None:
        """Raise a 401 TotvsError unless the request carries valid credentials; note the user in the context."""
        raise NotImplementedError

    def collection(self, request: Request, rows: list[Row], **options: Any) -> dict[str, Any]:
        """A page of rows in the flavour's collection envelope, with its default page size."""
        return collection(request, rows, self.switches, self.switches[self.page_size_switch], **options)


class UserFlavourApi(FlavourApi):
    """A flavour with one user, who sends a Bearer token from its token endpoint or Basic credentials."""

    missing_credentials = ""  # the 401 detail when neither came
    missing_scheme = "Bearer"  # the WWW-Authenticate challenge of that 401

    def __init__(self, switches: Switches, tokens: TokenStore, user: str, password: str) -> None:
        super().__init__(switches, tokens)
        self.credentials = (user, password)

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization")
        token = bearer(header)
        if token:
            request.context["user"] = self.tokens.subject(self.name, token)
            return
        credentials = basic_credentials(header)
        if credentials is None:
            raise unauthorized(self.missing_credentials, self.missing_scheme)
        request.context["user"] = credentials[0]
        if credentials != self.credentials:
            raise unauthorized("Invalid user or password.", "Basic")


__all__ = ["NO_STORE", "FlavourApi", "UserFlavourApi"]
