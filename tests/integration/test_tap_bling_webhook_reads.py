"""A stock-sync webhook run of tap-bling (a few products by id, the sync's deposits) asks Bling only what it needs.

In-process against a SandboxThread, from the sandbox's request log: the SKU listing once per account (not again
for the saldos' ids), no request for an empty page after a short one, saldos only of the declared principal and
shared deposits — and still every balance the stock sync needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from ponte.testing import bling_tokens
from ponte.testing.in_process import SandboxThread, run_tap_in_process

ACCOUNTS = ("loja-matriz", "loja-filial", "loja-3")


def deposits_of(bling: SandboxThread, account: str) -> list[dict[str, Any]]:
    token = bling_tokens.grant(bling, account)["access_token"]
    answer = requests.get(f"{bling.base_url}/depositos", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]  # type: ignore[no-any-return]


def simple_product(bling: SandboxThread, account: str) -> dict[str, Any]:
    token = bling_tokens.grant(bling, account)["access_token"]
    answer = requests.get(
        f"{bling.base_url}/produtos",
        params={"criterio": 2, "limite": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return next(p for p in answer.json()["data"] if p["formato"] == "S" and p["codigo"])


def test_webhook_run_lists_skus_once_stops_on_a_short_page_and_reads_only_the_sync_deposits(tmp_path: Path) -> None:
    with SandboxThread.start("bling", "--companies", "3", "--products", "30", "--set", "rate_limit=1000") as bling:
        bling_tokens.seed_tokens(bling, tmp_path / "tokens.json", ACCOUNTS)
        deposits = {account: deposits_of(bling, account) for account in ACCOUNTS}
        principal = [
            {"conta": a, "deposito": next(d["id"] for d in deposits[a] if d.get("padrao"))} for a in ACCOUNTS[:2]
        ]
        shared = [
            {"conta": a, "deposito": next(d["id"] for d in deposits[a] if "Compartilhado" in d["descricao"])}
            for a in ACCOUNTS
        ]
        product = simple_product(bling, "loja-matriz")
        bling.reset_log()
        run = run_tap_in_process(
            "tap-bling",
            bling_tokens.sandbox_config(
                bling.base_url, tmp_path, ACCOUNTS, rate_limit_requests=1000,
                produto_ids={"loja-matriz": [product["id"]]}, sync_principal=principal, sync_shared=shared,
            ),
            streams={"estoques_saldos", "produtos_sku"},
        )
        log = [e for e in bling.request_log() if "/oauth/" not in e["path"] and e.get("company")]
    assert run.returncode == 0, run.stderr

    declared = {(d["conta"], d["deposito"]) for d in principal + shared}
    assert len(declared) < sum(len(d) for d in deposits.values())  # some deposits are neither
    for account in ACCOUNTS:
        mine = [e for e in log if e["company"] == account]
        sku_listings = [e for e in mine if e["path"].endswith("/produtos") and "codigos[]" in e["query"]]
        assert len(sku_listings) == 1, (account, sku_listings)  # produtos_sku and the saldos' ids: one listing
        assert sku_listings[0]["query"]["codigos[]"] == [product["codigo"]]
        # a page shorter than `limite` is the last: no request for page 2
        assert all(e["query"].get("pagina", ["1"]) == ["1"] for e in mine), account
        asked = {int(e["path"].rsplit("/", 1)[1]) for e in mine if "/estoques/saldos/" in e["path"]}
        assert asked == {d for a, d in declared if a == account}, account

    # what the sync needs is all there: the product in every account, its balance in every declared deposit
    assert {r["conta"] for r in run.records("produtos_sku")} == set(ACCOUNTS)
    assert {r["codigo"] for r in run.records("produtos_sku")} == {product["codigo"]}
    assert {(r["conta"], r["idDeposito"]) for r in run.records("estoques_saldos")} == declared
