"""target-bling posts to its accounts at the same time, each at its own 3 req/s (in-process, SandboxThread)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import requests

from ponte.testing import bling_tokens
from ponte.testing.in_process import SandboxThread, call_console_script

ACCOUNTS = ("loja-matriz", "loja-filial", "loja-3")
PER_ACCOUNT = 4


def api(sandbox: SandboxThread, token: str, path: str, **params: Any) -> Any:
    answer = requests.get(
        sandbox.base_url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()["data"]


def postings(sandbox: SandboxThread) -> tuple[list[str], dict[tuple[str, int, int], float]]:
    """Singer lines of stock_balances records for PER_ACCOUNT simple products of each account, and what they set."""
    lines = [json.dumps({"type": "SCHEMA", "stream": "stock_balances", "schema": {"type": "object"},
                         "key_properties": ["conta", "deposito_id", "produto_id"]})]  # fmt: skip
    expected = {}
    for account in ACCOUNTS:
        token = bling_tokens.grant(sandbox, account)["access_token"]
        deposit = api(sandbox, token, "/depositos")[0]["id"]
        products = [
            p
            for p in api(sandbox, token, "/produtos", criterio=2, limite=100)
            if p["formato"] == "S" and p.get("tipo", "P") == "P"
        ]
        for number, product in enumerate(products[:PER_ACCOUNT]):
            quantity = 100.0 + number
            record = {"conta": account, "sku": product["codigo"], "deposito_id": deposit, "produto_id": product["id"],
                      "saldos_principais": [], "soma": quantity, "saldo_anterior": 0, "operacao": "B",
                      "quantidade": quantity, "produto": {"id": product["id"]}, "deposito": {"id": deposit}}  # fmt: skip
            lines.append(json.dumps({"type": "RECORD", "stream": "stock_balances", "record": record}))
            expected[(account, deposit, product["id"])] = quantity
    return lines, expected


def test_postings_of_every_account_go_out_at_the_same_time_each_within_its_budget(tmp_path: Path) -> None:
    with SandboxThread.start("bling", "--companies", "3", "--products", "20", "--set", "rate_limit=1000") as bling:
        bling_tokens.seed_tokens(bling, tmp_path / "tokens.json", ACCOUNTS)
        lines, expected = postings(bling)
        config = bling_tokens.sandbox_config(bling.base_url, tmp_path, ACCOUNTS,
                                             job_log_path=str(tmp_path / "jobs.jsonl"),
                                             dead_letter_path=str(tmp_path / "dead-letters.jsonl"))  # fmt: skip
        (tmp_path / "config.json").write_text(json.dumps(config))
        bling.reset_log()
        code, _, stderr = call_console_script(
            "target-bling", ["--config", str(tmp_path / "config.json")], stdin="\n".join(lines).encode() + b"\n"
        )
        posted = [e for e in bling.request_log() if e["method"] == "POST" and e["path"].endswith("/estoques")]
        balances = {}
        for account, deposit, product in expected:
            token = bling_tokens.grant(bling, account)["access_token"]
            rows = api(bling, token, f"/estoques/saldos/{deposit}", **{"idsProdutos[]": [product]})
            balances[(account, deposit, product)] = float(rows[0]["saldoFisicoTotal"])
    assert code == 0, stderr
    assert balances == expected
    assert len(posted) == len(expected)
    in_order = [e["company"] for e in sorted(posted, key=lambda e: e["timestamp"])]
    # the accounts take turns instead of one account's postings after the other's
    assert sum(1 for a, b in itertools.pairwise(in_order) if a != b) > len(ACCOUNTS) - 1, in_order
    for account in ACCOUNTS:
        times = sorted(dt.datetime.fromisoformat(e["timestamp"]) for e in posted if e["company"] == account)
        assert all((b - a).total_seconds() > 1.0 for a, b in zip(times, times[3:], strict=False)), account
