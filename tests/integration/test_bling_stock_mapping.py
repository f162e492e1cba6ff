"""The stock-sync mapping (transforms/bling-stock-sync.yml) through `ponte-mapper`, as the job runs it: per SKU the
principal deposits are summed, each shared deposit that differs gets one balance posting, and what cannot be
posted is reported with its reason instead (the EstoqueUni rule, issue #17). The whole job against the sandbox
is tests/integration/test_bling_stock_sync.py (make acceptance)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ponte.testing import console_script

ROOT = Path(__file__).parents[2]
PRINCIPAL = [{"conta": "matriz", "deposito": 1}, {"conta": "filial", "deposito": 2}]
SHARED = [{"conta": "matriz", "deposito": 10}, {"conta": "loja", "deposito": 30}]
# sku: (formato, tipo, accounts that have it)
PRODUCTS = {
    "A": ("S", "P", ["matriz", "filial", "loja"]),  # simple product: 3 + 4 = 7 everywhere shared
    "B": ("S", "P", ["matriz", "filial", "loja"]),  # shared deposits already at the sum: nothing to post
    "K": ("E", "P", ["matriz", "filial", "loja"]),  # kit: Bling refuses stock postings
    "V": ("V", "P", ["matriz", "filial", "loja"]),  # parent of variations: the stock is the variations'
    "SV": ("S", "S", ["matriz", "filial", "loja"]),  # service: posted, Bling refuses it (dead-lettered with its message)
    "M": ("S", "P", ["matriz", "filial"]),  # missing in loja
}
BALANCES = {("A", 1): 3, ("A", 2): 4, ("A", 10): 1, ("A", 30): 0, ("B", 1): 2, ("B", 2): 2, ("B", 10): 4,
            ("B", 30): 4, ("K", 1): 1, ("V", 1): 5, ("SV", 1): 1, ("M", 1): 6, ("M", 10): 0}  # fmt: skip
DEPOSIT_ACCOUNT = {1: "matriz", 10: "matriz", 2: "filial", 30: "loja"}


def product_id(sku: str, account: str) -> int:
    return 1000 * ["matriz", "filial", "loja"].index(account) + list(PRODUCTS).index(sku) + 1


def messages() -> list[dict[str, Any]]:
    def schema(stream: str, *fields: str) -> dict[str, Any]:
        props = {f: {} for f in fields}
        return {"type": "SCHEMA", "stream": stream, "schema": {"type": "object", "properties": props},
                "key_properties": []}  # fmt: skip

    out = [schema("produtos_sku", "conta", "id", "codigo", "formato", "tipo", "situacao"),
           schema("estoques_saldos", "conta", "idDeposito", "idProduto", "produto", "saldoFisicoTotal")]  # fmt: skip
    for sku, (formato, tipo, accounts) in PRODUCTS.items():
        for account in accounts:
            record = {"conta": account, "id": product_id(sku, account), "codigo": sku, "formato": formato,
                      "tipo": tipo, "situacao": "A"}  # fmt: skip
            out.append({"type": "RECORD", "stream": "produtos_sku", "record": record})
            for deposit, owner in DEPOSIT_ACCOUNT.items():
                if owner == account:
                    balance = {"conta": account, "idDeposito": deposit, "idProduto": product_id(sku, account),
                               "produto": {"id": product_id(sku, account), "codigo": sku},
                               "saldoFisicoTotal": BALANCES.get((sku, deposit), 0)}  # fmt: skip
                    out.append({"type": "RECORD", "stream": "estoques_saldos", "record": balance})
    out.append({"type": "STATE", "value": {"bookmarks": {}}})
    return out


def test_each_differing_shared_deposit_gets_one_posting_and_the_rest_is_reported_with_its_reason(
    tmp_path: Path,
) -> None:
    config = {"mapping": str(ROOT / "transforms" / "bling-stock-sync.yml"),
              "params": {"principal": PRINCIPAL, "shared": SHARED}}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run([console_script("ponte-mapper"), "--config", str(tmp_path / "config.json")],
                          input="".join(json.dumps(m) + "\n" for m in messages()), capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    records = [m for m in out if m["type"] == "RECORD"]

    postings = sorted((r["record"]["sku"], r["record"]["conta"], r["record"]["deposito"]["id"],
                       r["record"]["saldo_anterior"], r["record"]["quantidade"], r["record"]["operacao"])
                      for r in records if r["stream"] == "stock_balances")  # fmt: skip
    assert postings == [("A", "loja", 30, 0, 7, "B"), ("A", "matriz", 10, 1, 7, "B"), ("M", "matriz", 10, 0, 6, "B"),
                        ("SV", "loja", 30, 0, 1, "B"), ("SV", "matriz", 10, 0, 1, "B")]
    assert all(r["record"]["produto"]["id"] == product_id(r["record"]["sku"], r["record"]["conta"])
               for r in records if r["stream"] == "stock_balances")  # fmt: skip  (each account's own product)

    skipped = {(r["record"]["sku"], r["record"]["conta"]): r["record"]["motivo"]
               for r in records if r["stream"] == "stock_skipped"}  # fmt: skip
    for account in ("matriz", "loja"):
        assert "formato E" in skipped[("K", account)]
        assert skipped[("V", account)] == f"produto com variações (formato V) na conta {account}: o estoque fica nas variações"
    assert skipped[("M", "loja")] == "SKU ausente na conta loja"
    assert ("B", "matriz") not in skipped and ("B", "loja") not in skipped  # nothing to do is not a problem
    assert len(skipped) == 5
