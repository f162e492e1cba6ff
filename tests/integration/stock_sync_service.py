"""The environment of a `ponte serve` that runs the Bling stock sync against one sandbox (shared by the webhook
scenarios of issue #17): the accounts with their webhook company ids, tap and target at the sandbox with budgets
out of the way, the history and dead letters in the test's own places."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from serve_harness import ADMIN_DSN, service_env


def stock_sync_env(schema: str, base_url: str, tmp_path: Path, company: dict[str, str], accounts: list[str],
                   principal: list[dict[str, Any]], shared: list[dict[str, Any]]) -> dict[str, str]:  # fmt: skip
    """`company`: each account's Bling company id (webhooks name it); principal/shared: BLING_SYNC_* entries."""
    declared = json.dumps([{"name": s, "company_id": company[s]} for s in accounts])
    return service_env(
        schema, MELTANO_ENVIRONMENT="dev", MELTANO_RUN_STATE_ID_SUFFIX=schema,
        TAP_BLING_ACCOUNTS=declared, TAP_BLING_BASE_URL=base_url, TAP_BLING_CLIENT_SECRET="sandbox-client-secret",
        TAP_BLING_TOKEN_STORE_PATH=str(tmp_path / "tokens.json"), TAP_BLING_STATE_DIR=str(tmp_path / "state"),
        TAP_BLING_REQUESTS_PER_SECOND="1000", TARGET_BLING_ACCOUNTS=declared, TARGET_BLING_BASE_URL=base_url,
        TARGET_BLING_TOKEN_STORE_PATH=str(tmp_path / "tokens.json"), TARGET_BLING_STATE_DIR=str(tmp_path / "state"),
        TARGET_BLING_RATE_LIMIT_REQUESTS="1000", TARGET_BLING_RUN_LOG_DSN=ADMIN_DSN,
        TARGET_BLING_RUN_LOG_SCHEMA=schema, TARGET_BLING_DEAD_LETTER_PATH=str(tmp_path / "dead.jsonl"),
        BLING_SYNC_PRINCIPAL=json.dumps(principal), BLING_SYNC_SHARED=json.dumps(shared),
        PONTE_WEBHOOK_COMPANY_TABLE="none",
    )  # fmt: skip
