"""tap-bling's HTTP client, built in-process from taps/bling.yml, against the Bling sandbox over real sockets.

In-process because the test must decide exactly when the token-call budget frees up: a token refresh that has
to wait for that budget must not let a request go out with three fresh ones and trip Bling's 3 requests/s.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ponte.auth.token_store import FileTokenStore
from ponte.cli.taps import declaration_path
from ponte.declaration import load_tap_spec
from ponte.tap.runtime import build_runtime
from ponte.testing import SandboxProcess, bling_tokens
from ponte.testing.in_process import SandboxThread

ACCOUNT = "loja-matriz"
TOKEN_CALLS_PER_MINUTE = 5  # taps/bling.yml auth.rate_limit.requests


@pytest.fixture
def bling() -> Any:
    """Bling's documented limit: 3 requests per second per account."""
    with SandboxThread.start("bling", "--products", "4", "--companies", "1", "--set", "rate_limit=3") as sandbox:
        yield sandbox


def test_a_refresh_waiting_for_the_token_budget_does_not_push_a_fourth_request_into_the_second(
    bling: SandboxProcess, tmp_path: Path
) -> None:
    store_path = tmp_path / "tokens.json"
    bling_tokens.seed_tokens(bling, store_path, [ACCOUNT], expires_in=0)  # the first request must refresh
    declaration = load_tap_spec(declaration_path("bling"))
    config = {
        "accounts": [{"name": ACCOUNT}],
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "base_url": bling.base_url,
        "token_store_path": str(store_path),
        "state_dir": str(tmp_path / "state"),
    }
    runtime = build_runtime(declaration.data, declaration.base_dir, config, logging.getLogger("test-budgets"))
    client = runtime.client_for(ACCOUNT)
    # other processes sharing the store spent the token budget; it frees up 1.5 s from now (more than a window)
    spent_at = time.time() - 60 + 1.5
    store = FileTokenStore(store_path)
    for _ in range(TOKEN_CALLS_PER_MINUTE):
        assert store.reserve_token_call(TOKEN_CALLS_PER_MINUTE, 60.0, spent_at) == 0.0
    bling.reset_log()

    for _ in range(4):
        request = requests.Request("GET", runtime.url("/depositos"), params={"pagina": 1, "limite": 100})
        client.send(client.session.prepare_request(request), label="stream 'depositos'")
    client.close()

    log = bling.request_log()
    assert [e["path"] for e in log if "/oauth/" in e["path"]] == ["/Api/v3/oauth/token"], "one refresh"
    resources = [e for e in log if "/oauth/" not in e["path"]]
    assert [e["status"] for e in resources] == [200, 200, 200, 200], [e["status"] for e in resources]
