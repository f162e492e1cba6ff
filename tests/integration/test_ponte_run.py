"""`ponte run tap-sienge target-postgres`: the launcher runs `meltano run` and records what really happened —
a tap failure is a failed run (not the target's "succeeded"), with its error line, an alert and a non-zero exit;
a good run links the target's per-stream rows by its run id (a spent quota: test_run_report.py, status rules:
tests/unit/test_run_record.py)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from ponte.testing import SandboxProcess
from ponte.testing.meltano_run import ponte_run
from ponte.testing.sinks import HttpSink, SmtpSink

pytestmark = pytest.mark.meltano

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
WEBHOOK_TOKEN = "hook-t0ken-4f9a2c"
# The launcher's settings, blank unless a test sets them (a developer's .env must not leak into these tests).
LAUNCHER_SETTINGS = ["PONTE_DB_DSN", "PONTE_DB_SCHEMA", "PONTE_ALERT_ON", "PONTE_ALERT_WEBHOOK_URL",
                     *(f"PONTE_ALERT_SMTP_{name}" for name in ("HOST", "PORT", "STARTTLS", "SSL", "USER", "PASSWORD",
                                                               "FROM", "TO"))]  # fmt: skip


def _env(sandbox: SandboxProcess, schema: str, tmp_path: Path, streams: list[str], **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PONTE_")}
    return {
        **env,
        **dict.fromkeys(LAUNCHER_SETTINGS, ""),
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_RUN_STATE_ID_SUFFIX": schema,
        "TAP_SIENGE_BASE_URL": sandbox.base_url,
        "TAP_SIENGE_STATE_DIR": str(tmp_path / "tap-state"),
        "TAP_SIENGE_BACKOFF_BASE_SECONDS": "0.01",
        "TAP_SIENGE__SELECT": json.dumps([f"{stream}.*" for stream in streams]),
        "TARGET_POSTGRES_DSN": ADMIN_DSN,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        "TARGET_POSTGRES_LOG_SCHEMA": f"{schema}_log",
        "PONTE_PIPELINE_RUNS_PATH": str(tmp_path / "pipeline_runs.jsonl"),
        **extra,
    }


def _sync_runs(schema: str) -> list[dict[str, Any]]:
    with psycopg.connect(ADMIN_DSN, row_factory=dict_row) as conn:
        return conn.execute(
            f'SELECT run_id, stream, status, rows_inserted, rows_updated FROM "{schema}_log".sync_runs ORDER BY stream'
        ).fetchall()


def _file_record(tmp_path: Path) -> dict[str, Any]:
    lines = [json.loads(line) for line in (tmp_path / "pipeline_runs.jsonl").read_text().splitlines()]
    assert lines[0]["status"] == "running"  # written when the run started
    assert len({line["run_id"] for line in lines}) == 1
    return lines[-1]


def test_a_tap_failure_is_a_failed_run_with_its_error_line_an_alert_and_a_non_zero_exit(
    meltano_installed: None, pg_schema: str, tmp_path: Path
) -> None:
    with (
        SandboxProcess.start("sienge", "--records", "5", "--fail-rate", "1", "--fail-status", "503") as sandbox,
        SmtpSink() as smtp,
        HttpSink(path=f"/hooks/{WEBHOOK_TOKEN}") as hook,
    ):
        env = _env(
            sandbox, pg_schema, tmp_path, ["customers"],
            PONTE_DB_DSN=ADMIN_DSN,
            PONTE_DB_SCHEMA=f"{pg_schema}_log",
            PONTE_ALERT_SMTP_HOST="127.0.0.1",
            PONTE_ALERT_SMTP_PORT=str(smtp.port),
            PONTE_ALERT_SMTP_TO="ops@example.com",
            PONTE_ALERT_WEBHOOK_URL=hook.url,
        )  # fmt: skip
        run = ponte_run(PROJECT, ["--trigger", "schedule", "tap-sienge", "target-postgres"], env)
        mails, posts = smtp.messages, hook.requests  # the launcher sent them before it exited

    assert run.returncode != 0, run.stderr[-3000:]
    error_lines = [line for line in run.stderr.splitlines() if "ERROR" in line and "ponte run" in line]
    assert error_lines, run.stderr[-3000:]
    failure = error_lines[0]
    assert "tap-sienge failed (exit code 4)" in failure
    assert "stream 'customers': 503" in failure and "run again later" in failure
    assert "An unhandled error occurred" not in failure
    with psycopg.connect(ADMIN_DSN, row_factory=dict_row) as conn:
        (record,) = conn.execute(f'SELECT * FROM "{pg_schema}_log".pipeline_runs').fetchall()
    assert record["status"] == "failed"
    assert record["trigger"] == "schedule" and record["environment"] == "dev"
    assert record["pipeline"] == "tap-sienge target-postgres"
    assert record["finished_at"] is not None and record["exit_code"] == run.returncode
    assert {p["name"]: p["exit_code"] for p in record["plugins"]} == {"tap-sienge": 4, "target-postgres": 0}
    assert record["failed_plugin"] == "tap-sienge"
    assert record["error"].startswith("tap-sienge: stream 'customers': 503 Service Unavailable")
    # the target saw a clean end of input; its row is linked to the failed run by the run id
    assert [(r["run_id"], r["stream"]) for r in _sync_runs(pg_schema)] == [(record["run_id"], "customers")]
    assert not (tmp_path / "pipeline_runs.jsonl").exists()  # the database took the record
    (mail,) = mails
    assert "tap-sienge exited with code 4" in mail.subject
    assert "503 Service Unavailable" in mail.body and str(record["run_id"]) in mail.body
    (post,) = posts
    assert post.json["severity"] == "error" and post.json["run_id"] == str(record["run_id"])
    assert post.json["details"]["plugins"][0] == {"name": "tap-sienge", "role": "extractor", "block": 0,
                                                  "exit_code": 4}  # fmt: skip
    assert WEBHOOK_TOKEN not in run.stderr + mail.body + json.dumps(post.json)


def test_a_good_run_is_recorded_in_the_file_and_links_the_targets_rows_by_its_run_id(
    meltano_installed: None, pg_schema: str, tmp_path: Path
) -> None:
    with SandboxProcess.start("sienge", "--records", "5") as sandbox, SmtpSink() as smtp:
        env = _env(sandbox, pg_schema, tmp_path, ["customers", "companies"],
                   PONTE_ALERT_SMTP_HOST="127.0.0.1", PONTE_ALERT_SMTP_PORT=str(smtp.port),
                   PONTE_ALERT_SMTP_TO="ops@example.com")  # fmt: skip
        run = ponte_run(PROJECT, ["tap-sienge", "target-postgres"], env)
        mails = smtp.messages

    assert run.returncode == 0, run.stderr[-3000:]
    record = _file_record(tmp_path)
    assert record["status"] == "succeeded" and record["trigger"] == "manual" and record["error"] is None
    assert [(p["name"], p["exit_code"]) for p in record["plugins"]] == [("tap-sienge", 0), ("target-postgres", 0)]
    rows = _sync_runs(pg_schema)
    assert {str(r["run_id"]) for r in rows} == {record["run_id"]}
    assert sorted((s["stream"], s["inserted"], s["updated"], s["status"]) for s in record["streams"]) == [
        (r["stream"], r["rows_inserted"], r["rows_updated"], r["status"]) for r in rows
    ]
    assert {s["stream"]: s["inserted"] for s in record["streams"]} == {"companies": 5, "customers": 5}
    assert f"run {record['run_id']} succeeded" in run.stderr
    assert not mails  # alerts are for failed runs (PONTE_ALERT_ON)


def test_the_default_output_is_a_few_readable_lines_with_progress_and_eta_on_a_long_stream(
    meltano_installed: None, pg_schema: str, tmp_path: Path
) -> None:
    streams = ["customers", "companies", "cost_databases", "cost_database_resources"]
    # 30 pages of customers at 100 ms each: the stream runs for seconds on any machine, so progress lines are due
    with SandboxProcess.start("sienge", "--records", "6000", "--rate-limit", "0", "--latency-ms", "100") as sandbox:
        env = _env(sandbox, pg_schema, tmp_path, streams, PONTE_PROGRESS_SECONDS="0.5")
        run = ponte_run(PROJECT, ["tap-sienge", "target-postgres"], env)

    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stderr.splitlines()
    shown = [line.split(maxsplit=2)[-1] for line in lines if line.split(" ", 1)[-1].startswith("tap-sienge")]
    assert "customers: started (incremental)" in shown
    assert any(re.fullmatch(r"customers: [\d,]+ of 6,000 records \([\d,]+/s, ETA [\d.]+ (s|min)\)", s) for s in shown)
    assert any(re.fullmatch(r"customers: 6,000 records in [\d.]+ s", s) for s in shown)
    # a child stream ends once, with every parent's records, before its parent's line
    ends = [s for s in shown if re.fullmatch(r"\S+: [\d,]+ records in .*", s)]
    assert "cost_database_resources: 150 records in" in " ".join(ends)
    child = next(i for i, s in enumerate(ends) if s.startswith("cost_database_resources:"))
    assert ends[child + 1].startswith("cost_databases: 3 records")
    assert not [line for line in lines if "METRIC" in line or "Beginning sync" in line]
    table = [line.split() for line in lines if line.startswith("  ")]
    assert table[0] == ["stream", "records", "seconds", "inserted", "updated", "deleted"]
    assert table[[row[0] for row in table].index("customers")][:2] == ["customers", "6,000"]
    # progress is throttled to one line per PONTE_PROGRESS_SECONDS (0.5 s) per stream, whatever the machine's speed;
    # everything else is a handful of lines
    ended = [m for s in shown if (m := re.fullmatch(r"customers: 6,000 records in ([\d.]+) s", s))]
    progress = [s for s in shown if re.fullmatch(r"customers: [\d,]+ of 6,000 records .*", s)]
    assert len(progress) <= float(ended[0].group(1)) / 0.5 + 2, "\n".join(lines)
    assert len(lines) - len(progress) < 20, "\n".join(lines)
