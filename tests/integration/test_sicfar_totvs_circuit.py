"""The SicFar write-back in a TOTVS outage (issue #18): target-totvs stops at the circuit breaker's declared failures
with exit code 69, alerts, dead-letters nothing and writes no STATE past the lots it did not post; a run during
the outage costs one probe; the run after it posts the rest, each lot exactly once.

In-process and cheap: the TOTVS sandbox serves from a thread, the closed lots are the view's stream mapped by
transforms/sicfar-to-totvs.yml (sicfar_lots.py), and the outage is switched on and off through the sandbox's
config API (`outage_seconds`, starting after `outage_after` requests, so it begins mid-run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sicfar_lots import mapped_input, produced, reopen_orders, totals, view_messages

from ponte.testing import api_targets
from ponte.testing.in_process import SandboxThread
from ponte.testing.sinks import HttpSink

LOTS = 6
SECRET = "plant-secret"


@pytest.fixture
def totvs() -> Iterator[SandboxThread]:
    with SandboxThread.start("totvs", "--orders", "30") as running:
        yield running


def run_target(sb: SandboxThread, source: Path, folder: Path, hook: HttpSink) -> Any:
    config = api_targets.write_config(
        folder, flavour="plant", base_url=f"{sb.url}/plant/api", client_id="plant-client", client_secret=SECRET,
        state_dir=str(folder / "state"), alert_webhook_url=hook.url,
    )  # fmt: skip
    return api_targets.run_api_target_in_process("target-totvs", config, source)


def test_an_outage_opens_the_circuit_mid_run_and_the_run_after_it_posts_each_remaining_lot_once(
    totvs: SandboxThread, tmp_path: Path
) -> None:
    sb, app = totvs, totvs.app
    orders = reopen_orders(app, LOTS)
    source = mapped_input("transforms/sicfar-to-totvs.yml", view_messages(orders), tmp_path / "mapped")
    appointments = app.flavours["plant"].writes.appointments
    # token, connection check, two lots (look-up + POST each), the third's look-up; then its POST meets the outage
    sb.configure(outage_seconds=60, outage_after=7)
    sb.reset_log()
    with HttpSink() as hook:
        result = run_target(sb, source, tmp_path, hook)
        [alert] = hook.wait_for(1)

    assert result.returncode == 69, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert f"circuit open for {sb.url}/plant/api after 5 consecutive failed request(s) (last: HTTP 503)" in last
    assert "Traceback" not in result.stderr
    failed = [(e["method"], e["status"]) for e in sb.request_log() if e["status"] != 200 and e["status"] != 201]
    # the POST whose answer never came, then looks-ups (never a blind re-POST) until the 5th failure: no more
    assert failed == [("POST", 503)] + [("GET", 503)] * 4
    assert result.stdout == ""  # no STATE: the lots not posted are read again by the next run
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == []  # pending, not dead letters
    assert [a["lote"] for a in appointments] == [o["lote"] for o in orders[:2]]
    assert alert.json is not None and f"circuit open for {sb.url}/plant/api" in alert.json["summary"]
    assert SECRET not in json.dumps(alert.json) and SECRET not in result.stderr

    sb.reset_log()  # a run while TOTVS is still down: one probe, no second round of failures
    with HttpSink() as hook:
        during = run_target(sb, source, tmp_path, hook)
        hook.wait_for(1)
    assert during.returncode == 69 and during.stdout == "", during.stderr[-3000:]
    assert "circuit open for" in during.stderr.strip().splitlines()[-1]
    assert [(e["path"], e["status"]) for e in sb.request_log()] == [("/plant/api/auth/token", 503)]  # the probe

    sb.configure(outage_seconds=0)  # TOTVS is back
    sb.reset_log()
    with HttpSink() as hook:
        done = run_target(sb, source, tmp_path, hook)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line) for line in done.stdout.splitlines()] == [view_messages(orders)[-1]["value"]]
    assert sorted(a["lote"] for a in appointments) == sorted(o["lote"] for o in orders)  # one per lot
    posted = [e["path"] for e in sb.request_log() if e["method"] == "POST" and "apontamentos" in e["path"]]
    assert len(posted) == LOTS - 2  # the two posted before the outage were found, not posted again
    assert {n: produced(app)[n] for n in totals(orders)} == totals(orders)  # C2_QUJE = the KEYENCE totals
    assert api_targets.read_jsonl(tmp_path / "dl.jsonl") == [] and not hook.requests
    assert not list((tmp_path / "state" / "circuits").glob("*.json"))  # closed and forgotten


def test_an_outage_that_starts_at_the_token_call_opens_the_circuit_too_not_a_credentials_error(
    totvs: SandboxThread, tmp_path: Path
) -> None:
    sb = totvs
    source = mapped_input("transforms/sicfar-to-totvs.yml", view_messages(reopen_orders(sb.app, 2)), tmp_path / "m")
    sb.configure(outage_seconds=60, outage_after=0)
    sb.reset_log()
    with HttpSink() as hook:
        result = run_target(sb, source, tmp_path, hook)
        [alert] = hook.wait_for(1)

    assert result.returncode == 69, result.stderr[-3000:]  # not 3: the credentials are fine, TOTVS is down
    assert f"circuit open for {sb.url}/plant/api after 5 consecutive failed request(s)" in result.stderr
    assert [(e["path"], e["status"]) for e in sb.request_log()] == [("/plant/api/auth/token", 503)] * 5
    assert "circuit open for" in alert.json["summary"] and SECRET not in result.stderr
    assert result.stdout == "" and api_targets.read_jsonl(tmp_path / "dl.jsonl") == []
