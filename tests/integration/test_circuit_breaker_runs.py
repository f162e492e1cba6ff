"""An API outage with the circuit breaker on: a target and a tap stop in seconds with exit code 69, leave what
they had not done pending and alert; a run during the outage costs one probe; the run after it finishes the job.

The sandboxes serve from threads and the plugins' entry points run in this process (fast); the outage is the
sandboxes' generic `outage_seconds` switch, started after `outage_after` requests so it begins mid-run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ponte.testing import SandboxProcess, api_targets
from ponte.testing.in_process import SandboxThread, run_tap_in_process
from ponte.testing.sinks import HttpSink

KEY = "pex_sandbox_key"
ORDER = ["units", "areas", "courses", "subjects"]
DATA: dict[str, list[dict[str, Any]]] = {
    "units": [{"code": "U1", "name": "Campus Centro"}, {"code": "U2", "name": "Campus Norte"}],
    "areas": [{"code": "TECH", "name": "Tecnologia", "unit_code": "U1"}],
    "courses": [{"code": "CC001", "name": "Computação", "area_code": "TECH", "unit_code": "U1",
                 "responsible_email": "coord.cc@faculdade.edu.br"}],
    "subjects": [{"code": f"S{i}", "name": f"Disciplina {i}", "course_code": "CC001"} for i in range(3)],
}  # fmt: skip
STATE = {"type": "STATE", "value": {"bookmarks": {"subjects": {"replication_key_value": "2026-07-01"}}}}


@pytest.fixture(scope="module")
def proextend() -> Iterator[SandboxProcess]:
    with SandboxThread.start("proextend", "--set", "rate_limit=0") as running:
        yield running


def run_target(sb: SandboxProcess, tmp_path: Path, hook: HttpSink) -> tuple[Any, float]:
    config = api_targets.write_config(
        tmp_path, instituicao="demo", api_key=KEY, base_url=sb.base_url, state_dir=str(tmp_path / "state"),
        alert_webhook_url=hook.url,
    )  # fmt: skip
    messages = [{"type": "RECORD", "stream": s, "record": row} for s in ORDER for row in DATA[s]] + [STATE]
    source = api_targets.write_messages(tmp_path / "input.jsonl", messages)
    began = time.monotonic()
    result = api_targets.run_api_target_in_process("target-proextend", config, source)
    return result, time.monotonic() - began


def stored(sb: SandboxProcess, entity: str) -> list[str]:
    response = sb.session.get(f"{sb.url}/_sandbox/proextend/{entity}", timeout=10)
    response.raise_for_status()
    return sorted(row["code"] for row in response.json()["records"])


def test_a_target_stops_at_the_declared_failures_and_the_run_after_the_outage_sends_the_rest_once(
    proextend: SandboxProcess, tmp_path: Path
) -> None:
    sb = proextend
    sb.admin("proextend/reset")
    sb.reset_log()
    # the credentials check, units and areas get through; then the API answers 503 to everything for a minute
    sb.configure(outage_seconds=60, outage_after=3)
    with HttpSink() as hook:
        result, _ = run_target(sb, tmp_path, hook)
        [alert] = hook.wait_for(1)

    assert result.returncode == 69, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert f"circuit open for {sb.base_url} after 5 consecutive failed request(s) (last: HTTP 503)" in last
    assert "run again after" in last and "Traceback" not in result.stderr
    # five failures, then nothing: not every batch's retries (how quickly it ends is bench material, not a test)
    assert [e["status"] for e in sb.request_log()] == [200, 200, 200, 503, 503, 503, 503, 503]
    assert result.stdout == ""  # no STATE: the courses and subjects were not sent
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == []  # pending, not dead letters
    assert stored(sb, "units") == ["U1", "U2"] and stored(sb, "courses") == []
    assert alert.json is not None and f"circuit open for {sb.base_url}" in json.dumps(alert.json)
    assert KEY not in json.dumps(alert.json) and KEY not in result.stderr

    sb.reset_log()  # a run during the outage: one probe, not another round of failures
    with HttpSink() as hook:
        again, _ = run_target(sb, tmp_path, hook)
        hook.wait_for(1)
    assert again.returncode == 69 and "after 5 consecutive failed request(s)" in again.stderr
    assert [(e["method"], e["status"]) for e in sb.request_log()] == [("GET", 503)]

    sb.configure(outage_seconds=0)  # the API is back
    sb.reset_log()
    with HttpSink() as hook:
        done, _ = run_target(sb, tmp_path, hook)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line) for line in done.stdout.splitlines()] == [STATE["value"]]
    posts = [e["path"].rsplit("/", 2)[-2] for e in sb.request_log() if e["method"] == "POST"]
    assert posts == ORDER  # each entity once (units and areas again: the API upserts on code)
    for entity in ORDER:
        assert stored(sb, entity) == sorted(row["code"] for row in DATA[entity])
    assert not list((tmp_path / "state" / "circuits").glob("*.json"))  # closed and forgotten
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == [] and not hook.requests


def test_a_tap_in_an_outage_stops_after_the_last_good_page_with_exit_69(tmp_path: Path) -> None:
    with SandboxThread.start("totvs", "--orders", "1500") as totvs:
        config = {"flavour": "protheus", "base_url": f"{totvs.url}/rest", "username": "admin",
                  "password": "totvs-sandbox", "auth_method": "basic", "backoff_base_seconds": 0.05,
                  "state_dir": str(tmp_path)}  # fmt: skip
        totvs.configure(outage_seconds=60, outage_after=1)  # page 1 of 3, then the AppServer is gone
        result = run_tap_in_process("tap-totvs", config, streams={"ordens_producao"})
        statuses = [e["status"] for e in totvs.request_log() if "genericQuery" in e["path"]]

    assert result.returncode == 69, result.stderr[-3000:]
    assert "tap-totvs: circuit open for" in result.stderr and "after 5 consecutive failed request(s)" in result.stderr
    assert statuses == [200, 503, 503, 503, 503, 503]
    assert len(result.records("ordens_producao")) == 500  # the first page, nothing made up after it
    assert result.of_type("STATE") == []  # a full-table stream cut short: no STATE claims it was read
    assert list((tmp_path / "circuits").glob("*.json"))


def test_the_outage_switch_is_set_from_the_command_line_and_ended_through_the_admin_api() -> None:
    with SandboxThread.start("sienge", "--outage-seconds", "30", "--rate-limit", "0") as sienge:
        auth = ("demo-api", "demo-secret")
        down = sienge.session.get(f"{sienge.base_url}/customers", auth=auth, timeout=10)
        stats = sienge.stats()
        assert down.status_code == 503 and stats["outage"] == 1 and 0 < stats["outage_left_seconds"] <= 30
        ended = sienge.session.post(f"{sienge.url}/_sandbox/config", json={"outage_seconds": 0}, timeout=10)
        assert ended.json()["outage_seconds"] == 0
        assert sienge.session.get(f"{sienge.base_url}/customers", auth=auth, timeout=10).status_code == 200
