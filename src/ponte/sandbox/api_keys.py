"""Sandboxes reached with any of several API keys, each key with its own rate window (ProExtend, RetailPortal)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from ponte.sandbox.gates import Admission, RateGate
from ponte.sandbox.server import Request, Response, Router, SandboxApp, as_response


class ApiKeyError(Exception):
    """An error answer; each API's subclass gives its body shape in `response`."""

    def __init__(self, status: int, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors

    def response(self) -> Response:
        raise NotImplementedError


class ApiKeyApp(SandboxApp):
    """Keys compared in constant time; a request without a valid key is not counted against any window.

    Subclasses say where the key travels (`given_key`), what `default_api_key` is, their `error` class, their
    `api` router (paths below `base_path`) and the wording of the routing errors (`{method}`, `{path}`).
    """

    default_api_key = ""
    error: type[ApiKeyError] = ApiKeyError
    missing_key_text = ""
    not_found_text = ""
    wrong_method_text = ""
    api: Router

    def __init__(self, api_keys: Iterable[str], seed: int = 42) -> None:
        super().__init__(seed)
        self.api_keys = tuple(api_keys) or (self.default_api_key,)
        self.gates = {key: RateGate(self.switches) for key in self.api_keys}

    def given_key(self, request: Request) -> str:
        """The key the request carries ("" when none, or in the wrong form)."""
        raise NotImplementedError

    def _key(self, request: Request) -> str | None:
        given = self.given_key(request)
        for key in self.api_keys:
            if given and hmac.compare_digest(given.encode(), key.encode()):
                return key
        return None

    def admit(self, request: Request) -> Admission | None:
        """Authenticate first (the limit is per API key); requests without a valid key are not counted."""
        key = self._key(request)
        if key is None:
            return None
        request.context["api_key"] = key
        today, to_midnight = self._day()
        return self.gates[key].admit(today, to_midnight)

    def serve(self, request: Request) -> Response:
        """Authenticated endpoints under the base path; errors in the API's shape."""
        try:
            return self._serve(request)
        except ApiKeyError as error:
            return error.response()

    def _serve(self, request: Request) -> Response:
        if not (request.path == self.base_path or request.path.startswith(f"{self.base_path}/")):
            raise self.error(404, self.not_found_text.format(method=request.method, path=request.path))
        if "api_key" not in request.context:
            key = self._key(request)
            if key is None:
                raise self.error(401, self.missing_key_text)
            request.context["api_key"] = key
        handler, params, exists = self.api.match(request.method, request.path[len(self.base_path) :])
        if handler is None:
            text = self.wrong_method_text if exists else self.not_found_text
            raise self.error(405 if exists else 404, text.format(method=request.method, path=request.path))
        request.params = params
        return as_response(handler(request))

    def reset_limits(self) -> dict[str, Any]:
        """Forget every key's rate window."""
        for gate in self.gates.values():
            gate.reset()
        return {"status": "ok"}


__all__ = ["ApiKeyApp", "ApiKeyError"]
