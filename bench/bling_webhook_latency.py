"""Benchmark: Bling stock sync, sale → posted balance, through the real path (issue #17's goal: p95 ≤ 5 s).

    .venv/bin/python bench/bling_webhook_latency.py [--sales 200] [--per-minute 50] [--products 60]

A Bling sandbox process with 3 accounts (Bling's 3 requests/second per account enforced) sends its signed stock
webhooks (`--webhook-url`) to `ponte serve` (a process, this project, a schema of its own, schedules paused).
Principal deposits: "Depósito Geral" of loja-matriz and loja-filial; shared: the marketplaces deposit of all three.
`--sales` sales at `--per-minute`, alternating between the two principal accounts over the SKUs every account
carries (`POST /_sandbox/bling/simulate-sale`). Each sale's latency is the time from the sale to the last of the
three shared deposits' postings made after it for that SKU (the sandbox's request log). Printed: latency median,
p95 and max; postings per change and shared deposit; postings caused by our own postings' webhooks (must be 0:
their events must all be ignored); and, per sale, where the time went (webhook delivery, the intake's coalescing
and waiting for the previous run, the run's start-up before its first request, reads, postings).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import psycopg
import requests

from ponte.testing import SandboxProcess, console_script
from ponte.testing.bling_tokens import grant, seed_tokens

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = ("loja-matriz", "loja-filial", "loja-3")
PRINCIPAL_ACCOUNTS = ACCOUNTS[:2]
PRINCIPAL, SHARED = "Depósito Geral", "Estoque Compartilhado (marketplaces)"
DSN = os.environ.get("PONTE_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_get(sandbox: SandboxProcess, token: str, path: str, **params: Any) -> Any:
    answer = requests.get(
        sandbox.base_url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()["data"]


def stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(values: list[float]) -> str:
    if not values:
        return "none"
    return f"median {pct(values, 0.5):.2f} s, p95 {pct(values, 0.95):.2f} s, max {max(values):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sales", type=int, default=200)
    parser.add_argument("--per-minute", type=float, default=50)
    parser.add_argument("--products", type=int, default=60, help="products per account")
    parser.add_argument("--settle", type=float, default=120, help="seconds to wait for the last postings")
    options = parser.parse_args()
    port = free_port()
    schema = f"bench_latency_{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxProcess.start(
            "bling", "--companies", "3", "--products", str(options.products),
            "--webhook-url", f"http://127.0.0.1:{port}/webhooks/bling",
        ) as sandbox,
    ):  # fmt: skip
        folder = Path(tmp)
        tokens = seed_tokens(sandbox, folder / "tokens.json", ACCOUNTS)
        sandbox.configure(webhooks=False)  # until the service listens
        access = {a: grant(sandbox, a)["access_token"] for a in ACCOUNTS}
        deposit = {(a, d["descricao"]): d["id"] for a in ACCOUNTS for d in api_get(sandbox, access[a], "/depositos")}
        principal = [{"conta": a, "deposito": deposit[(a, PRINCIPAL)]} for a in PRINCIPAL_ACCOUNTS]
        shared = [{"conta": a, "deposito": deposit[(a, SHARED)]} for a in ACCOUNTS]
        listed = {a: api_get(sandbox, access[a], "/produtos", criterio=2, limite=100) for a in ACCOUNTS}
        ids = {(a, p["codigo"]): p["id"] for a in ACCOUNTS for p in listed[a] if p.get("codigo")}
        skus = sorted(
            p["codigo"] for p in listed["loja-matriz"]
            if p["formato"] == "S" and p.get("tipo", "P") == "P" and all((a, p["codigo"]) in ids for a in ACCOUNTS)
        )  # fmt: skip
        del tokens
        info = sandbox.session.get(sandbox.url + "/_sandbox/bling/info", timeout=10).json()
        company = {c["slug"]: str(c["id"]) for c in info["companies"]}
        accounts = json.dumps([{"name": a, "company_id": company[a]} for a in ACCOUNTS])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PONTE_", "MELTANO_"))}
        env.update({
            "PONTE_DB_DSN": DSN, "PONTE_DB_SCHEMA": schema, "PONTE_SERVE_BIND": f"127.0.0.1:{port}",
            "MELTANO_ENVIRONMENT": "dev", "MELTANO_RUN_STATE_ID_SUFFIX": schema, "PONTE_WEBHOOK_COMPANY_TABLE": "none",
            "TAP_BLING_ACCOUNTS": accounts, "TAP_BLING_BASE_URL": sandbox.base_url,
            "TAP_BLING_CLIENT_SECRET": "sandbox-client-secret", "TAP_BLING_TOKEN_STORE_PATH": str(folder / "tokens.json"),
            "TAP_BLING_STATE_DIR": str(folder / "state"), "TARGET_BLING_ACCOUNTS": accounts,
            "TARGET_BLING_BASE_URL": sandbox.base_url, "TARGET_BLING_TOKEN_STORE_PATH": str(folder / "tokens.json"),
            "TARGET_BLING_STATE_DIR": str(folder / "state"), "TARGET_BLING_RUN_LOG_DSN": DSN,
            "TARGET_BLING_RUN_LOG_SCHEMA": schema, "TARGET_BLING_DEAD_LETTER_PATH": str(folder / "dead.jsonl"),
            "BLING_SYNC_PRINCIPAL": json.dumps(principal), "BLING_SYNC_SHARED": json.dumps(shared),
        })  # fmt: skip
        log_file = open(folder / "serve.log", "wb")  # noqa: SIM115 (kept open for the service's life)
        service = subprocess.Popen(
            [console_script("ponte"), "serve", "--project", str(ROOT)], cwd=ROOT, env=env,
            stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(url + "/healthz", timeout=2).status_code < 500:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline or service.poll() is not None:
                    raise SystemExit("ponte serve did not start:\n" + (folder / "serve.log").read_text()[-3000:])
                time.sleep(0.2)
            for item in requests.get(url + "/api/schedules", timeout=10).json().get("schedules", []):
                requests.post(f"{url}/api/schedules/{item['name']}/pause", timeout=10)
            sandbox.configure(webhooks=True, log_max=1_000_000)
            # warm-up: the first direct run asks Meltano for the plugins' settings (once per service and settings)
            sell(sandbox, skus[-1:], 1, 60)
            settle(url, 180)
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f'DELETE FROM "{schema}".webhook_events')
                conn.execute(f'DELETE FROM "{schema}".pipeline_runs')
            sandbox.reset_log()
            sales = sell(sandbox, skus[:-1], options.sales, options.per_minute)
            settle(url, options.settle)
            log = sandbox.request_log()
            with psycopg.connect(DSN) as conn:
                events = conn.execute(
                    f'SELECT event, status, rule, payload, received_at, run_id FROM "{schema}".webhook_events'
                ).fetchall()
                runs = conn.execute(
                    f'SELECT run_id, status, started_at, finished_at FROM "{schema}".pipeline_runs'
                ).fetchall()
        finally:
            service.terminate()
            service.wait(60)
            log_file.close()
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    report(sales, log, events, runs, ids, principal, shared, options)


def sell(sandbox: SandboxProcess, skus: list[str], count: int, per_minute: float) -> list[dict[str, Any]]:
    """`count` sales at `per_minute`, alternating principal accounts, round-robin over the SKUs."""
    made: list[dict[str, Any]] = []
    interval = 60.0 / per_minute
    began = time.monotonic()
    attempt = 0
    while len(made) < count and attempt < count * 3:
        due = began + len(made) * interval
        time.sleep(max(0.0, due - time.monotonic()))
        account = PRINCIPAL_ACCOUNTS[len(made) % 2]
        sku = skus[attempt % len(skus)]
        attempt += 1
        at = time.time()
        answer = sandbox.session.post(sandbox.url + "/_sandbox/bling/simulate-sale",
                                      json={"company": account, "codigo": sku, "quantidade": 1}, timeout=10)  # fmt: skip
        if answer.status_code == 200:
            made.append({"at": at, "account": account, "sku": sku})
    return made


def settle(url: str, seconds: float) -> None:
    """Until no run has been running for a few seconds (the last sales' runs and their echoes are done)."""
    deadline = time.monotonic() + seconds
    quiet_since = None
    while time.monotonic() < deadline:
        running = requests.get(url + "/api/runs", params={"status": "running"}, timeout=10).json()["runs"]
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 5:
            return
        time.sleep(0.5)


def report(
    sales: list[dict[str, Any]], log: list[dict[str, Any]], events: list[tuple[Any, ...]],
    runs: list[tuple[Any, ...]], ids: dict[tuple[str, str], int], principal: list[dict[str, Any]],
    shared: list[dict[str, Any]], options: argparse.Namespace,
) -> None:  # fmt: skip
    shared_ids = {d["deposito"] for d in shared}
    posts = sorted(
        (stamp(e["timestamp"]), e["company"], e["body"]["deposito"]["id"], e["body"]["produto"]["id"],
         e["body"].get("quantidade"))
        for e in log if e["method"] == "POST" and e["path"].endswith("/estoques") and e["status"] == 201
    )  # fmt: skip
    gets = sorted(stamp(e["timestamp"]) for e in log if e["method"] == "GET" and e.get("company"))
    run_window = sorted((r[2].timestamp(), r[3].timestamp() if r[3] else float("inf"), str(r[0])) for r in runs)
    received = defaultdict(list)
    for event, _status, _rule, payload, at, run_id in events:
        data = payload.get("data") or {}
        if event.startswith("stock.") and (data.get("deposito") or {}).get("id") not in shared_ids:
            received[(data.get("produto") or {}).get("id")].append((at.timestamp(), str(run_id)))
    started = {str(r[0]): r[2].timestamp() for r in runs}

    latencies: list[float] = []
    phases: dict[str, list[float]] = defaultdict(list)
    per_change: Counter[int] = Counter()
    unposted = 0
    for index, sale in enumerate(sales):
        later = [s["at"] for s in sales[index + 1 :] if s["sku"] == sale["sku"]]
        until = later[0] if later else float("inf")
        last = 0.0
        for d in shared:
            product = ids[(d["conta"], sale["sku"])]
            mine = [p for p in posts if p[2] == d["deposito"] and p[3] == product and p[0] > sale["at"]]
            per_change[len([p for p in mine if p[0] < until])] += 1
            last = max(last, mine[0][0]) if mine and last != float("inf") else float("inf")
        if last == float("inf"):
            unposted += 1
            continue
        latencies.append(last - sale["at"])
        sold = ids[(sale["account"], sale["sku"])]
        event = next(((t, r) for t, r in sorted(received.get(sold, [])) if t >= sale["at"] - 1), None)
        if event is None:
            continue
        at, run_id = event
        begun = started.get(run_id)
        phases["webhook delivered (sale → event stored)"].append(at - sale["at"])
        if begun is None:
            continue
        phases["intake (stored → run started: coalescing, waiting for the previous run)"].append(begun - at)
        first_get = next((g for g in gets if g >= begun), None)
        if first_get is not None:
            phases["run start-up (started → first request)"].append(first_get - begun)
            firsts = [p[0] for p in posts if p[0] >= first_get]
            if firsts:
                phases["reads and sum (first request → first posting)"].append(firsts[0] - first_get)
        phases["to the last posting (run started → last posting)"].append(last - begun)

    echo_events = [e for e in events if (e[3].get("data", {}).get("deposito") or {}).get("id") in shared_ids]
    echo_runs = {str(e[5]) for e in echo_events if e[5]}
    echo_postings = sum(1 for p in posts for w in run_window if w[2] in echo_runs and w[0] <= p[0] <= w[1])
    redundant = 0
    seen: dict[tuple[int, int], Any] = {}
    for _, _, dep, product, quantity in posts:
        if dep in shared_ids and seen.get((dep, product)) == quantity:
            redundant += 1
        seen[(dep, product)] = quantity
    statuses = Counter(r[1] for r in runs)

    print(f"{len(sales)} sales at {options.per_minute:g}/min in 2 principal accounts, 3 shared deposits, "
          f"Bling's 3 req/s per account; through ponte serve's webhook intake (direct runs)")  # fmt: skip
    print(f"  sale → posted (last shared deposit): {figures(latencies)}; never posted: {unposted}")
    print(f"  goal p95 ≤ 5 s: {'met' if latencies and pct(latencies, 0.95) <= 5 else 'NOT met'}")
    print(f"  postings per change and shared deposit: {dict(sorted(per_change.items()))} "
          f"(0 = coalesced with a later sale of the same SKU); same balance posted again: {redundant}")  # fmt: skip
    print(f"  webhooks of our own postings: {len(echo_events)}, their rules: "
          f"{dict(Counter(e[2] for e in echo_events))}; runs they started: {len(echo_runs)}, "
          f"postings caused by them: {echo_postings}")  # fmt: skip
    print(f"  runs: {len(runs)} ({dict(statuses)}); requests: {len(log)} ({len(posts)} postings)")
    print("  where the time goes (per sale):")
    for name, values in phases.items():
        print(f"    {name}: {figures(values)}")


if __name__ == "__main__":
    main()
