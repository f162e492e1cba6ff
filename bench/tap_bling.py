"""Benchmark: tap-bling throughput against the Bling sandbox, unlimited and under Bling's 3 req/s per account.

    .venv/bin/python bench/tap_bling.py [--products 2000] [--budget-products 150]

1. Unlimited: `ponte sandbox bling --set rate_limit=0`, the tap's own budget off (rate_limit_requests 0); streams
   produtos (list + one detail request per product), depositos and estoques_saldos for two accounts. Prints
   records/s and requests/s: what the engine itself costs.
2. Budget: the sandbox enforcing Bling's documented 3 requests/second per account and the tap at its defaults.
   Prints each account's requests per second while it was being read (accounts are read one after the
   other), the share of its 3 req/s budget that is, the whole run's share of the accounts' combined budget,
   and how many 429s the server had to send (the goal is zero).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ponte.testing import SandboxProcess, console_script, select_only
from ponte.testing.bling_tokens import sandbox_config, seed_tokens

ACCOUNTS = ("loja-matriz", "loja-filial")
STREAMS = {"produtos", "depositos", "estoques_saldos"}


def run_tap(sandbox: SandboxProcess, folder: Path, **settings: Any) -> tuple[float, int, float]:
    """One tap run: (seconds, records, peak RSS MiB)."""
    seed_tokens(sandbox, folder / "tokens.json", ACCOUNTS)
    config = sandbox_config(sandbox.base_url, folder, ACCOUNTS, **settings)
    (folder / "config.json").write_text(json.dumps(config))
    base = [console_script("tap-bling"), "--config", str(folder / "config.json")]
    discovered = subprocess.run([*base, "--discover"], capture_output=True, check=True)
    (folder / "catalog.json").write_text(json.dumps(select_only(json.loads(discovered.stdout), STREAMS)))
    env = {**os.environ, "TAP_BLING_LOG_LEVEL": "WARNING"}
    sandbox.reset_log()
    began = time.perf_counter()
    process = subprocess.Popen(
        [*base, "--catalog", str(folder / "catalog.json")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert process.stdout is not None
    records = sum(1 for line in process.stdout if line.startswith(b'{"type":"RECORD"'))
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"tap-bling failed with status {status}")
    return time.perf_counter() - began, records, usage.ru_maxrss / 1024


def resource_log(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    return [e for e in sandbox.request_log() if "/oauth/" not in e["path"] and e.get("company")]


def main() -> None:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000, help="products per account, unlimited part")
    parser.add_argument("--budget-products", type=int, default=150, help="products per account, budget part")
    options = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess.start("bling", "--products", str(options.products), "--set", "rate_limit=0") as sandbox,
    ):
        seconds, records, peak = run_tap(sandbox, Path(tmp), rate_limit_requests=0)
        requests_sent = len(resource_log(sandbox))
    print(
        f"tap-bling, unlimited sandbox: 2 accounts x {options.products} products; streams {', '.join(sorted(STREAMS))}"
    )
    print(f"  {records} records, {requests_sent} requests in {seconds:.2f} s")
    print(f"  {records / seconds:.0f} records/s, {requests_sent / seconds:.0f} requests/s, peak RSS {peak:.1f} MiB")

    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess.start("bling", "--products", str(options.budget_products)) as sandbox,
    ):
        seconds, records, _ = run_tap(sandbox, Path(tmp))
        log = resource_log(sandbox)
    statuses = Counter(e["status"] for e in log)
    print(f"tap-bling, sandbox at 3 req/s per account: 2 accounts x {options.budget_products} products")
    print(f"  {records} records, {len(log)} requests in {seconds:.2f} s; HTTP 429 answers: {statuses.get(429, 0)}")
    for company in ACCOUNTS:
        times = sorted(dt.datetime.fromisoformat(e["timestamp"]).timestamp() for e in log if e["company"] == company)
        # accounts are read one after the other: measure the rate while this account is being read
        gaps = [b - a for a, b in itertools.pairwise(times) if b - a < 2.0]
        rate = len(gaps) / sum(gaps) if gaps else 0.0
        print(f"  {company}: {len(times)} requests, {rate:.2f} req/s while being read = {rate / 3:.0%} of 3 req/s")
    combined = len(log) / seconds
    print(f"  whole run: {combined:.2f} req/s = {combined / 6:.0%} of the two accounts' combined 6 req/s")


if __name__ == "__main__":
    main()
