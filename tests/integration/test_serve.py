"""`ponte serve` in-process on a tiny Meltano project whose job is one shell command through the real `ponte run`:
a 2-second schedule fires and its run is listed with trigger `schedule`; after the service was down for 30 s
(an injected clock) the missed firings are caught up exactly once; pause/resume, the bearer token, the stored log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from serve_harness import ADMIN_DSN, ServiceThread, drop_schemas, schema_name, service_env, tick_project, wait_for

from ponte.sandbox.bling.webhooks import envelope, sign
from ponte.service.runs import utc_now

pytestmark = pytest.mark.meltano
TOKEN = "test-token-5c1d0e8b"


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = schema_name("serve")
    yield name
    drop_schemas(name)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tick_project(tmp_path_factory.mktemp("tick"), {"tick-2s": "* * * * * */2", "nightly": "0 2 * * *"})


@pytest.fixture(scope="module")
def quiet_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the nightly schedule: a service the test does not want running `ponte run` every 2 s (each run a
    Meltano start-up, seconds of CPU) while it checks the API."""
    return tick_project(tmp_path_factory.mktemp("quiet"), {"nightly": "0 2 * * *"})


def test_a_two_second_schedule_fires_then_a_missed_window_is_caught_up_exactly_once(project: Path, schema: str) -> None:
    env = service_env(schema)
    with ServiceThread(project, env) as service:
        first = wait_for(lambda: service.runs(trigger="schedule"), 60, "a scheduled run")[0]
        assert first["pipeline"] == "tick-0"
        done = service.finished(first["run_id"])
        assert done["status"] == "succeeded", done
        assert [p["exit_code"] for p in done["plugins"]] == [0]
        log = service.get(f"/api/runs/{first['run_id']}/log").text
        assert "tick-line-1" in log and "tick-line-2" in log
        stopped_at = utc_now()
    # Down for 30 s: the next instance's clock says so; the 15 missed firings become one catch-up run.
    with ServiceThread(project, env, clock=lambda: utc_now() + timedelta(seconds=30)) as service:
        caught_up = wait_for(lambda: service.runs(trigger="catch-up"), 60, "the catch-up run")
        assert service.finished(caught_up[0]["run_id"])["status"] == "succeeded"
        after = wait_for(
            lambda: [r for r in service.runs(trigger="schedule") if r["started_at"] > caught_up[0]["started_at"]],
            60, "a scheduled run after the catch-up",
        )  # fmt: skip
        service.finished(after[0]["run_id"])
        assert len(service.runs(trigger="catch-up", since=stopped_at.isoformat())) == 1
        schedules = {s["name"]: s for s in service.get("/api/schedules").json()["schedules"]}
    assert schedules["tick-2s"]["last_trigger"] in ("schedule", "catch-up")
    assert schedules["nightly"]["next_fire_at"].endswith("T02:00:00-03:00")  # America/Sao_Paulo by default
    with psycopg.connect(ADMIN_DSN) as conn:
        missed = conn.execute(f'SELECT failing FROM "{schema}".alert_streaks WHERE subject = %s', ("schedule tick-2s",))
        assert missed.fetchone() == (False,)  # the missed-window streak opened and closed


def test_the_api_needs_the_token_and_schedules_pause_and_resume(quiet_project: Path, schema: str) -> None:
    with ServiceThread(quiet_project, service_env(schema, PONTE_SERVE_TOKEN=TOKEN)) as service:
        assert service.get("/healthz").json()["database"] == {"ok": True}
        assert service.get("/api/runs").status_code == 401
        assert service.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        service.http.headers["Authorization"] = f"Bearer {TOKEN}"
        paused = service.post("/api/schedules/nightly/pause").json()
        assert paused["paused"] is True and paused["next_fire_at"] is None
        resumed = service.post("/api/schedules/nightly/resume").json()
        assert resumed["paused"] is False and resumed["next_fire_at"] is not None
        assert service.post("/api/schedules/nope/pause").status_code == 404
        unknown = service.post("/api/runs", json={"job": "no-such-job"})
        assert unknown.status_code == 400 and "no-such-job" in unknown.json()["error"]
        assert service.get("/api/runs/00000000-0000-4000-8000-000000000000").status_code == 404


def test_the_service_takes_signed_bling_webhooks_on_its_own_port_and_refuses_forged_ones(
    quiet_project: Path, schema: str
) -> None:
    secret = "bling-app-secret-7f3a"
    env = service_env(schema, PONTE_SERVE_TOKEN=TOKEN, TAP_BLING_CLIENT_SECRET=secret)
    event = envelope("product.updated", "c0ffee", {"id": 16000000001}, eid="evt-serve-1")
    body = json.dumps(event).encode()
    with ServiceThread(quiet_project, env) as service:
        assert service.get("/healthz").json()["webhooks"] is True
        headers = {"Content-Type": "application/json"}
        forged = service.post(
            "/webhooks/bling", data=body, headers={**headers, "X-Bling-Signature-256": sign(body, "x")}
        )
        assert forged.status_code == 401
        signed = {**headers, "X-Bling-Signature-256": sign(body, secret)}
        assert service.post("/webhooks/bling", data=body, headers=signed).status_code == 200
        assert service.post("/webhooks/bling", data=body, headers=signed).status_code == 200  # Bling's redelivery
    with psycopg.connect(ADMIN_DSN) as conn:
        rows = conn.execute(f'SELECT event_id, event FROM "{schema}".webhook_events').fetchall()
    assert rows == [("evt-serve-1", "product.updated")]  # stored once, the forged one not at all
