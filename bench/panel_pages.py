"""Benchmark: how fast the control panel's pages answer with a full database — 10,000 runs, 50,000 dead letters,
20,000 webhook events and 5,000 signature failures, a loaded table of 200,000 rows (issue 16: p95 < 200 ms).

    .venv/bin/python bench/panel_pages.py [--requests 40] [--keep]

It fills a fresh schema, starts `ponte serve` in this process (the real app on uvicorn, a thread) on a tiny project
of five jobs with schedules, logs in with an HTTP client like a browser and times each page (after warming it up).
Pages that answer 404 are not built yet (their helpers work in parallel): they are listed as skipped. Prints one
line per page (p50, p95, max) and exits 1 when a page's p95 reaches 200 ms. Needs the local PostgreSQL
(PONTE_PG_DSN); the schemas are dropped at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests

from ponte.runlog.dead_letters import PostgresDeadLetterStore
from ponte.service.app import Service
from ponte.service.panel.users import add_user
from ponte.service.server import server
from ponte.service.settings import ServeSettings

DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
LIMIT_MS = 200.0
RUNS, DEAD_LETTERS, EVENTS, REFUSALS, BIG_TABLE = 10_000, 50_000, 20_000, 5_000, 200_000
JOBS = [f"bench-{n}" for n in range(5)]
USER, PASSWORD = "bench", "senha-do-benchmark-1"
PROJECT = """\
version: 1
default_environment: dev
project_id: 00000000-0000-4000-8000-0000000000bb
send_anonymous_usage_stats: false
environments:
  - name: dev
plugins:
  utilities:
    - name: tick
      namespace: tick
      executable: /bin/true
jobs:
{jobs}
schedules:
{schedules}
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def make_project(folder: Path) -> Path:
    jobs = "".join(f"  - name: {job}\n    tasks: [tick]\n" for job in JOBS)
    schedules = "".join(f'  - name: {job}-nightly\n    interval: "{n} 2 * * *"\n    job: {job}\n'
                        for n, job in enumerate(JOBS))  # fmt: skip
    (folder / "meltano.yml").write_text(PROJECT.format(jobs=jobs, schedules=schedules), encoding="utf-8")
    return folder


def fill(schema: str) -> None:
    """The rows, with one INSERT … SELECT generate_series each (seconds, not minutes), then ANALYZE."""
    PostgresDeadLetterStore(DSN, schema)  # the dead-letter store's own tables (sync_runs, dead_letters)
    jobs = "ARRAY[" + ",".join(f"'{job}'" for job in JOBS) + "]"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"""
            INSERT INTO "{schema}".pipeline_runs (run_id, pipeline, trigger, status, started_at, finished_at,
                exit_code, streams, error, host)
            SELECT gen_random_uuid(), ({jobs})[1 + g % 5], (ARRAY['manual','schedule','webhook'])[1 + g % 3],
                   CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
                   now() - make_interval(mins => g * 7), now() - make_interval(mins => g * 7 - 2),
                   CASE WHEN g % 10 = 0 THEN 1 ELSE 0 END,
                   jsonb_build_array(jsonb_build_object('plugin', 'target-postgres', 'stream', 'clientes',
                       'status', 'succeeded', 'inserted', g % 100, 'updated', g % 7, 'deleted', 0, 'rejected', g % 3)),
                   CASE WHEN g % 10 = 0 THEN 'tap-x: 401 Unauthorized' END, 'bench'
            FROM generate_series(1, {RUNS}) g""")  # fmt: skip
        conn.execute(f"""
            INSERT INTO "{schema}".dead_letters (run_id, pipeline, stream, target_table, rejected_at, reason, record,
                entity, target, status)
            SELECT gen_random_uuid(), ({jobs})[1 + g % 5], 'clientes', '{schema}_data.clientes',
                   now() - make_interval(secs => g * 30), 'campo cpf: valor inválido',
                   jsonb_build_object('id', g, 'cpf', 'x'), 'Cliente', 'postgres',
                   CASE WHEN g % 4 = 0 THEN 'replayed' ELSE 'open' END
            FROM generate_series(1, {DEAD_LETTERS}) g""")  # fmt: skip
        conn.execute(f"""
            INSERT INTO "{schema}".sync_runs (run_id, stream, pipeline, target_table, status, started_at, finished_at,
                rows_inserted)
            SELECT gen_random_uuid(), 'clientes', ({jobs})[1 + g % 5], '{schema}_data.clientes', 'succeeded',
                   now() - make_interval(mins => g * 7), now() - make_interval(mins => g * 7 - 1), g % 100
            FROM generate_series(1, {RUNS}) g""")  # fmt: skip
        conn.execute(f'CREATE SCHEMA "{schema}_data"')
        conn.execute(f'CREATE TABLE "{schema}_data".clientes AS SELECT g AS id, md5(g::text) AS nome '
                     f"FROM generate_series(1, {BIG_TABLE}) g")  # fmt: skip
        conn.execute(f'CREATE TABLE "{schema}_data".vendedores AS SELECT g AS id FROM generate_series(1, 500) g')
        conn.execute(f"""
            INSERT INTO "{schema}".webhook_events (event_id, source, event, company_id, rule, status, received_at,
                run_id, error, payload)
            SELECT 'evt-' || g, 'bling', (ARRAY['stock.updated','product.updated','invoice.created'])[1 + g % 3],
                   'empresa-1', 'estoque',
                   (ARRAY['done','done','done','ignored','failed','skipped'])[1 + g % 6],
                   now() - make_interval(secs => g * 20),
                   CASE WHEN g % 6 < 3 THEN (SELECT run_id::text FROM "{schema}".pipeline_runs LIMIT 1 OFFSET g % 500)
                   END,
                   CASE WHEN g % 6 = 4 THEN 'run ended failed' END, '{{}}'::jsonb
            FROM generate_series(1, {EVENTS}) g""")  # fmt: skip
        conn.execute(f"""
            INSERT INTO "{schema}".webhook_refusals (source, received_at, client, reason, body_bytes)
            SELECT 'bling', now() - make_interval(secs => g * 60), '203.0.113.' || (g % 250),
                   CASE WHEN g % 2 = 0 THEN 'invalid' ELSE 'missing' END, 180 + g % 50
            FROM generate_series(1, {REFUSALS}) g""")  # fmt: skip
        for table in ("pipeline_runs", "dead_letters", "sync_runs", "webhook_events", "webhook_refusals"):
            conn.execute(f'ANALYZE "{schema}".{table}')
        conn.execute(f'ANALYZE "{schema}_data".clientes')


class Serving:
    """The service of `project` on a free port, in a thread of this process."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.service = Service(ServeSettings.read(project, env))
        asyncio.run(self.service.prepare())
        self.url = ""
        self.server = server(self.service, self._listening)
        self.thread = threading.Thread(target=self.server.run, name="ponte-serve", daemon=True)

    def _listening(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> Serving:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.url and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.url:
            raise SystemExit("the service did not start listening within 30 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def login(url: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"{url}/login", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    if csrf is None:
        raise SystemExit("no CSRF token on /login")
    answer = http.post(f"{url}/login", data={"csrf": csrf.group(1), "nome": USER, "senha": PASSWORD}, timeout=10)
    if answer.status_code != 200 or answer.url.rstrip("/") != url:
        raise SystemExit(f"login failed: {answer.status_code}")
    return http


def measure(http: requests.Session, url: str, count: int) -> tuple[int, list[float]]:
    first = http.get(url, timeout=30)
    if first.status_code != 200:
        return first.status_code, []
    for _ in range(2):  # warm-up: templates compiled, connections and plans cached
        http.get(url, timeout=30)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = http.get(url, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return 200, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page (default 40)")
    parser.add_argument("--keep", action="store_true", help="keep the schemas (to look at the plans)")
    args = parser.parse_args()
    schema = f"bench_panel_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PONTE_", "MELTANO_", "TARGET_POSTGRES_"))}
    env.update({
        "PONTE_DB_DSN": DSN, "PONTE_DB_SCHEMA": schema, "PONTE_SERVE_BIND": "127.0.0.1:0",
        "PONTE_SECRET_KEY": "chave-do-benchmark-" + uuid.uuid4().hex, "TARGET_POSTGRES_LOG_SCHEMA": schema,
        "MELTANO_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:5432/postgres?options=-csearch_path%3D{schema}",
        "PONTE_BI_ROLE": "bi_leitura", "TAP_BLING_CLIENT_SECRET": "segredo-do-benchmark",
        "PONTE_DLQ_DSN": DSN, "PONTE_DLQ_SCHEMA": schema,
    })  # fmt: skip
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="ponte-bench-panel-") as folder:
            project = make_project(Path(folder))
            add_user(DSN, schema, USER, PASSWORD)
            with Serving(project, env) as serving:
                fill(schema)  # after the service made its tables (webhook_events comes with the processor)
                print(f"filled {schema} in {time.monotonic() - started:.1f} s: {RUNS:,} runs, {DEAD_LETTERS:,} dead "
                      f"letters, {EVENTS:,} webhook events, {REFUSALS:,} signature failures")  # fmt: skip
                with psycopg.connect(DSN) as conn:
                    latest = conn.execute(f'SELECT run_id FROM "{schema}".pipeline_runs ORDER BY started_at DESC '
                                          "LIMIT 1").fetchone()[0]  # fmt: skip
                http = login(serving.url)
                oldest = re.findall(r'data-id="(\d+)"', http.get(f"{serving.url}/rejeitados", timeout=30).text)
                pipeline = f"/pipelines/{quote(JOBS[0])}"
                pages = ["/", f"/execucoes/{latest}", "/agendamentos", "/eventos", "/eventos?resultado=falhou",
                         "/eventos?resultado=agrupado", "/banco", "/conexoes", pipeline,
                         f"{pipeline}?situacao=failed&gatilho=manual", f"{pipeline}?de=2026-01-01&ate=2026-06-30",
                         "/rejeitados", "/rejeitados?situacao=all", f"/rejeitados?pipeline={JOBS[1]}&entidade=Cliente",
                         "/rejeitados?motivo=cpf", *([f"/rejeitados?antes={oldest[-1]}", f"/rejeitados/{oldest[-1]}"]
                                                     if oldest else [])]  # fmt: skip
                rows, skipped, slow = [], [], []
                for page in pages:
                    status, times = measure(http, serving.url + page, args.requests)
                    if status == 404:
                        skipped.append(page)
                        continue
                    if status != 200:
                        raise SystemExit(f"{page} answered {status}")
                    p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
                    rows.append((page, p50, p95, max(times)))
                    if p95 >= LIMIT_MS:
                        slow.append(page)
    finally:
        if not args.keep:
            with psycopg.connect(DSN, autocommit=True) as conn:
                for name in (schema, f"{schema}_data"):
                    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    width = max(len(page) for page, *_ in rows)
    print(f"\n{'page':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'max ms':>8}   ({args.requests} requests each)")
    for page, p50, p95, worst in rows:
        print(f"{page:<{width}}  {p50:8.1f}  {p95:8.1f}  {worst:8.1f}{'   SLOW' if page in slow else ''}")
    for page in skipped:
        print(f"{page:<{width}}  skipped: 404, not built yet")
    if slow:
        print(f"\nFAIL: p95 ≥ {LIMIT_MS:.0f} ms on {', '.join(slow)}")
        return 1
    print(f"\nOK: every page's p95 under {LIMIT_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
