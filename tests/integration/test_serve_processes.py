"""Two `ponte serve` processes on one database never run the same job at once (100 runs, 0 overlaps), and
SIGTERM lets the run in progress finish, then exits 0. The runs are a fake `ponte run` (PONTE_SERVE_RUN_COMMAND)
that logs its start and end, so the test measures the service's locking, not Meltano's start-up time."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from serve_harness import ADMIN_DSN, SERVE_COMMAND, drop_schemas, schema_name, service_env, tick_project, wait_for

from ponte.core.console_scripts import console_script

# Every job fires every second in both processes and each run lasts 1.5 s, so every firing meets either the
# other process claiming the same second or its own run still going. 25 jobs make the 100 runs in ~8 s
# (10 jobs took ~20 s) with the same contention per run.
JOBS = 25


@pytest.fixture
def schema() -> Iterator[str]:
    name = schema_name("serve_proc")
    yield name
    drop_schemas(name)


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The `ponte serve` processes a test started; any still running when it ends (a failed test) is killed."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _spawn(
    project: Path, env: dict[str, str], name: str, spawned: list[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], str]:
    port_file = project / f"{name}.port"
    log = (project / f"{name}.log").open("wb")
    command = [console_script(SERVE_COMMAND[0]), *SERVE_COMMAND[1:], str(project), "--port-file", str(port_file)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    spawned.append(process)
    wait_for(
        lambda: (port_file.exists() and port_file.read_text()) or process.poll() is not None, 30, f"{name} to listen"
    )
    assert process.poll() is None, (project / f"{name}.log").read_text()
    return process, f"http://127.0.0.1:{port_file.read_text()}"


def _events(path: Path) -> list[tuple[str, str, float]]:
    if not path.exists():
        return []
    return [(e, job, float(t)) for e, job, t, _ in (line.split() for line in path.read_text().splitlines())]


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(60)


def test_two_processes_never_run_the_same_job_at_once(
    tmp_path: Path, schema: str, spawned: list[subprocess.Popen[bytes]]
) -> None:
    schedules = {f"every-second@tick-{n}": "* * * * * *" for n in range(JOBS)}
    project = tick_project(tmp_path / "project", schedules, jobs=JOBS)
    runs_log = tmp_path / "runs.log"
    env = service_env(schema, PONTE_SERVE_RUN_COMMAND=f"{sys.executable} {project / 'fake_run.py'}",
                      FAKE_RUN_LOG=str(runs_log), FAKE_RUN_SECONDS="1.5")  # fmt: skip
    first, _ = _spawn(project, env, "first", spawned)
    second, _ = _spawn(project, env, "second", spawned)

    def starts() -> int:
        return sum(e == "start" for e, _, _ in _events(runs_log))

    both_up = starts()  # the runs the first process made alone do not count
    try:
        wait_for(lambda: starts() >= both_up + 100, 120, "100 runs with both processes up")
    finally:
        codes = [_stop(first), _stop(second)]
    assert codes == [0, 0]
    by_job: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for event, job, at in _events(runs_log):
        by_job[job].append((event, at))
    overlaps = 0
    for events in by_job.values():
        running = 0
        for event, _ in sorted(events, key=lambda item: item[1]):
            running += 1 if event == "start" else -1
            overlaps += running > 1
        assert running == 0  # every run ended (the drain waited for them)
    assert overlaps == 0
    parents = {line.split()[3] for line in runs_log.read_text().splitlines()}
    assert len(parents) == 2, "both processes should have run some firings"


def test_sigterm_lets_the_running_pipeline_finish_then_exits_0(
    tmp_path: Path, schema: str, spawned: list[subprocess.Popen[bytes]]
) -> None:
    project = tick_project(tmp_path / "project", {})
    runs_log = tmp_path / "runs.log"
    env = service_env(schema, PONTE_SERVE_RUN_COMMAND=f"{sys.executable} {project / 'fake_run.py'}",
                      FAKE_RUN_LOG=str(runs_log), FAKE_RUN_SECONDS="2")  # fmt: skip
    process, url = _spawn(project, env, "serve", spawned)
    run_id = requests.post(f"{url}/api/runs", json={"job": "tick-0"}, timeout=10).json()["run_id"]
    wait_for(lambda: _events(runs_log), 30, "the run to start")
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    assert [e for e, _, _ in _events(runs_log)] == ["start", "end"]  # finished, not killed
    with psycopg.connect(ADMIN_DSN) as conn:
        row = conn.execute(f'SELECT status, exit_code FROM "{schema}".pipeline_runs WHERE run_id = %s', (run_id,))
        assert row.fetchone() == ("succeeded", 0)


def test_a_run_longer_than_the_drain_is_stopped_and_recorded_failed_and_the_service_still_exits_0(
    tmp_path: Path, schema: str, spawned: list[subprocess.Popen[bytes]]
) -> None:
    project = tick_project(tmp_path / "project", {})
    runs_log = tmp_path / "runs.log"
    env = service_env(schema, PONTE_SERVE_RUN_COMMAND=f"{sys.executable} {project / 'fake_run.py'}",
                      FAKE_RUN_LOG=str(runs_log), FAKE_RUN_SECONDS="600", PONTE_SERVE_DRAIN_SECONDS="1")  # fmt: skip
    process, url = _spawn(project, env, "serve", spawned)
    run_id = requests.post(f"{url}/api/runs", json={"job": "tick-0"}, timeout=10).json()["run_id"]
    wait_for(lambda: _events(runs_log), 30, "the run to start")
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    assert [e for e, _, _ in _events(runs_log)] == ["start"]  # stopped after the drain, never ended by itself
    with psycopg.connect(ADMIN_DSN) as conn:
        row = conn.execute(f'SELECT status, error FROM "{schema}".pipeline_runs WHERE run_id = %s', (run_id,))
        status, error = row.fetchone()
    assert status == "failed" and "exited with code -15" in error, error
