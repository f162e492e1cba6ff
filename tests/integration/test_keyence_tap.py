"""tap-keyence as a process, on files the gateway simulator writes, into a real PostgreSQL through target-postgres.

The simulator is stepped by the test between tap runs, so what each run must find (half lines, lines written
just before a rotation, a truncated file) is decided here and not by timing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from ponte.linefiles.declaration import find_declaration, load_line_format
from ponte.linefiles.views import ensure
from ponte.sandbox.keyence.gateway import DEFAULT_START, GATEWAY_ZONE, GatewaySimulator, Written
from ponte.targets.postgres.settings import LoaderSettings
from ponte.testing import SingerRun, console_script, run_tap

ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
TICK = dt.timedelta(seconds=0.25)
ORIGIN = ["_file_id", "_file_offset", "_file_name", "_file_line"]


class Gateway:
    """The simulator, its clock, and everything it wrote."""

    def __init__(self, folder: Path, **options: Any) -> None:
        self.sim = GatewaySimulator(folder, **options)
        self.moment = DEFAULT_START
        self.written: list[Written] = []

    def write(self, ticks: int) -> None:
        for _ in range(ticks):
            self.written += self.sim.step(self.moment)
            self.moment += TICK

    def texts(self, readings: bool) -> Counter[str]:
        return Counter(w.text for w in self.written if w.reading is readings)


def raw_text(record: dict[str, Any]) -> str:
    """A parsed record written back in the gateway's layout (to compare with what the simulator wrote)."""
    moment = dt.datetime.fromisoformat(record["lido_em"])
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return ";".join([stamp, record["linha"], record["sensor"], record["ordem_producao"]]) + (
        f";{record['produzidos']};{record['rejeitados']}"
    )


def raw_text_of_row(row: tuple[Any, ...]) -> str:
    moment, *rest = row
    stamp = moment.astimezone(GATEWAY_ZONE).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return ";".join([stamp, *map(str, rest)])


def test_runs_resume_exactly_through_half_lines_rotation_and_bad_lines(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path / "gw", lines=2, sensors=2, half_lines=True, rotate_bytes=900, bad_rate=0.15)
    config = {"folder": str(tmp_path / "gw")}
    runs: list[SingerRun] = []
    state = None
    for ticks in (30, 25, 0):
        gateway.write(ticks)
        if ticks == 0:
            gateway.sim.finish_halves()  # the last half lines get their newline only now
        run = run_tap("tap-keyence", config, state=state)
        assert run.returncode == 0, run.stderr[-2000:]
        runs.append(run)
        state = run.last_state
    assert gateway.sim.rotations >= 4

    records = [r for run in runs for r in run.records("leituras")]
    rejects = [r for run in runs for r in run.records("linhas_invalidas")]
    assert Counter(raw_text(r) for r in records) == gateway.texts(readings=True)
    assert Counter(r["raw_line"] for r in rejects) == gateway.texts(readings=False)
    keys = Counter((r["_file_id"], r["_file_offset"]) for r in records + rejects)
    assert keys.most_common(1)[0][1] == 1, "no line twice"
    assert runs[0].counts()["leituras"] < 60 and runs[-1].counts()["leituras"] == 2, "half lines wait for their end"
    reasons = {r["reason"] for r in rejects}
    assert "field 5 (produzidos): '12a45' is not an integer" in reasons
    assert "expected 6 fields separated by ';', found 4" in reasons

    schema = {m["stream"]: m for m in runs[0].of_type("SCHEMA")}
    assert schema["leituras"]["key_properties"] == ["_file_id", "_file_offset"]
    assert schema["leituras"]["schema"]["properties"]["lido_em"]["format"] == "date-time"
    assert records[0]["lido_em"] == "2026-11-23T06:00:00-03:00"
    assert isinstance(records[0]["produzidos"], int)
    assert "read 0 lines" not in runs[0].stderr and "Traceback" not in "".join(r.stderr for r in runs)


def test_follow_mode_streams_new_lines_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path / "gw", lines=1)
    gateway.write(3)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"folder": str(tmp_path / "gw"), "follow": True, "poll_interval_seconds": 0.1}))
    process = subprocess.Popen(
        [console_script("tap-keyence"), "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        seen: list[dict[str, Any]] = []

        def read_until(records: int) -> None:
            while sum(m["type"] == "RECORD" for m in seen) < records:
                line = process.stdout.readline()  # blocks until the tap writes: no sleeping, no race
                assert line, process.stderr.read().decode()[-2000:] if process.stderr else "tap ended"
                seen.append(json.loads(line))

        read_until(3)
        gateway.write(2)  # written while the tap is running
        read_until(5)
        process.terminate()
        rest, errors = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    seen += [json.loads(line) for line in rest.splitlines()]
    assert process.returncode == 0, errors.decode()[-2000:]
    assert seen[-1]["type"] == "STATE"
    files = seen[-1]["value"]["bookmarks"]["leituras"]["files"]
    assert [entry["line"] for entry in files.values()] == [5]
    assert "stopping after the current batch" in errors.decode()


def load(config: dict[str, Any], target: Path, state: dict[str, Any] | None, folder: Path) -> dict[str, Any]:
    """tap-keyence | target-postgres, as Meltano would pipe them; returns the target's last STATE."""
    (folder / "tap.json").write_text(json.dumps(config))
    command = [console_script("tap-keyence"), "--config", str(folder / "tap.json")]
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
        command += ["--state", str(folder / "state.json")]
    tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    loaded = subprocess.run(
        [console_script("target-postgres"), "--config", str(target)], stdin=tap.stdout, capture_output=True, check=False
    )
    assert tap.wait(timeout=60) == 0
    assert loaded.returncode == 0, loaded.stderr.decode()[-2000:]
    return json.loads(loaded.stdout.decode().splitlines()[-1])


def test_typed_tables_rejects_and_the_view_match_what_the_gateway_wrote(tmp_path: Path, pg_schema: str) -> None:
    gateway = Gateway(tmp_path / "gw", lines=2, sensors=2, bad_rate=0.1, order_readings=40, rotate_bytes=1500)
    target = tmp_path / "target.json"
    target_config = {"dsn": ADMIN_DSN, "default_target_schema": pg_schema, "log_schema": f"{pg_schema}_log"}
    target.write_text(json.dumps(target_config))
    config = {"folder": str(tmp_path / "gw")}
    gateway.write(70)
    state = load(config, target, None, tmp_path)
    os.truncate(gateway.sim.path(gateway.sim.production_lines[1]), 0)  # `> LINHA-02.txt` after it was loaded ...
    gateway.sim.production_lines[1].fd = None
    gateway.write(50)  # ... and the gateway goes on writing into it
    state = load(config, target, state, tmp_path)
    load(config, target, state, tmp_path)  # nothing new: changes nothing

    fmt = load_line_format(find_declaration("keyence"))
    ensure(LoaderSettings.from_config(target_config), fmt)
    with psycopg.connect(ADMIN_DSN) as conn:
        types = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s",
                (pg_schema,),
            ).fetchall()
        )
        rows = conn.execute(
            f'SELECT lido_em, linha, sensor, ordem_producao, produzidos, rejeitados FROM "{pg_schema}".leituras'
        ).fetchall()
        duplicates = conn.execute(
            f'SELECT count(*) - count(DISTINCT (_file_id, _file_offset)) FROM "{pg_schema}".leituras'
        ).fetchone()[0]
        rejects = conn.execute(f'SELECT raw_line, reason FROM "{pg_schema}".linhas_invalidas').fetchall()
        per_order = conn.execute(
            f'SELECT ordem_producao, linha, produzidos, rejeitados FROM "{pg_schema}".producao_por_ordem'
        ).fetchall()
    assert {
        k: types[k] for k in ("leituras.lido_em", "leituras.produzidos", "leituras.linha", "leituras._file_offset")
    } == {
        "leituras.lido_em": "timestamp with time zone",
        "leituras.produzidos": "bigint",
        "leituras.linha": "text",
        "leituras._file_offset": "bigint",
    }
    assert duplicates == 0
    assert Counter(raw_text_of_row(row) for row in rows) == gateway.texts(readings=True)
    assert Counter(r[0] for r in rejects) == gateway.texts(readings=False)
    assert all(reason for _, reason in rejects)
    view = {(o, line): (p, r) for o, line, p, r in per_order}
    assert view == gateway.sim.totals()
    assert len(view) >= 6, "several orders per line"


def test_stream_maps_apply_and_a_missing_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path / "gw", lines=1)
    gateway.write(2)
    maps = {"leituras": {"sensor": "__NULL__", "chave": "linha + '/' + ordem_producao"}}
    run = run_tap("tap-keyence", {"folder": str(tmp_path / "gw"), "stream_maps": maps})
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.records("leituras")[0]) == sorted(
        ["lido_em", "linha", "ordem_producao", "produzidos", "rejeitados", "chave", *ORIGIN]
    )
    assert run.records("leituras")[0]["chave"] == "LINHA-01/OP000001"
    for args in ((), ("--test",)):
        missing = run_tap("tap-keyence", {"folder": str(tmp_path / "nowhere")}, args=args)
        assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
