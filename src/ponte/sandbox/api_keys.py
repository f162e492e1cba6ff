"""Sandboxes reached with any of several API keys, each key with its own rate window (ProExtend, RetailPortal)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from ponte.sandbox.gates import Admission, RateGate
from ponte.sandbox.server import Request, SandboxApp


class ApiKeyApp(SandboxApp):
    """Keys compared in constant time; a request without a valid key is not counted against any window.

    Subclasses say where the key travels (`given_key`) and what `default_api_key` is.
    """

    default_api_key = ""

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

    def reset_limits(self) -> dict[str, Any]:
        """Forget every key's rate window."""
        for gate in self.gates.values():
            gate.reset()
        return {"status": "ok"}


__all__ = ["ApiKeyApp"]
