"""Bling sandbox accounts already authorized: tokens from the sandbox's admin grant, saved where tap-bling looks."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ponte.auth.token_store import FileTokenStore, TokenRecord
from ponte.sandbox.process import SandboxProcess


def grant(sandbox: SandboxProcess, company: str) -> dict[str, Any]:
    """A fresh token pair for a company, as if its user had consented (the sandbox's admin shortcut)."""
    answer = sandbox.session.post(f"{sandbox.url}/_sandbox/bling/grant", json={"company": company}, timeout=10)
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


def seed_tokens(
    sandbox: SandboxProcess, store_path: Path, companies: Iterable[str], *, expires_in: float | None = None
) -> dict[str, dict[str, Any]]:
    """Authorize each company and save its tokens under `bling-<company>`, as `ponte auth bling` would.

    `expires_in` is how many seconds the stored access token has left (it was issued `lifetime - expires_in`
    seconds ago): `0` makes the tap renew it at once, `61` about a second into the run.
    """
    store = FileTokenStore(store_path)
    tokens = {}
    for company in companies:
        body = grant(sandbox, company)
        lifetime = float(body["expires_in"])
        now = time.time()
        left = lifetime if expires_in is None else float(expires_in)
        record = TokenRecord(
            body["access_token"], body["refresh_token"], now + left, body.get("scope"), updated_at=now + left - lifetime
        )
        store.save(f"bling-{company}", record)
        tokens[company] = body
    return tokens


def sandbox_config(base_url: str, folder: Path, accounts: Iterable[str], **settings: Any) -> dict[str, Any]:
    """tap-bling's or target-bling's config for sandbox `accounts` (the sandbox's app credentials), with the token
    store and state under `folder` — where `seed_tokens(sandbox, folder / "tokens.json", accounts)` saves them."""
    return {
        "accounts": [{"name": name} for name in accounts],
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "base_url": base_url,
        "token_store_path": str(folder / "tokens.json"),
        "state_dir": str(folder / "state"),
        **settings,
    }
