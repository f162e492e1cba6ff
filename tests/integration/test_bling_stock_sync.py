"""Bling stock sync (issue #17): `ponte run bling-stock-sync` sets every shared deposit to the sum of the principal
ones, across two sandbox accounts, and records every decision in `<schema>.stock_sync_history`.

One SKU of each kind: A (in both accounts, balances differ), B (the second account's product is a service, so Bling
refuses the posting with a 400), M (missing in the second account) and K (made a kit, formato E). Three Meltano runs:
a dry run (posts nothing), a real run (posts), and `meltano run` again (nothing left to post).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from ponte.testing import SandboxProcess, bling_tokens
from ponte.testing.meltano_run import meltano_run, ponte_run

# three Meltano runs (~16 s on a warm machine): part of `make test`.
pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
MAIN, BRANCH = "loja-matriz", "loja-filial"


class Bling:
    """The sandbox's API as one account's user sees it (token from the sandbox's admin grant)."""

    def __init__(self, sandbox: SandboxProcess, token: str) -> None:
        self.base, self.session = sandbox.base_url, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        answer = self.session.get(self.base + path, params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]

    def set_balance(self, product: int, deposit: int, quantity: float) -> None:
        body = {"produto": {"id": product}, "deposito": {"id": deposit}, "operacao": "B", "quantidade": quantity}
        self.session.post(self.base + "/estoques", json=body, timeout=10).raise_for_status()

    def balance(self, product: int, deposit: int) -> float:
        rows = self.get(f"/estoques/saldos/{deposit}", **{"idsProdutos[]": [product], "filtroSaldoEstoque": 0})
        rows += self.get(f"/estoques/saldos/{deposit}", **{"idsProdutos[]": [product], "filtroSaldoEstoque": 1})
        return float(rows[0]["saldoFisicoTotal"]) if rows else 0.0

    def products(self, formato: str) -> list[dict[str, Any]]:
        rows = self.get("/produtos", criterio=2, limite=100)
        return [p for p in rows if p["formato"] == formato and p.get("tipo", "P") == "P" and p["codigo"]]


@pytest.fixture(scope="module")
def sandbox() -> Any:
    args = ("--products", "30", "--contacts", "10", "--orders", "10", "--set", "rate_limit=1000")
    with SandboxProcess.start("bling", *args) as running:
        yield running


def test_sync_sets_shared_deposits_to_the_sum_reports_the_rest_and_posts_nothing_twice(
    meltano_installed: None, sandbox: SandboxProcess, pg_schema: str, tmp_path: Path
) -> None:
    tokens = bling_tokens.seed_tokens(sandbox, tmp_path / "tokens.json", (MAIN, BRANCH))
    main, branch = Bling(sandbox, tokens[MAIN]["access_token"]), Bling(sandbox, tokens[BRANCH]["access_token"])
    deposits = {name: [d["id"] for d in api.get("/depositos")][:2] for name, api in ((MAIN, main), (BRANCH, branch))}
    (main_principal, main_shared), (branch_principal, branch_shared) = deposits[MAIN], deposits[BRANCH]
    simple_main, simple_branch = main.products("S"), branch.products("S")
    branch_codes = {p["codigo"] for p in simple_branch}
    a_main, b_main, m_main, kit = [p for p in simple_main if p["codigo"] in branch_codes][:4]
    by_code = {p["codigo"]: p for p in simple_branch}
    a_branch, b_branch = by_code[a_main["codigo"]], by_code[b_main["codigo"]]
    sandbox.admin("bling/touch", {"company": BRANCH, "resource": "produtos", "id": by_code[m_main["codigo"]]["id"],
                                  "changes": {"codigo": m_main["codigo"] + "-OUTRO"}})  # M: only the main account has it
    sandbox.admin(
        "bling/touch", {"company": MAIN, "resource": "produtos", "id": kit["id"], "changes": {"formato": "E"}}
    )
    sku_a, sku_b, sku_m, sku_k = a_main["codigo"], b_main["codigo"], m_main["codigo"], kit["codigo"]
    sandbox.admin("bling/touch", {"company": BRANCH, "resource": "produtos", "id": b_branch["id"],
                                  "changes": {"tipo": "S"}})  # fmt: skip
    main.set_balance(a_main["id"], main_principal, 7)
    branch.set_balance(a_branch["id"], branch_principal, 5)
    main.set_balance(a_main["id"], main_shared, 1)
    branch.set_balance(a_branch["id"], branch_shared, 2)
    main.set_balance(b_main["id"], main_principal, 3)
    main.set_balance(b_main["id"], main_shared, 0)
    main.set_balance(m_main["id"], main_principal, 4)
    main.set_balance(m_main["id"], main_shared, 4)  # already the sum: no posting
    sandbox.reset_log()

    accounts = json.dumps([{"name": MAIN}, {"name": BRANCH}])
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_RUN_STATE_ID_SUFFIX": pg_schema,
        "PONTE_DB_DSN": ADMIN_DSN,
        "PONTE_DB_SCHEMA": pg_schema,
        "TAP_BLING_ACCOUNTS": accounts,
        "TAP_BLING_BASE_URL": sandbox.base_url,
        "TAP_BLING_TOKEN_STORE_PATH": str(tmp_path / "tokens.json"),
        "TAP_BLING_STATE_DIR": str(tmp_path / "state"),
        "TAP_BLING_REQUESTS_PER_SECOND": "1000",
        "TARGET_BLING_ACCOUNTS": accounts,
        "TARGET_BLING_BASE_URL": sandbox.base_url,
        "TARGET_BLING_TOKEN_STORE_PATH": str(tmp_path / "tokens.json"),
        "TARGET_BLING_STATE_DIR": str(tmp_path / "state"),
        "TARGET_BLING_RATE_LIMIT_REQUESTS": "1000",
        "TARGET_BLING_RUN_LOG_DSN": ADMIN_DSN,
        "TARGET_BLING_RUN_LOG_SCHEMA": pg_schema,
        "TARGET_BLING_DEAD_LETTER_PATH": str(tmp_path / "dead_letters.jsonl"),
        "BLING_SYNC_PRINCIPAL": json.dumps(
            [{"conta": MAIN, "deposito": main_principal}, {"conta": BRANCH, "deposito": branch_principal}]
        ),
        "BLING_SYNC_SHARED": json.dumps(
            [{"conta": MAIN, "deposito": main_shared}, {"conta": BRANCH, "deposito": branch_shared}]
        ),
    }
    skus = [arg for sku in (sku_a, sku_b, sku_m, sku_k) for arg in ("--sku", sku)]

    def postings() -> list[dict[str, Any]]:
        return [r for r in sandbox.request_log() if r.get("method") == "POST" and "/estoques" in r.get("path", "")]

    dry = ponte_run(PROJECT, ["bling-stock-sync", *skus, "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert postings() == []
    assert main.balance(a_main["id"], main_shared) == 1

    real = ponte_run(PROJECT, ["bling-stock-sync", *skus], env)
    assert real.returncode == 0, real.stderr[-3000:]
    assert main.balance(a_main["id"], main_shared) == 12, real.stderr[-5000:]
    assert branch.balance(a_branch["id"], branch_shared) == 12
    assert main.balance(b_main["id"], main_shared) == 3
    assert main.balance(m_main["id"], main_shared) == 4
    assert len(postings()) == 4  # A twice, B twice (the branch's refused)

    letters = [json.loads(line) for line in (tmp_path / "dead_letters.jsonl").read_text().splitlines()]
    assert [letter["record"]["produto"]["id"] for letter in letters] == [b_branch["id"]]
    assert "Serviços não possuem controle de estoque" in letters[0]["reason"]

    with psycopg.connect(ADMIN_DSN) as conn:
        rows = conn.execute(
            f"SELECT status, sku, conta, deposito, saldo_anterior, saldo_novo, soma, reason, trigger "
            f'FROM "{pg_schema}".stock_sync_history ORDER BY id'
        ).fetchall()
    dry_rows = [r for r in rows if r[0] == "dry-run"]
    assert {(r[1], r[2], float(r[4]), float(r[5])) for r in dry_rows} == {
        (sku_a, MAIN, 1, 12), (sku_a, BRANCH, 2, 12), (sku_b, MAIN, 0, 3), (sku_b, BRANCH, 0, 3),
    }  # fmt: skip
    sent = {(r[1], r[2]) for r in rows if r[0] == "sent"}
    assert sent == {(sku_a, MAIN), (sku_a, BRANCH), (sku_b, MAIN)}
    refused = [r for r in rows if r[0] == "refused"]
    assert [(r[1], r[2]) for r in refused] == [(sku_b, BRANCH)] and "Serviços" in refused[0][7]
    skipped = {(r[1], r[2], r[7]) for r in rows if r[0] == "skipped"}
    assert (sku_m, BRANCH, f"SKU ausente na conta {BRANCH}") in skipped
    assert {(s, c) for s, c, why in skipped if "composição" in why} == {(sku_k, MAIN), (sku_k, BRANCH)}
    assert {r[8] for r in rows} == {"manual"}

    sandbox.reset_log()
    again = meltano_run(PROJECT, ["bling-stock-sync"], {**env, "PONTE_SKUS": json.dumps([sku_a, sku_m])})
    assert again.returncode == 0, again.stderr[-3000:]
    assert postings() == []
