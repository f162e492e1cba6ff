"""With `run_log_dsn`, an ingest-API target keeps its history where target-postgres keeps its own: a row per
entity in `sync_runs`, the seed's job log in `sync_jobs`, and refused records in `dead_letters`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg

from ponte.testing import SandboxProcess, console_script

ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def test_retailportal_run_history_jobs_and_dead_letters_land_in_postgres(tmp_path: Path, pg_schema: str) -> None:
    lines = [json.dumps({"type": "RECORD", "stream": "products", "record": {"erpId": n, "description": f"Produto {n}"}})
             for n in range(1, 121)]  # fmt: skip
    lines.append(json.dumps({"type": "RECORD", "stream": "products", "record": {"erpId": "A-7", "description": "x"}}))
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    with SandboxProcess.start("retailportal", "--set", "time_scale=1000") as portal:
        config = {
            "api_key": "rp_sandbox_key",
            "base_url": portal.base_url,
            "batch_size": 50,
            "poll_seconds": 0.1,
            "run_log_dsn": ADMIN_DSN,
            "run_log_schema": pg_schema,
            "dead_letter_store": "postgres",
            "dead_letter_dsn": ADMIN_DSN,
            "dead_letter_schema": pg_schema,
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        command = [console_script("target-retailportal"), "--config", str(tmp_path / "config.json"),
                   "--input", str(tmp_path / "in.jsonl")]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    with psycopg.connect(ADMIN_DSN) as conn:
        runs = conn.execute(
            f'SELECT run_id, stream, pipeline, status, rows_inserted, rows_rejected FROM "{pg_schema}".sync_runs'
        ).fetchall()
        jobs = conn.execute(
            f'SELECT run_id, entity, items, state, succeeded, failed, finished_at IS NOT NULL FROM "{pg_schema}".sync_jobs'
        ).fetchall()
        letters = conn.execute(f'SELECT run_id, entity, reason FROM "{pg_schema}".dead_letters').fetchall()
    assert len(runs) == 1
    run_id, stream, pipeline, status, inserted, rejected = runs[0]
    assert (stream, pipeline, status, inserted, rejected) == ("products", "target-retailportal", "succeeded", 120, 1)
    assert sorted(items for _, _, items, *_ in jobs) == [40, 40, 40]  # 120 in 3 balanced jobs of the 3 slots
    assert all(row[0] == run_id and row[1] == "products" and row[3] == "Succeeded" and row[6] for row in jobs)
    assert sum(row[4] for row in jobs) == 120
    assert [(r[0], r[1]) for r in letters] == [(run_id, "products")]
    assert "must be an integer" in letters[0][2]
