"""A stock webhook's run takes the direct path (`direct: true` in webhooks/bling.yml): `ponte serve` starts
`ponte run --direct bling-stock-sync`, which runs tap-bling--stock | bling-stock-sum | target-bling as one pipe
without `meltano run`, and is recorded like any run. One sale, one run (its settings resolved through Meltano
once: about one `meltano run`'s cost), against the sandbox's signed webhooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from serve_harness import ADMIN_DSN, ServiceThread, drop_schemas, schema_name, wait_for
from stock_sync_service import stock_sync_env

from ponte.testing import bling_tokens
from ponte.testing.in_process import SandboxThread

pytestmark = [pytest.mark.meltano]
PROJECT = Path(__file__).parents[2]
ACCOUNTS = ("loja-matriz", "loja-filial", "loja-3")
PRINCIPAL, SHARED = "Depósito Geral", "Estoque Compartilhado (marketplaces)"


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = schema_name("stock_direct")
    yield name
    drop_schemas(name)


def test_a_sale_webhook_posts_through_the_direct_pipe_and_the_run_is_recorded(
    meltano_installed: None, schema: str, tmp_path: Path
) -> None:
    sb = SandboxThread.start("bling", "--companies", "3", "--products", "20", "--rate-limit", "0")
    try:
        tokens = bling_tokens.seed_tokens(sb, tmp_path / "tokens.json", ACCOUNTS)

        def get(slug: str, path: str, **params: Any) -> Any:
            headers = {"Authorization": f"Bearer {tokens[slug]['access_token']}"}
            answer = requests.get(sb.base_url + path, params=params, headers=headers, timeout=10)
            answer.raise_for_status()
            return answer.json()["data"]

        info = requests.get(sb.url + "/_sandbox/bling/info", timeout=10).json()
        company = {c["slug"]: str(c["id"]) for c in info["companies"]}
        deposit = {(s, d["descricao"]): d["id"] for s in ACCOUNTS for d in get(s, "/depositos")}
        principal = [{"conta": s, "deposito": deposit[(s, PRINCIPAL)]} for s in ACCOUNTS[:2]]
        shared = [{"conta": s, "deposito": deposit[(s, SHARED)]} for s in ACCOUNTS]
        sku = next(
            p["codigo"] for p in get("loja-matriz", "/produtos", criterio=2)
            if p["formato"] == "S" and p["tipo"] == "P" and all(get(s, "/produtos", **{"codigos[]": p["codigo"]})
                                                                for s in ACCOUNTS[1:])
        )  # fmt: skip
        env = stock_sync_env(schema, sb.base_url, tmp_path, company, ACCOUNTS, principal, shared)

        with ServiceThread(PROJECT, env) as service:
            sb.app.configure(webhooks=True, webhook_url=service.url + "/webhooks/bling")
            sb.reset_log()
            answer = requests.post(sb.url + "/_sandbox/bling/simulate-sale",
                                   json={"company": "loja-matriz", "codigo": sku, "quantidade": 1}, timeout=10)  # fmt: skip
            assert answer.status_code == 200, answer.text
            run = wait_for(lambda: next(iter(service.runs(trigger="webhook")), None), 60, "the webhook's run")
            record = service.finished(run["run_id"], 180)
            lines = service.get(f"/api/runs/{run['run_id']}/log").text
            wait_for(lambda: sb.app.webhooks.wait_idle(1), 30, "the echoes of our postings")
            wait_for(lambda: not service.runs(status="running"), 60, "no run left running")
            runs = service.runs()
        log = requests.get(sb.url + "/_sandbox/requests", timeout=10).json()
    finally:
        sb.stop()

    # the run: recorded as a webhook run of the job, every plugin exit 0, its log the plugins' lines
    assert record["status"] == "succeeded", (record.get("error"), lines[-3000:])
    assert record["pipeline"] == "bling-stock-sync" and record["trigger"] == "webhook"
    assert {p["name"]: p["exit_code"] for p in record["plugins"]} == {
        "tap-bling--stock": 0, "bling-stock-sum": 0, "target-bling": 0
    }
    assert "--direct" in (record.get("command") or "")
    assert "Environment 'dev' is active" not in lines  # what every `meltano run` logs first: none ran
    # the postings: every shared deposit set to the sum of the principal ones, once, for the sold SKU only
    posts = [e for e in log if e["method"] == "POST" and e["path"].endswith("/estoques") and e["status"] == 201]
    assert sorted((e["company"], e["body"]["deposito"]["id"]) for e in posts) == sorted(
        (d["conta"], d["deposito"]) for d in shared
    )
    assert len({e["body"]["quantidade"] for e in posts}) == 1
    # our postings' webhooks started nothing: one run in all
    assert len(runs) == 1
    with psycopg.connect(ADMIN_DSN) as conn:
        history = conn.execute(f'SELECT status, trigger FROM "{schema}".stock_sync_history').fetchall()
    assert history and set(history) == {("sent", "webhook")}
