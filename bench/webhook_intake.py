"""Benchmark: how fast the webhook intake answers Bling, at 50 signed events per second for 20 seconds.

    .venv/bin/python bench/webhook_intake.py [--rate 50] [--seconds 20] [--runs 1] [--dsn ...]

Starts the intake and processor as their own process (`python -m ponte.service.webhooks.standalone`, runs
recorded instead of started) on PostgreSQL 127.0.0.1:5432 in a throw-away schema, then the Bling sandbox's
sender delivers signed events with the real envelope (product, stock and order events over two accounts) at
the given pace from 16 threads. Latency is the sender's: POST to response, HTTP included. Printed per run:
events, wall seconds, events/s achieved, p50/p95/p99 ms, non-2xx, and the processing lag (end of the burst →
every event settled), then the service's peak RSS. The baseline in the same run is the same pace of deliveries
with a forged signature (401: no database work), so the ratio is what storing an event costs.
Acceptance (issue 15): p95 < 200 ms at 50 events/s for 20 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from ponte.sandbox.bling.webhooks import WebhookSender

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sandbox-client-secret"
COMPANIES = ["4fccc0bec1a95e830960dd3bcf283093", "732ef63c0a67e485efcfeedfe06a4052"]
KINDS = ("product.updated", "stock.updated", "order.created", "virtual_stock.updated")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(dsn: str, schema: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TAP_BLING_CLIENT_SECRET": SECRET, "PONTE_WEBHOOK_COMPANY_TABLE": "none"}
    command = [sys.executable, "-m", "ponte.service.webhooks.standalone", "--dsn", dsn, "--schema", schema,
               "--project", str(ROOT), "--record", str(folder / "runs.jsonl"), "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=(folder / "log").open("wb"))
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"the intake did not start: {(folder / 'log').read_text(errors='replace')[-2000:]}"
                ) from None
            time.sleep(0.05)


def settled(dsn: str, schema: str, ids: set[str]) -> bool:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f'SELECT count(*) FROM "{schema}".webhook_events WHERE event_id = ANY(%s) '
            "AND status IN ('done', 'skipped', 'ignored', 'failed')",
            (list(ids),),
        ).fetchone()
    return rows is not None and rows[0] == len(ids)


def burst(url: str, rate: float, seconds: float, seed: int, forged: bool) -> tuple[dict[str, float], set[str]]:
    sender = WebhookSender(url, "forged-secret" if forged else SECRET, COMPANIES, seed=seed, retry_horizon_seconds=0)
    events = sender.events(int(rate * seconds), KINDS)
    result = sender.send_burst(events, rate=rate, workers=16)
    ms = [d.seconds * 1000 for d in result.deliveries]
    expected = 401 if forged else 200
    return {
        "events": len(events),
        "wall": result.wall_seconds,
        "rate": len(result.deliveries) / result.wall_seconds,
        "p50": statistics.median(ms),
        "p95": percentile(ms, 0.95),
        "p99": percentile(ms, 0.99),
        "unexpected": sum(d.status != expected for d in result.deliveries),
    }, {e["eventId"] for e in events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each burst")
    parser.add_argument("--runs", type=int, default=1, help="bursts (the medians are printed when more than one)")
    parser.add_argument(
        "--dsn", default=os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    )
    args = parser.parse_args()
    schema = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/bling"
    header = f"{'burst':<16}{'events':>8}{'wall s':>8}{'ev/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'non-2xx':>9}{'lag s':>7}"
    with tempfile.TemporaryDirectory() as tmp:
        service = start_service(args.dsn, schema, port, Path(tmp))
        try:
            burst(url, 20, 1, 0, forged=False)  # warm-up: pool, table, imports
            print(header)
            signed, forged = [], []
            for run in range(args.runs):
                base, _ = burst(url, args.rate, args.seconds, 100 + run, forged=True)
                forged.append(base)
                stats, ids = burst(url, args.rate, args.seconds, 200 + run, forged=False)
                began = time.perf_counter()
                while not settled(args.dsn, schema, ids):
                    time.sleep(0.1)
                stats["lag"] = time.perf_counter() - began
                signed.append(stats)
                for name, row in (("forged (401)", base), ("signed (stored)", stats)):
                    print(f"{name:<16}{row['events']:>8.0f}{row['wall']:>8.1f}{row['rate']:>8.1f}{row['p50']:>8.1f}"
                          f"{row['p95']:>8.1f}{row['p99']:>8.1f}{row['unexpected']:>9.0f}{row.get('lag', 0):>7.1f}")  # fmt: skip
            med = {k: statistics.median(r[k] for r in signed) for k in ("p50", "p95", "p99", "rate")}
            base95 = statistics.median(r["p95"] for r in forged)
            status = Path(f"/proc/{service.pid}/status")
            hwm = next((ln.split()[1] for ln in status.read_text().splitlines() if ln.startswith("VmHWM")), "0")
            print(f"\nmedian of {args.runs}: p50 {med['p50']:.1f} ms, p95 {med['p95']:.1f} ms "
                  f"(baseline forged p95 {base95:.1f} ms, ratio {med['p95'] / base95:.2f}), p99 {med['p99']:.1f} ms, "
                  f"{med['rate']:.1f} events/s; service peak RSS {int(hwm) / 1024:.0f} MiB; "
                  f"acceptance p95 < 200 ms: {'met' if med['p95'] < 200 else 'NOT met'}")  # fmt: skip
        finally:
            service.terminate()
            service.wait(15)
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
