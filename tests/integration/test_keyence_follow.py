"""`ponte follow keyence` end to end: gateway files → rows in PostgreSQL within seconds, through a crash and restarts.

The test writes lines with the simulator (stamped with the real clock) and then waits, with a deadline, for
PostgreSQL to show them: it polls the database, it never sleeps a fixed time hoping the pipeline kept up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ponte.sandbox.keyence.gateway import GatewaySimulator, Written
from ponte.testing import console_script
from ponte.testing.in_process import run_console_script

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
LAG_DEADLINE = 10.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> float:
    """Seconds until `condition()` holds (checked every 50 ms), or fail with the pipeline's log."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            pytest.fail(f"{what} not within {timeout}s; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return time.monotonic() - began


def children(pid: int) -> dict[int, str]:
    """Child processes of `pid` and their command lines (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


class Plant:
    """The simulated gateway, the follow process and the database, for one test."""

    def __init__(self, tmp_path: Path, schema: str) -> None:
        self.tmp, self.schema = tmp_path, schema
        self.sim = GatewaySimulator(tmp_path / "gw", lines=2, sensors=2, half_lines=True, bad_rate=0.1)
        self.written: list[Written] = []
        self.log = tmp_path / "follow.log"
        self.process: subprocess.Popen[bytes] | None = None
        (tmp_path / "tap.json").write_text(json.dumps({"folder": str(tmp_path / "gw")}))
        target = {"dsn": ADMIN_DSN, "default_target_schema": schema, "log_schema": f"{schema}_log"}
        (tmp_path / "target.json").write_text(json.dumps(target))

    def write(self, ticks: int) -> None:
        for _ in range(ticks):
            self.written += self.sim.step(dt.datetime.now(dt.UTC))
        self.sim.finish_halves()

    def start(self, *extra: str) -> None:
        command = [
            console_script("ponte"),
            "follow",
            "keyence",
            "--tap-config",
            str(self.tmp / "tap.json"),
            "--target-config",
            str(self.tmp / "target.json"),
            "--poll-seconds",
            "0.2",
            "--flush-seconds",
            "0.5",
            *extra,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=40)

    def query(self, text: str) -> Any:
        with psycopg.connect(ADMIN_DSN) as conn:
            return conn.execute(text.replace("{s}", f'"{self.schema}"')).fetchall()

    def loaded(self) -> int:
        try:
            return self.query("SELECT count(*) FROM {s}.leituras")[0][0]
        except psycopg.errors.UndefinedTable:
            return -1

    def expected(self) -> int:
        return sum(w.reading for w in self.written)


def test_follow_keeps_postgres_seconds_behind_through_a_crash_and_restarts(tmp_path: Path, pg_schema: str) -> None:
    plant = Plant(tmp_path, pg_schema)
    plant.write(6)  # a backlog from before the pipeline started
    plant.start("--restart-seconds", "0.5")  # not the 5 s a gateway gets: the test waits for it
    try:
        wait_for(lambda: plant.loaded() == plant.expected(), 40, "the backlog", plant.log)

        lags = []
        for _ in range(3):  # lines appended while following
            plant.write(4)
            lags.append(wait_for(lambda: plant.loaded() == plant.expected(), LAG_DEADLINE, "new lines", plant.log))
        assert max(lags) < LAG_DEADLINE

        tap = next(pid for pid, cmd in children(plant.process.pid).items() if "tap-keyence" in cmd)
        os.kill(tap, signal.SIGKILL)  # the tap dies mid-stream; lines keep coming
        plant.write(5)
        wait_for(lambda: plant.loaded() == plant.expected(), 40, "lines after the tap crashed", plant.log)
        assert plant.stop() == 0
    finally:
        if plant.process and plant.process.poll() is None:
            plant.process.kill()

    plant.write(7)  # written while nothing follows
    plant.start()
    try:
        wait_for(lambda: plant.loaded() == plant.expected(), 40, "lines written while stopped", plant.log)
        assert plant.stop() == 0
    finally:
        if plant.process and plant.process.poll() is None:
            plant.process.kill()

    log = plant.log.read_text()
    assert "restarting from the saved state" in log
    assert log.count("resuming from the saved state") >= 2
    assert "Traceback" not in log
    assert plant.query("SELECT count(*) - count(DISTINCT (_file_id, _file_offset)) FROM {s}.leituras") == [(0,)]
    rejected = plant.query("SELECT count(*) FROM {s}.linhas_invalidas")[0][0]
    assert rejected == sum(not w.reading for w in plant.written) > 0
    view = plant.query("SELECT ordem_producao, linha, produzidos, rejeitados, ativa FROM {s}.producao_por_ordem")
    assert {(o, line): (p, r) for o, line, p, r, _ in view} == plant.sim.totals()
    assert all(active for *_, active in view)
    active = plant.query("SELECT ordem_producao, linha, produzidos FROM {s}.producao_ordens_ativas")
    assert sorted(active) == sorted((o, line, p) for o, line, p, _r, _a in view)
    state = plant.query(f"SELECT state FROM \"{pg_schema}_log\".follow_state WHERE pipeline = 'keyence-to-postgres'")
    files = state[0][0]["bookmarks"]["leituras"]["files"]
    assert sum(entry["line"] for entry in files.values()) == len(plant.written)


def test_an_idle_follow_logs_a_heartbeat_and_counts_the_lines_it_committed(tmp_path: Path, pg_schema: str) -> None:
    plant = Plant(tmp_path, pg_schema)
    plant.sim.folder.mkdir(parents=True, exist_ok=True)  # the gateway has written nothing yet
    plant.start("--heartbeat-seconds", "0.5")
    beats = re.compile(r"heartbeat: keyence-to-postgres alive for \S+; (\d+) new line\(s\) committed")
    try:
        wait_for(lambda: len(beats.findall(plant.log.read_text())) >= 2, 30, "two idle heartbeats", plant.log)
        plant.write(3)
        wait_for(lambda: plant.loaded() == plant.expected(), 40, "the lines", plant.log)

        def counted() -> int:
            return sum(map(int, beats.findall(plant.log.read_text())))

        wait_for(lambda: counted() == len(plant.written), 30, "heartbeats counting every line", plant.log)
        assert plant.stop() == 0
    finally:
        if plant.process and plant.process.poll() is None:
            plant.process.kill()
    assert [int(n) for n in beats.findall(plant.log.read_text())][:2] == [0, 0]  # idle, and said so


def test_configuration_errors_stop_with_one_line_and_exit_2(tmp_path: Path, pg_schema: str) -> None:
    (tmp_path / "tap.json").write_text(json.dumps({"folder": str(tmp_path / "nowhere")}))
    (tmp_path / "target.json").write_text(json.dumps({"dsn": ADMIN_DSN, "default_target_schema": pg_schema}))
    (tmp_path / "down.json").write_text(json.dumps({"dsn": "host=127.0.0.1 port=1 user=postgres dbname=postgres"}))
    base = ["follow", "keyence", "--tap-config", str(tmp_path / "tap.json")]
    for target, message in (("target.json", "nowhere does not exist"), ("down.json", "cannot connect to PostgreSQL")):
        done = run_console_script("ponte", [*base, "--target-config", str(tmp_path / target)])  # fails before any child
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.meltano
def test_setup_only_with_configs_from_meltano_is_idempotent(pg_schema: str) -> None:
    """`ponte follow keyence-to-postgres --setup-only` (= `meltano invoke tap-keyence:setup-db`): target config from
    `meltano config print`, tables, views and the state table created, twice without harm."""
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "TARGET_POSTGRES_DSN": ADMIN_DSN,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": pg_schema,
        "TARGET_POSTGRES_LOG_SCHEMA": f"{pg_schema}_log",
    }
    command = [console_script("ponte"), "follow", "keyence-to-postgres", "--setup-only"]
    for _ in range(2):
        done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
    with psycopg.connect(ADMIN_DSN) as conn:
        found = conn.execute(
            "SELECT table_schema || '.' || table_name, table_type FROM information_schema.tables "
            "WHERE table_schema IN (%s, %s) ORDER BY 1",
            (pg_schema, f"{pg_schema}_log"),
        ).fetchall()
    assert found == [
        (f"{pg_schema}.leituras", "BASE TABLE"),
        (f"{pg_schema}.linhas_invalidas", "BASE TABLE"),
        (f"{pg_schema}.producao_ordens_ativas", "VIEW"),
        (f"{pg_schema}.producao_por_ordem", "VIEW"),
        (f"{pg_schema}_log.follow_state", "BASE TABLE"),
    ]
