"""Bling stock sync triggers (issue #17): `ponte serve` with the sandbox's signed webhooks pointed at its
/webhooks/bling. Three accounts, principal deposits in two, a shared deposit in each: sales start sync runs for
their SKUs only, every shared deposit reaches the new sum with one posting per change, the webhooks of our own
postings start nothing, and the full check repairs what happened while webhooks were off.
"""

from __future__ import annotations

import time
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

# webhook runs behind a real service (~30 s: they take `ponte run --direct`): part of `make test`.
pytestmark = pytest.mark.meltano
PROJECT = Path(__file__).parents[2]
ACCOUNTS = ("loja-matriz", "loja-filial", "loja-3")
PRINCIPAL, SHARED = "Depósito Geral", "Estoque Compartilhado (marketplaces)"
DONE = {"succeeded", "partial"}  # a full check meets the sandbox's kits and services: reported, refused, partial


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = schema_name("stock_triggers")
    yield name
    drop_schemas(name)


class Account:
    def __init__(self, sb: SandboxThread, slug: str, token: str) -> None:
        self.sb, self.slug, self.headers = sb, slug, {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        answer = requests.get(self.sb.base_url + path, params=params, headers=self.headers, timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]

    def deposit(self, name: str) -> int:
        return next(d["id"] for d in self.get("/depositos") if d["descricao"] == name)

    def product(self, codigo: str) -> int:
        return int(self.get("/produtos", **{"codigos[]": codigo, "criterio": 5})[0]["id"])

    def balance(self, product: int, deposit: int) -> float:
        rows = self.get(f"/estoques/saldos/{deposit}", **{"idsProdutos[]": product})
        return float(rows[0]["saldoFisicoTotal"]) if rows else 0.0


def shared_simple(sb: SandboxThread, count: int) -> list[str]:
    """SKUs of simple products every account carries and no kit uses."""
    accounts = list(sb.app.accounts.values())
    codes = [{r.data["codigo"]: r for r in a.catalog.products if not r.excluded} for a in accounts]
    found = []
    for code, rec in sorted(codes[0].items()):
        simple = rec.data["formato"] == "S" and rec.data["tipo"] == "P" and all(code in c for c in codes)
        if simple and not any(a.stock.kits_with(c[code].id) for a, c in zip(accounts, codes, strict=True)):
            found.append(code)
    return found[:count]


def test_sales_sync_every_shared_deposit_once_without_loops_and_the_full_check_repairs_the_rest(
    meltano_installed: None, schema: str, tmp_path: Path
) -> None:
    sb = SandboxThread.start("bling", "--companies", "3", "--products", "30", "--contacts", "10", "--orders", "10",
                             "--rate-limit", "0")  # fmt: skip
    try:
        tokens = bling_tokens.seed_tokens(sb, tmp_path / "tokens.json", ACCOUNTS)
        info = requests.get(sb.url + "/_sandbox/bling/info", timeout=10).json()
        company = {c["slug"]: str(c["id"]) for c in info["companies"]}
        api = {slug: Account(sb, slug, tokens[slug]["access_token"]) for slug in ACCOUNTS}
        principal = [{"conta": s, "deposito": api[s].deposit(PRINCIPAL)} for s in ACCOUNTS[:2]]
        shared = [{"conta": s, "deposito": api[s].deposit(SHARED)} for s in ACCOUNTS]
        skus = shared_simple(sb, 2)
        env = stock_sync_env(schema, sb.base_url, tmp_path, company, ACCOUNTS, principal, shared)
        products = {(s, sku): api[s].product(sku) for s in ACCOUNTS for sku in skus}

        def expected(sku: str) -> float:
            return sum(api[p["conta"]].balance(products[(p["conta"], sku)], p["deposito"]) for p in principal)

        def in_step(sku: str) -> bool:
            want = expected(sku)
            return all(api[d["conta"]].balance(products[(d["conta"], sku)], d["deposito"]) == want for d in shared)

        def postings() -> list[dict[str, Any]]:
            log = requests.get(sb.url + "/_sandbox/requests", timeout=10).json()
            # balances set (Bling refuses services and variation parents with a 400 on every full check)
            return [e for e in log if e["method"] == "POST" and e["path"].endswith("/estoques") and e["status"] == 201]

        def sale(slug: str, sku: str) -> None:
            answer = requests.post(sb.url + "/_sandbox/bling/simulate-sale",
                                   json={"company": slug, "codigo": sku, "quantidade": 1}, timeout=10)  # fmt: skip
            assert answer.status_code == 200, answer.text

        with ServiceThread(PROJECT, env) as service:
            # the starting point: one full check (manual) puts every shared deposit at the sum
            first = _start_check(service)
            assert service.finished(first, 180)["status"] in DONE
            assert all(in_step(sku) for sku in skus)
            sb.app.configure(webhooks=True, webhook_url=service.url + "/webhooks/bling")
            sb.reset_log()
            before = len(postings())

            started = time.monotonic()
            for n in range(10):  # ~10 sales in the two principal accounts, two SKUs
                sale(ACCOUNTS[n % 2], skus[n % 2])
            wait_for(lambda: all(in_step(sku) for sku in skus) and not service.runs(status="running"), 180,
                     "the shared deposits to reach the new sums")  # fmt: skip
            took = time.monotonic() - started
            assert sb.app.webhooks.wait_idle(10)
            # every event settled: sales' events done, our postings' echoes ignored, none still waiting
            wait_for(lambda: all(r[1] in ("done", "ignored") for r in _events(schema)), 60, "events to settle")
            rows = _events(schema)
            shared_ids = {d["deposito"] for d in shared}
            echoes = [r for r in rows if r[0].startswith("stock.") and r[3]["data"]["deposito"]["id"] in shared_ids]
            assert echoes and {(r[1], r[2]) for r in echoes} == {("ignored", "stock-not-principal")}
            webhook_runs = [r for r in service.runs() if r["trigger"] == "webhook"]
            assert webhook_runs and all(r["status"] in DONE for r in webhook_runs)
            # one posting per shared deposit per change; postings name only the two SKUs' products
            posted = postings()[before:]
            per_deposit = {(p["company"], p["body"]["deposito"]["id"], p["body"]["produto"]["id"]) for p in posted}
            assert {p["body"]["produto"]["id"] for p in posted} <= set(products.values())
            history = _history(schema)
            sent = [h for h in history if h[0] == "sent" and h[4] == "webhook"]
            assert len(sent) == len(posted) and len(per_deposit) <= 6
            assert len({(h[1], h[2], float(h[3])) for h in sent}) == len(sent)  # never the same balance twice
            runs_after = len(service.runs())

            # webhooks off during sales: the full check (what the 30-minute schedule starts) repairs them
            sb.app.configure(webhooks=False)
            for n in range(4):
                sale(ACCOUNTS[n % 2], skus[0])
            assert not in_step(skus[0])
            check = _start_check(service)
            assert service.finished(check, 180)["status"] in DONE
            assert all(in_step(sku) for sku in skus)
            count = len(postings())
            again = _start_check(service)
            assert service.finished(again, 180)["status"] in DONE
            assert len(postings()) == count  # nothing left to post
            assert len(service.runs()) == runs_after + 2  # no run started by anything but us
        print(f"10 sales in step after {took:.1f} s in {len(webhook_runs)} webhook run(s)")
    finally:
        sb.stop()


def _start_check(service: ServiceThread) -> str:
    """A full check through the API, once the previous run has let go of the job (409 while it finishes)."""

    def accepted() -> str | None:
        answer = service.post("/api/runs", json={"job": "bling-stock-sync"})
        return answer.json()["run_id"] if answer.status_code == 202 else None

    return str(wait_for(accepted, 30, "the full check to start", every=0.5))


def _events(schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(ADMIN_DSN) as conn:
        return conn.execute(f'SELECT event, status, rule, payload FROM "{schema}".webhook_events').fetchall()


def _history(schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(ADMIN_DSN) as conn:
        return conn.execute(
            f'SELECT status, conta, deposito, saldo_novo, trigger FROM "{schema}".stock_sync_history ORDER BY id'
        ).fetchall()
