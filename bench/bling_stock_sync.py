"""Benchmark: a full Bling stock-sync check (tap-bling | ponte-mapper | target-bling) against 3 sandbox accounts.

    .venv/bin/python bench/bling_stock_sync.py [--products 600] [--sales 30] [--latency 5] [--sequential]

The Bling sandbox runs as a process with 3 accounts sharing one catalogue. Principal deposits: the default
deposit of loja-matriz and loja-filial; shared: the marketplaces deposit of all three (the issue's setup). First,
with the sandbox's limit off, one check brings every shared deposit to its sum; then `--sales` sales are simulated
in the principal deposits, the sandbox enforces Bling's 3 requests/second per account, and the measured check
runs: the three console scripts as one pipe (what `meltano run` starts, without Meltano's own start-up), the tap
and the target at their defaults. Printed: requests per account, the combined budget use (requests / (3 req/s x
3 accounts x seconds)), 429s received and unhandled (no later answer to the same request), postings and wall
time. Then `--latency` sales, each followed at once by the run a webhook starts for it (tap-bling's `produto_ids`
= the sold product, as PONTE_WEBHOOK_IDS_BY_ACCOUNT sets it): seconds from the sale to start-up, reads, the sum,
the postings and the last posting (median, p95). `ponte serve`'s coalescing (1 s) and Meltano's own start are not
in these figures: this is the pipe without Meltano. `--sequential` makes tap-bling read one account after the
other (PONTE_PARALLEL_ACCOUNTS=0), for comparison.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from ponte.testing import SandboxProcess, console_script
from ponte.testing.bling_tokens import grant, sandbox_config, seed_tokens
from ponte.testing.in_process import discover_in_process
from ponte.testing.singer_process import select_only

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = ("loja-matriz", "loja-filial", "loja-3")
PRINCIPAL_ACCOUNTS = ("loja-matriz", "loja-filial")
RATE = 3  # Bling's requests per second per account


def deposits(sandbox: SandboxProcess) -> dict[str, list[dict[str, Any]]]:
    """Each account's deposits, as its user sees them."""
    found = {}
    for account in ACCOUNTS:
        token = grant(sandbox, account)["access_token"]
        answer = requests.get(f"{sandbox.base_url}/depositos", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        answer.raise_for_status()
        found[account] = answer.json()["data"]
    return found


def sync_params(sandbox: SandboxProcess) -> dict[str, Any]:
    """Principal: the default deposit of two accounts; shared: the marketplaces deposit of every account."""
    by_account = deposits(sandbox)
    principal = [
        {"conta": a, "deposito": next(d["id"] for d in by_account[a] if d.get("padrao"))} for a in PRINCIPAL_ACCOUNTS
    ]
    shared = [
        {"conta": a, "deposito": next(d["id"] for d in by_account[a] if "Compartilhado" in d["descricao"])}
        for a in ACCOUNTS
    ]
    return {"principal": principal, "shared": shared}


def write_configs(sandbox: SandboxProcess, folder: Path, params: dict[str, Any], **budget: Any) -> None:
    common = sandbox_config(sandbox.base_url, folder, ACCOUNTS, **budget)
    deposits = {"sync_principal": params["principal"], "sync_shared": params["shared"]}  # tap-bling--stock's
    (folder / "tap.json").write_text(json.dumps({**common, **deposits}))
    target = {**common, "job_log_path": str(folder / "jobs.jsonl"), "dead_letter_path": str(folder / "dead.jsonl")}
    (folder / "target.json").write_text(json.dumps(target))
    (folder / "mapper.json").write_text(json.dumps({"mapping": "transforms/bling-stock-sync.yml", "params": params}))
    if not (folder / "catalog.json").exists():
        catalog = discover_in_process("tap-bling", common)
        (folder / "catalog.json").write_text(json.dumps(select_only(catalog, {"estoques_saldos", "produtos_sku"})))


def run_check(folder: Path, env: dict[str, str], tap_config: str = "tap.json") -> tuple[float, list[int], str]:
    """tap | mapper | target: (wall seconds, exit codes, the target's stderr tail)."""
    quiet = {
        **os.environ,
        **env,
        "TAP_BLING_LOG_LEVEL": os.environ.get("TAP_BLING_LOG_LEVEL", "WARNING"),
        "PONTE_MAPPER_LOG_LEVEL": "WARNING",
    }
    began = time.perf_counter()
    run_started[0] = time.time()
    with open(folder / "tap.err", "wb") as tap_err, open(folder / "target.err", "wb") as target_err:
        tap = subprocess.Popen(
            [console_script("tap-bling"), "--config", str(folder / tap_config), "--catalog", str(folder / "catalog.json")],
            stdout=subprocess.PIPE, stderr=tap_err, env=quiet, cwd=ROOT,
        )  # fmt: skip
        mapper = subprocess.Popen(
            [console_script("ponte-mapper"), "--config", str(folder / "mapper.json")],
            stdin=tap.stdout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=quiet, cwd=ROOT,
        )  # fmt: skip
        assert tap.stdout is not None and mapper.stdout is not None
        tap.stdout.close()
        target = subprocess.Popen(
            [console_script("target-bling"), "--config", str(folder / "target.json")],
            stdin=mapper.stdout, stdout=subprocess.DEVNULL, stderr=target_err, env=quiet, cwd=ROOT,
        )  # fmt: skip
        mapper.stdout.close()
        codes = [tap.wait(), mapper.wait(), target.wait()]
    seconds = time.perf_counter() - began
    return seconds, codes, (folder / "target.err").read_text(errors="replace")[-1500:]


run_started = [0.0]


def phases(log: list[dict[str, Any]]) -> str:
    """When (seconds after the pipe started) reads began and ended, and postings began and ended."""
    moment = lambda e: dt.datetime.fromisoformat(e["timestamp"]).timestamp() - run_started[0]  # noqa: E731
    gets = [moment(e) for e in log if e["method"] == "GET"]
    posts = [moment(e) for e in log if e["method"] == "POST"]
    text = f"reads {min(gets):.1f}-{max(gets):.1f} s" if gets else "no reads"
    return text + (f", postings {min(posts):.1f}-{max(posts):.1f} s" if posts else ", no postings")


def unhandled_429s(log: list[dict[str, Any]]) -> int:
    """429 answers with no later answer other than 429 to the same request (same account, method, path, query)."""
    unanswered = 0
    for index, entry in enumerate(log):
        if entry["status"] != 429:
            continue
        same = (entry.get("company"), entry["method"], entry["path"], json.dumps(entry.get("query"), sort_keys=True))
        later = [
            e for e in log[index + 1 :]
            if (e.get("company"), e["method"], e["path"], json.dumps(e.get("query"), sort_keys=True)) == same
        ]  # fmt: skip
        if not any(e["status"] != 429 for e in later):
            unanswered += 1
    return unanswered


def main() -> None:
    """Seed, simulate sales, run the measured check, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=600, help="products per account (one shared catalogue)")
    parser.add_argument("--sales", type=int, default=30, help="sales simulated before the measured check")
    parser.add_argument("--latency", type=int, default=5, help="sales each followed by a webhook-style run")
    parser.add_argument(
        "--sequential", action="store_true", help="tap-bling reads one account after the other (for comparison)"
    )
    options = parser.parse_args()
    env = {"PONTE_PARALLEL_ACCOUNTS": "0" if options.sequential else "1"}

    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess.start(
            "bling", "--companies", "3", "--products", str(options.products), "--set", "rate_limit=0"
        ) as sandbox,
    ):
        folder = Path(tmp)
        seed_tokens(sandbox, folder / "tokens.json", ACCOUNTS)
        params = sync_params(sandbox)
        write_configs(sandbox, folder, params, rate_limit_requests=1000)
        seconds, codes, err = run_check(folder, env)  # bring every shared deposit to its sum, unlimited
        if any(codes):
            raise SystemExit(f"seeding check failed: exit codes {codes}\n{err}")
        print(f"seeding check (no limit): {seconds:.1f} s")

        sold = 0
        for number in range(options.sales):
            account = PRINCIPAL_ACCOUNTS[number % len(PRINCIPAL_ACCOUNTS)]
            try:
                sandbox.admin("bling/simulate-sale", {"company": account, "codigo": sku_of(sandbox, account, number)})
                sold += 1
            except requests.HTTPError:
                continue
        sandbox.configure(rate_limit=RATE)
        sandbox.reset_log()
        write_configs(sandbox, folder, params)  # the tap's and target's default budgets
        seconds, codes, err = run_check(folder, env)
        log = [e for e in sandbox.request_log() if "/oauth/" not in e["path"] and e.get("company")]
        check_started = run_started[0]
        latencies = webhook_runs(sandbox, folder, env, options.latency)
        run_started[0] = check_started
    if any(codes):
        print(f"measured check FAILED: exit codes tap/mapper/target {codes}\n{err}")
    mode = "one account after the other" if options.sequential else "accounts in parallel"
    print(f"full check, 3 accounts x {options.products} products, {sold} sales before it, {mode}:")
    per_account = Counter(e["company"] for e in log)
    posts = Counter(e["company"] for e in log if e["method"] == "POST" and e["status"] < 300)
    for account in ACCOUNTS:
        mine = [e for e in log if e["company"] == account]
        print(f"  {account}: {per_account[account]} requests ({posts[account]} postings); {phases(mine)}")
    use = len(log) / (RATE * len(ACCOUNTS) * seconds)
    stamps = sorted(dt.datetime.fromisoformat(e["timestamp"]).timestamp() for e in log)
    active = stamps[-1] - stamps[0] if len(stamps) > 1 else seconds
    statuses = Counter(e["status"] for e in log)
    print(f"  {len(log)} requests in {seconds:.1f} s wall time (tap | mapper | target, start-up included)")
    print(
        f"  combined budget use: {len(log)} / ({RATE} req/s x {len(ACCOUNTS)} accounts x {seconds:.1f} s) = {use:.0%}"
    )
    print(
        f"  over the API-active span only ({stamps[0] - run_started[0]:.1f}-{stamps[-1] - run_started[0]:.1f} s, "
        f"start-up excluded): {len(log) / (RATE * len(ACCOUNTS) * active):.0%}"
    )
    refused = Counter(
        str(e.get("status")) for e in log if e["method"] == "POST" and e["status"] >= 400 and e["status"] != 429
    )
    print(f"  postings refused by Bling (dead-lettered, re-sent by every check): {dict(refused) or 0}")
    print(f"  429 received: {statuses.get(429, 0)}, unhandled: {unhandled_429s(log)}")
    print_latencies(latencies)


def webhook_runs(sandbox: SandboxProcess, folder: Path, env: dict[str, str], sales: int) -> list[dict[str, float]]:
    """Sale → the run a webhook starts for its product (`produto_ids`, as PONTE_WEBHOOK_IDS_BY_ACCOUNT sets it)
    → every shared deposit posted: seconds per phase, measured from the sale."""
    found = []
    tap = json.loads((folder / "tap.json").read_text())
    for number in range(sales):
        account = PRINCIPAL_ACCOUNTS[number % len(PRINCIPAL_ACCOUNTS)]
        sandbox.reset_log()
        sold_at = time.time()
        sale = sell(sandbox, account, 7 + number)
        (folder / "tap-webhook.json").write_text(json.dumps({**tap, "produto_ids": {account: [sale["produto"]["id"]]}}))
        _, codes, err = run_check(folder, env, "tap-webhook.json")
        if any(codes):
            raise SystemExit(f"webhook-style run failed: exit codes {codes}\n{err}")
        log = [e for e in sandbox.request_log() if "/oauth/" not in e["path"] and e.get("company")]
        at = sorted((dt.datetime.fromisoformat(e["timestamp"]).timestamp() - sold_at, e["method"]) for e in log)
        gets = [t for t, method in at if method == "GET"]
        posts = [t for t, method in at if method == "POST"]
        if not posts:
            continue
        found.append({
            "start-up (processes, before the first request)": gets[0],
            "reads (ids → SKU, deposits, saldos)": gets[-1] - gets[0],
            "sum (mapper) and first posting": posts[0] - gets[-1],
            "postings (one per shared deposit)": posts[-1] - posts[0],
            "posted (sale → last posting)": posts[-1],
            "pipe exit after it": time.time() - sold_at - posts[-1],
            "requests": len(log),
        })  # fmt: skip
    return found


def sell(sandbox: SandboxProcess, account: str, number: int) -> dict[str, Any]:
    """A simulated sale of the number-th simple product (or the next one the sandbox can sell)."""
    for attempt in range(20):
        try:
            return sandbox.admin(
                "bling/simulate-sale", {"company": account, "codigo": sku_of(sandbox, account, number + attempt)}
            )  # type: ignore[no-any-return]
        except requests.HTTPError:
            continue
    raise SystemExit(f"the sandbox sold none of 20 products of {account}")


def print_latencies(found: list[dict[str, float]]) -> None:
    if not found:
        return
    print(f"webhook-style run per sale (tap | mapper | target for the sale's product, no Meltano), {len(found)} sales:")
    for phase in found[0]:
        values = sorted(f[phase] for f in found)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"  {phase}: median {values[len(values) // 2]:.2f}, p95 {p95:.2f}")


_SKUS: dict[str, list[str]] = {}


def sku_of(sandbox: SandboxProcess, account: str, number: int) -> str:
    """The number-th simple product SKU of an account (listed once)."""
    if account not in _SKUS:
        token = grant(sandbox, account)["access_token"]
        answer = requests.get(
            f"{sandbox.base_url}/produtos",
            params={"criterio": 2, "limite": 100},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        answer.raise_for_status()
        _SKUS[account] = [p["codigo"] for p in answer.json()["data"] if p["formato"] == "S" and p["codigo"]]
    skus = _SKUS[account]
    return skus[number % len(skus)]


if __name__ == "__main__":
    main()
