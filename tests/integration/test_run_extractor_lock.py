"""Two `ponte run` of pipelines sharing an extractor take turns: they would share its catalog and state files
under `.meltano/run/<extractor>/` and break each other ("Invalid value for '--catalog'"). The second one says
once which run holds the extractor and waits; past PONTE_RUN_LOCK_WAIT_SECONDS it fails with exit code 75 and
a failed record saying why."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ponte.core.console_scripts import console_script
from ponte.runs.extractor_locks import Holder, extractor_locks, locks_folder
from ponte.runs.launcher import RunRequest, launch
from ponte.testing.in_process import SandboxThread
from ponte.testing.meltano_run import install_lock_shared

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
# The launcher's settings, blank unless a test sets them (a developer's .env must not leak into these tests).
LAUNCHER_SETTINGS = ["PONTE_DB_DSN", "PONTE_DB_SCHEMA", "PONTE_ALERT_ON", "PONTE_ALERT_WEBHOOK_URL",
                     "PONTE_ALERT_SMTP_HOST", "PONTE_ALERT_SMTP_TO", "PONTE_RUN_LOCK_WAIT_SECONDS"]  # fmt: skip
WAITED = "tap-sienge is in use by another run"


def _env(tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PONTE_", "MELTANO_SYS_DIR"))}
    return {
        **env,
        **dict.fromkeys(LAUNCHER_SETTINGS, ""),
        "MELTANO_ENVIRONMENT": "dev",
        "PONTE_PIPELINE_RUNS_PATH": str(tmp_path / f"{name}-runs.jsonl"),
        **extra,
    }


def _last_record(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text().splitlines()[-1])


@pytest.fixture
def two_schemas() -> Iterator[tuple[str, str]]:
    names = (f"t_{uuid.uuid4().hex[:10]}", f"t_{uuid.uuid4().hex[:10]}")
    yield names
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.mark.meltano
@pytest.mark.acceptance  # two real runs one after the other (~1 min): `make acceptance`
def test_two_runs_sharing_an_extractor_take_turns_and_both_load(
    meltano_installed: None, two_schemas: tuple[str, str], tmp_path: Path
) -> None:
    # The project's own .meltano (its system database is ready): another worker's run of tap-sienge may make the
    # first run wait, but while the first run is held in the sandbox, it is the one holding tap-sienge.
    ponte = console_script("ponte")
    with SandboxThread.start("sienge", "--records", "3") as sandbox, install_lock_shared(PROJECT):

        def env(name: str, schema: str) -> dict[str, str]:
            return _env(tmp_path, name,
                        MELTANO_RUN_STATE_ID_SUFFIX=schema,
                        TAP_SIENGE_BASE_URL=sandbox.base_url,
                        TAP_SIENGE_STATE_DIR=str(tmp_path / f"{name}-tap-state"),
                        TAP_SIENGE__SELECT=json.dumps(["customers.*"]),
                        TARGET_POSTGRES_DSN=ADMIN_DSN,
                        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
                        TARGET_POSTGRES_LOG_SCHEMA=schema)  # fmt: skip

        def start(name: str, schema: str, *blocks: str) -> subprocess.Popen[str]:
            return subprocess.Popen([ponte, "run", *blocks], cwd=PROJECT, env=env(name, schema),
                                    stderr=subprocess.PIPE, text=True)  # fmt: skip

        with sandbox.holding_requests() as hold:
            first = start("first", two_schemas[0], "sienge-to-postgres")  # a job: its extractor found in meltano/
            assert hold.arrived.wait(60), "the first run never reached the sandbox"  # it holds tap-sienge now
            second = start("second", two_schemas[1], "tap-sienge", "target-postgres")
            lines: queue.Queue[str] = queue.Queue()
            reader = threading.Thread(target=lambda: [lines.put(line) for line in second.stderr or []], daemon=True)
            reader.start()
            seen = []
            while not seen or WAITED not in seen[-1]:
                seen.append(lines.get(timeout=60))
            hold.release()
        _, first_err = first.communicate(timeout=180)
        second.wait(timeout=180)
        reader.join(timeout=10)
        seen += list(lines.queue)

    assert first.returncode == 0, first_err[-3000:]
    assert second.returncode == 0, "".join(seen)[-3000:]
    waiting = [line for line in seen if WAITED in line]
    assert len(waiting) == 1, "".join(seen)
    first_run = _last_record(tmp_path / "first-runs.jsonl")
    assert (
        f"{WAITED} (pid {first.pid}, pipeline sienge-to-postgres, run {first_run['run_id']}); "
        "waiting up to 3600 s (PONTE_RUN_LOCK_WAIT_SECONDS)"
    ) in waiting[0]
    assert WAITED not in first_err
    assert first_run["status"] == "succeeded"
    assert _last_record(tmp_path / "second-runs.jsonl")["status"] == "succeeded"
    with psycopg.connect(ADMIN_DSN) as conn:
        for schema in two_schemas:
            assert conn.execute(f'SELECT count(*) FROM "{schema}".customers').fetchone() == (3,)


def test_a_run_that_waits_too_long_for_its_extractor_fails_clearly_and_is_recorded(tmp_path: Path) -> None:
    env = _env(tmp_path, "late", MELTANO_SYS_DIR_ROOT=str(tmp_path / "meltano"), PONTE_RUN_LOCK_WAIT_SECONDS="0.3")
    holder = Holder(os.getpid(), "sienge-to-postgres", "held-by-the-test")
    out = io.StringIO()
    with extractor_locks(locks_folder(PROJECT, env), ["tap-sienge"], holder):
        code = launch(RunRequest(["sienge-to-postgres"], PROJECT, "schedule", log_format="console"), env, out)

    assert code == 75
    busy = f"(pid {os.getpid()}, pipeline sienge-to-postgres, run held-by-the-test)"
    lines = out.getvalue().splitlines()
    assert any("WARNING" in line and f"{WAITED} {busy}; waiting up to 0.3 s" in line for line in lines), lines
    reason = (f"tap-sienge was still in use by another run {busy} after waiting 0.3 s; this run did not start. "
              "Start it again when that run has ended, or raise PONTE_RUN_LOCK_WAIT_SECONDS")  # fmt: skip
    assert any("ERROR" in line and f"the run failed (exit code 75): {reason}" in line for line in lines), lines
    record = _last_record(tmp_path / "late-runs.jsonl")
    assert (record["status"], record["exit_code"], record["error"]) == ("failed", 75, reason)
    assert record["pipeline"] == "sienge-to-postgres" and record["trigger"] == "schedule"
    assert record["plugins"] == [] and record["failed_plugin"] is None  # Meltano never started


def test_a_run_stopped_while_it_waits_for_its_extractor_is_recorded_as_stopped(tmp_path: Path) -> None:
    """What `ponte serve` does to runs still waiting when its drain ends: SIGTERM; nothing ran, the record says so."""
    env = _env(tmp_path, "stopped", MELTANO_SYS_DIR_ROOT=str(tmp_path / "meltano"))
    holder = Holder(os.getpid(), "sienge-to-postgres", "held-by-the-test")
    with extractor_locks(locks_folder(PROJECT, env), ["tap-sienge"], holder):
        run = subprocess.Popen([console_script("ponte"), "run", "tap-sienge", "target-postgres"], cwd=PROJECT,
                               env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert run.stderr is not None
        seen = [next(line for line in run.stderr if WAITED in line)]
        run.send_signal(signal.SIGTERM)
        seen += run.stderr.readlines()
        run.wait(timeout=30)

    assert run.returncode == 128 + signal.SIGTERM, "".join(seen)
    record = _last_record(tmp_path / "stopped-runs.jsonl")
    assert record["status"] == "failed" and record["exit_code"] == 128 + signal.SIGTERM
    assert record["error"].startswith("ponte run was stopped by SIGTERM while it waited for tap-sienge (")
    assert record["error"].endswith("; nothing ran")
