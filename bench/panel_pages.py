"""Benchmark: the panel's pipeline and dead-letter pages with 10,000 runs and 50,000 dead letters (issue 16 asks
< 200 ms p95).

    .venv/bin/python bench/panel_pages.py [--runs 10000] [--letters 50000] [--requests 40]

Seeds a schema of its own in the local PostgreSQL (PONTE_PG_DSN, default host=127.0.0.1 user=postgres
dbname=postgres): `pipeline_runs` of this project's pipelines (most of them `sienge-to-postgres`, a third
failed), target-postgres's `sync_runs` for the newest runs and the tables they name, and the letters (three
pipelines, twenty entities). Then starts `ponte serve` in this process, logs in, and asks each page --requests
times over HTTP; prints p50 / p95 / max per page. The schemas are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests

from ponte.runlog.dead_letters import PostgresDeadLetterStore
from ponte.service.app import Service
from ponte.service.panel.users import add_user
from ponte.service.server import server
from ponte.service.settings import ServeSettings

DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PROJECT = Path(__file__).parents[1]
PIPELINE = "sienge-to-postgres"
STREAMS = ["customers", "creditors", "units", "enterprises", "cost_centers"]


def seed(schema: str, runs: int, letters: int) -> None:
    log = f"{schema}_log"
    PostgresDeadLetterStore(DSN, log).close()  # its tables and indexes
    now = datetime.now(UTC)
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}_data"')
        for stream in STREAMS:
            conn.execute(f'CREATE TABLE "{schema}_data".{stream} AS SELECT g AS id FROM generate_series(1, 5000) g')
        ids = []
        with conn.cursor().copy(
            f'COPY "{schema}".pipeline_runs (run_id, pipeline, trigger, status, started_at, finished_at, streams) '
            "FROM STDIN"
        ) as copy:
            for n in range(runs):
                run_id = uuid.uuid4()
                ids.append(run_id)
                pipeline = PIPELINE if n % 4 else "bling-to-postgres"
                started = now - timedelta(minutes=15 * n)
                streams = [{"plugin": "target-postgres", "stream": s, "status": "succeeded", "inserted": n % 7,
                            "updated": 3, "deleted": 0, "rejected": 0} for s in STREAMS]  # fmt: skip
                status = "failed" if n % 3 == 0 else "succeeded"
                copy.write_row((run_id, pipeline, ["schedule", "manual", "webhook"][n % 3], status, started,
                                started + timedelta(minutes=2), json.dumps(streams)))  # fmt: skip
        with conn.cursor().copy(
            f'COPY "{log}".sync_runs (run_id, stream, pipeline, target_table, status) FROM STDIN'
        ) as copy:
            for run_id in ids[:400]:
                for stream in STREAMS:
                    copy.write_row((run_id, stream, "dev:tap-sienge-to-target-postgres", f"{schema}_data.{stream}",
                                    "succeeded"))  # fmt: skip
        with conn.cursor().copy(
            f'COPY "{log}".dead_letters (run_id, pipeline, stream, target_table, reason, record, status, target) '
            "FROM STDIN"
        ) as copy:
            for n in range(letters):
                copy.write_row((ids[n % len(ids)], ["estoque", "pedidos", "alunos"][n % 3], f"s{n % 20}",
                                f"{schema}_data.entidade_{n % 20}", f"field qty: '{n}' is not an integer (linha {n})",
                                json.dumps({"id": n, "qty": str(n)}),
                                "open" if n % 5 else "replayed", None))  # fmt: skip
        conn.execute(f'ANALYZE "{log}".dead_letters')
        conn.execute(f'ANALYZE "{schema}".pipeline_runs')


def timed(session: requests.Session, url: str, count: int) -> list[float]:
    took = []
    for _ in range(count):
        start = time.perf_counter()
        response = session.get(url, timeout=30)
        took.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--letters", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    schema = f"bench_panel_{uuid.uuid4().hex[:8]}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PONTE_", "MELTANO_"))},
           "PONTE_DB_DSN": DSN, "PONTE_DB_SCHEMA": schema, "PONTE_SERVE_BIND": "127.0.0.1:0",
           "PONTE_SECRET_KEY": "bench-secret-key-0123456789", "PONTE_DLQ_DSN": DSN, "PONTE_DLQ_SCHEMA": f"{schema}_log",
           "MELTANO_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:5432/postgres?options=-csearch_path%3D{schema}_meltano"}  # fmt: skip
    try:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}_meltano"')
        service = Service(ServeSettings.read(PROJECT, env))
        asyncio.run(service.prepare())
        add_user(DSN, schema, "bench", "bench-password-123")
        seed(schema, args.runs, args.letters)
        found: list[str] = []
        uv = server(service, found.append)
        thread = threading.Thread(target=uv.run, daemon=True)
        thread.start()
        while not found:
            time.sleep(0.05)
        url = found[0]
        session = requests.Session()
        csrf = re.search(r'name="csrf" value="([^"]+)"', session.get(f"{url}/login", timeout=10).text).group(1)
        session.post(f"{url}/login", data={"csrf": csrf, "nome": "bench", "senha": "bench-password-123"}, timeout=10)
        oldest = re.findall(r'data-id="(\d+)"', session.get(f"{url}/rejeitados", timeout=30).text)[-1]
        pages = {
            "pipeline": f"/pipelines/{PIPELINE}",
            "pipeline ?situacao=failed": f"/pipelines/{PIPELINE}?situacao=failed&gatilho=manual",
            "pipeline ?de&ate": f"/pipelines/{PIPELINE}?de=2026-01-01&ate=2026-06-30",
            "rejeitados": "/rejeitados",
            "rejeitados page 2": f"/rejeitados?antes={oldest}",
            "rejeitados ?pipeline&entidade": f"/rejeitados?pipeline=pedidos&entidade={schema}_data.entidade_7",
            "rejeitados ?motivo": "/rejeitados?motivo=linha%2049",
            "rejeitados ?situacao=all": "/rejeitados?situacao=all",
            "rejeitado": f"/rejeitados/{oldest}",
        }
        print(f"{args.runs:,} runs, {args.letters:,} dead letters, {args.requests} requests a page")
        for label, path in pages.items():
            took = sorted(timed(session, url + path, args.requests))
            p95 = took[max(0, int(len(took) * 0.95) - 1)]
            print(f"{label:34} p50 {statistics.median(took):6.1f} ms  p95 {p95:6.1f} ms  max {took[-1]:6.1f} ms")
        uv.should_exit = True
        thread.join(30)
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            for name in (schema, f"{schema}_log", f"{schema}_data", f"{schema}_meltano"):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


if __name__ == "__main__":
    main()
