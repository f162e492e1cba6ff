"""`ponte serve` on this project: POST /api/runs of tap-sienge target-postgres lands the tables, its log streams
while it runs, Meltano's state lands in PostgreSQL; a run refused by the sandbox (401) is `failed` with its error
line and alerts once per failure streak (the SMTP sink gets one message for two failed runs)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from serve_harness import ADMIN_DSN, ServiceThread, drop_schemas, schema_name, service_env, wait_for

from ponte.testing import SandboxProcess
from ponte.testing.meltano_run import private_sys_dir
from ponte.testing.sinks import SmtpSink

pytestmark = pytest.mark.meltano
PROJECT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = schema_name("serve_sienge")
    yield name
    drop_schemas(name)


def _env(schema: str, sandbox: SandboxProcess, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The service's runs keep their catalogs and state files in a `.meltano/run` of their own: the service does
    not take the test locks of ponte.testing.meltano_run, and other workers run tap-sienge at the same time."""
    return service_env(
        schema, MELTANO_SYS_DIR_ROOT=str(private_sys_dir(PROJECT, tmp_path / "meltano-sys")),
        MELTANO_ENVIRONMENT="dev", MELTANO_RUN_STATE_ID_SUFFIX=schema, TAP_SIENGE_BASE_URL=sandbox.base_url,
        TAP_SIENGE_STATE_DIR=str(tmp_path / "tap-state"), TAP_SIENGE_BACKOFF_BASE_SECONDS="0.01",
        TARGET_POSTGRES_DSN=ADMIN_DSN, TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=f"{schema}_data",
        TARGET_POSTGRES_LOG_SCHEMA=f"{schema}_data_log", PONTE_PIPELINE_RUNS_PATH=str(tmp_path / "runs.jsonl"),
        **extra,
    )  # fmt: skip


def _events(service: ServiceThread, run_id: str) -> Iterator[tuple[float, str, str]]:
    """(arrival time, event, data) of the run's SSE log."""
    with service.http.get(f"{service.url}/api/runs/{run_id}/log", headers={"Accept": "text/event-stream"},
                          stream=True, timeout=120) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        event, data = "message", []
        for line in response.iter_lines(decode_unicode=True):
            if line == "":
                yield time.monotonic(), event, "\n".join(data)
                event, data = "message", []
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])


def test_a_manual_run_lands_the_tables_streams_its_log_and_keeps_meltano_state_in_postgres(
    meltano_installed: None, schema: str, tmp_path: Path
) -> None:
    with (
        SandboxProcess.start("sienge", "--records", "300", "--latency-ms", "30") as sandbox,
        ServiceThread(PROJECT, _env(schema, sandbox, tmp_path)) as service,
    ):
        body = {"tap": "tap-sienge", "target": "target-postgres", "select": ["customers", "companies"]}
        accepted = service.post("/api/runs", json=body)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert service.get(f"/api/runs/{run_id}").json()["trigger"] == "manual"
        seen_running = False
        lines, end = [], None
        for _, event, data in _events(service, run_id):
            if event == "end":
                end = json.loads(data)
                break
            lines.append(data)
            if len(lines) == 1:  # the first line came while the run was still going
                seen_running = service.get(f"/api/runs/{run_id}").json()["status"] in ("starting", "running")
        assert seen_running and end == {"status": "succeeded"}
        assert any("customers" in line for line in lines)
        run = service.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "succeeded" and run["exit_code"] == 0
        assert {s["stream"]: s["inserted"] for s in run["streams"]}["customers"] == 300
        assert [p["exit_code"] for p in run["plugins"]] == [0, 0]
        assert service.get(f"/api/runs/{run_id}/log").text.splitlines() == lines  # the stored log, after
        assert service.post("/api/runs", json={"job": "no-such"}).status_code == 400
    with psycopg.connect(ADMIN_DSN) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{schema}_data".customers').fetchone() == (300,)
        state_ids = [r[0] for r in conn.execute(f'SELECT state_id FROM "{schema}_meltano".state').fetchall()]
    assert state_ids == [f"dev:tap-sienge-to-target-postgres:{schema}"]


def test_a_failing_run_is_failed_with_its_error_line_and_alerts_once_per_streak(
    meltano_installed: None, schema: str, tmp_path: Path
) -> None:
    with (
        SandboxProcess.start("sienge", "--records", "5") as sandbox,
        SmtpSink() as smtp,
        ServiceThread(PROJECT, _env(schema, sandbox, tmp_path, TAP_SIENGE_PASSWORD="wrong-password",
                                    PONTE_ALERT_SMTP_HOST="127.0.0.1", PONTE_ALERT_SMTP_PORT=str(smtp.port),
                                    PONTE_ALERT_SMTP_TO="ops@example.com")) as service,
    ):  # fmt: skip
        body = {"pipeline": ["tap-sienge", "target-postgres"], "select": ["companies"]}
        first = service.finished(service.post("/api/runs", json=body).json()["run_id"])
        assert first["status"] == "failed" and first["failed_plugin"] == "tap-sienge"
        assert "401" in first["error"] and "TAP_SIENGE_PASSWORD" in first["error"], first["error"]
        (mail,) = smtp.wait_for(1, timeout=30)
        assert "tap-sienge target-postgres" in mail.subject and "401" in mail.body
        assert "wrong-password" not in mail.body
        second = service.finished(service.post("/api/runs", json=body).json()["run_id"])
        assert second["status"] == "failed"
        wait_for(lambda: not service.service.runs._tasks, 30, "the run's follower to end")
    assert len(smtp.messages) == 1  # the same streak: no second message
