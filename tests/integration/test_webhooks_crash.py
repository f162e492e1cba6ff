"""A processor killed with SIGKILL mid-burst loses nothing and starts nothing twice once it is started again.

The intake and processor run as `python -m ponte.service.webhooks.standalone` (its runs are recorded in a file,
fsynced before their events are marked). The Bling sandbox's sender keeps delivering through the outage and
retries what was refused, as Bling does; the service is killed twice at different points of the burst.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg

from ponte.sandbox.bling.webhooks import WebhookSender

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SECRET = "sandbox-client-secret"
COMPANIES = [f"{n:032x}" for n in range(1, 9)]  # eight accounts: many batches in flight at once
RULES = """
version: 1
source: bling
coalesce_seconds: 0.2
retry: {max_attempts: 3, backoff_seconds: 0.2}
rules:
  - name: products
    events: [product.*]
    run: {pipeline: [tap-bling, target-postgres], select: [produtos]}
    ids: data.id
  - name: orders
    events: [order.*]
    run: {pipeline: [tap-bling, target-postgres], select: [pedidos_vendas]}
    ids: data.id
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(port: int, schema: str, record: Path, rules: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TAP_BLING_CLIENT_SECRET": SECRET, "PONTE_WEBHOOK_RULES": str(rules),
           "PONTE_WEBHOOK_COMPANY_TABLE": "none"}  # fmt: skip
    command = [sys.executable, "-m", "ponte.service.webhooks.standalone", "--dsn", ADMIN_DSN, "--schema", schema,
               "--project", str(PROJECT), "--record", str(record), "--port", str(port), "--poll-seconds", "0.05",
               "--lease-seconds", "1"]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the standalone intake did not start"
            time.sleep(0.05)


def rows(schema: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(ADMIN_DSN) as conn:
        found = conn.execute(f'SELECT event_id, status, attempts FROM "{schema}".webhook_events').fetchall()
    return {event_id: (status, attempts) for event_id, status, attempts in found}


def recorded_events(record: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in record.read_text(encoding="utf-8").splitlines():
        try:
            run = json.loads(line)
        except ValueError:  # a line cut by the kill: that run never started
            continue
        counts.update(run["env"]["PONTE_WEBHOOK_EVENTS"].split(","))
    return counts


def test_sigkill_mid_burst_then_restart_processes_every_event_exactly_once(pg_schema: str, tmp_path: Path) -> None:
    port, record, log = free_port(), tmp_path / "runs.jsonl", tmp_path / "service.log"
    rules = tmp_path / "bling.yml"
    rules.write_text(RULES, encoding="utf-8")
    service = start_service(port, pg_schema, record, rules, log)
    sender = WebhookSender(f"http://127.0.0.1:{port}/webhooks/bling", SECRET, COMPANIES, seed=3, duplicate_rate=0.1,
                           reorder_window=6, retry_first_seconds=60.0, time_scale=300.0)  # fmt: skip
    events = sender.events(300, kinds=("product.updated", "order.created", "product.created"))
    outcome = {}
    burst = threading.Thread(target=lambda: outcome.update(result=sender.send_burst(events, rate=100, workers=24)))
    burst.start()
    try:
        for kill_at in (0.8, 1.9):  # seconds into the 3-second burst
            deadline = time.monotonic() + 30
            while len(rows(pg_schema) if _table_exists(pg_schema) else {}) < kill_at * 100 * 0.8:
                assert time.monotonic() < deadline, "the burst did not get going"
                time.sleep(0.02)
            os.kill(service.pid, signal.SIGKILL)
            service.wait(10)
            service = start_service(port, pg_schema, record, rules, log)
        burst.join(120)
        assert not burst.is_alive()
        result = outcome["result"]
        assert result.given_up == [], "the sender gave up on events: they were lost"

        wanted = {e["eventId"] for e in events}
        deadline = time.monotonic() + 60
        while {status for status, _ in rows(pg_schema).values()} != {"done"} or set(rows(pg_schema)) != wanted:
            assert time.monotonic() < deadline, f"not all done: {Counter(s for s, _ in rows(pg_schema).values())}"
            time.sleep(0.1)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(15)

    started = recorded_events(record)
    assert set(started) == wanted
    twice = sorted(e for e, n in started.items() if n > 1)
    assert twice == [], f"{len(twice)} events were started in more than one run"
    assert any(d.status is None or d.status >= 500 for d in result.deliveries), "no delivery met the outage"


def _table_exists(schema: str) -> bool:
    with psycopg.connect(ADMIN_DSN) as conn:
        return conn.execute("SELECT to_regclass(%s)", (f'"{schema}".webhook_events',)).fetchone()[0] is not None
