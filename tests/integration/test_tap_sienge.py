"""tap-sienge's behaviour: its entry point called in-process against the Sienge sandbox in a thread, over sockets
(one smoke test runs the console script in a child process against a sandbox process)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ponte.testing import SandboxProcess, run_tap
from ponte.testing.in_process import SandboxThread, run_tap_in_process
from ponte.testing.singer_process import SingerRun

FAST_RETRIES = {"backoff_base_seconds": 0.05}


def run_streams(config: dict[str, Any], streams: set[str], **kwargs: Any) -> SingerRun:
    return run_tap_in_process("tap-sienge", config, streams=streams, **kwargs)


def api_requests(sandbox: SandboxProcess, suffix: str) -> list[dict[str, Any]]:
    """Logged requests whose path ends with `suffix`, with single-valued query parameters."""
    found = []
    for entry in sandbox.request_log():
        if entry["path"].endswith(suffix):
            query = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in entry.get("query", {}).items()}
            found.append({**entry, "query": query})
    return found


def sandbox_now() -> str:
    """Sandbox clock = real now in São Paulo, so the tap's run-date bookmarks and the data agree."""
    return dt.datetime.now(ZoneInfo("America/Sao_Paulo")).replace(microsecond=0).isoformat()


def test_paging_reads_every_record_exactly_once(tmp_path: Path, sienge_config: dict[str, Any]) -> None:
    """The subprocess smoke test of tap-sienge: the console script against a sandbox process."""
    with SandboxProcess.start("sienge", "--records", "1030") as sandbox:
        config = {**sienge_config, "base_url": sandbox.base_url}
        run = run_tap("tap-sienge", config, streams={"customers"})
        assert run.returncode == 0, run.stderr
        ids = [r["id"] for r in run.records("customers")]
        assert len(ids) == 1030
        assert len(set(ids)) == 1030
        offsets = [int(r["query"]["offset"]) for r in api_requests(sandbox, "/customers")]
        assert offsets == [0, 200, 400, 600, 800, 1000]
        assert {r["query"]["limit"] for r in api_requests(sandbox, "/customers")} == {"200"}


def test_rows_inserted_at_the_head_while_paging_are_not_doubled(sienge_config: dict[str, Any]) -> None:
    with SandboxThread.start("sienge", "--records", "900") as sandbox:
        sandbox.configure(now=sandbox_now(), insert_customers_after_requests={"after": 2, "count": 7})
        config = {**sienge_config, "base_url": sandbox.base_url}
        first = run_streams(config, {"customers"})
        assert first.returncode == 0, first.stderr
        ids = [r["id"] for r in first.records("customers")]
        assert len(ids) == len(set(ids)), "a customer was emitted twice"
        assert set(range(1, 901)) <= set(ids), "an existing customer was missed"
        # the next incremental run picks up the customers inserted during the first one
        second = run_streams(config, {"customers"}, state=first.last_state)
        assert second.returncode == 0, second.stderr
        assert len(set(ids) | {r["id"] for r in second.records("customers")}) == 907


def test_incremental_second_run_asks_only_for_changes(
    sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]
) -> None:
    sienge_sandbox.configure(now=sandbox_now())
    first = run_streams(sienge_config, {"customers", "companies"})
    assert first.returncode == 0, first.stderr
    assert len(first.records("customers")) == 500
    today = dt.datetime.now(ZoneInfo("America/Sao_Paulo")).date().isoformat()
    assert first.last_state["bookmarks"]["customers"]["replication_key_value"] == today

    sienge_sandbox.admin("sienge/customers/touch", {"ids": [5, 77, 300], "modified_at": sandbox_now()})
    sienge_sandbox.reset_log()
    second = run_streams(sienge_config, {"customers"}, state=first.last_state)
    assert second.returncode == 0, second.stderr
    assert sorted(r["id"] for r in second.records("customers")) == [5, 77, 300]
    asked = api_requests(sienge_sandbox, "/customers")
    assert [r["query"]["modifiedAfter"] for r in asked] == [today]


def test_429_with_retry_after_is_waited_out(sienge_config: dict[str, Any]) -> None:
    # 5 pages of 200 and 3 requests per 4-second window (the window opens at the first request): the fourth
    # request falls inside the first window however loaded the machine is, so a 429 is certain
    with SandboxThread.start(
        "sienge", "--records", "1000", "--rate-limit", "3", "--rate-window", "4", "--no-rate-headers"
    ) as sandbox:
        # the tap's own budget is set far above the server's, so only the server's 429s slow it down
        config = {**sienge_config, "base_url": sandbox.base_url, "requests_per_window": 1000}
        run = run_streams(config, {"customers"})
        assert run.returncode == 0, run.stderr
        assert len(run.records("customers")) == 1000
        assert sandbox.stats()["rate_limited"] >= 1
        assert "status=429" in run.stderr
        assert "(server's Retry-After)" in run.stderr


def test_a_429_wait_from_ratelimit_reset_is_logged_as_such(sienge_config: dict[str, Any]) -> None:
    with SandboxThread.start(
        "sienge", "--records", "1000", "--rate-limit", "2", "--rate-window", "1", "--no-retry-after"
    ) as sandbox:
        # no client-side budget: the server's 429s (RateLimit-Reset, no Retry-After) are the only brake
        config = {**sienge_config, "base_url": sandbox.base_url, "requests_per_window": 0}
        run = run_streams(config, {"customers"})
        assert run.returncode == 0, run.stderr
        assert len(run.records("customers")) == 1000
        assert sandbox.stats()["rate_limited"] >= 1
    waits = [line for line in run.stderr.splitlines() if "status=429" in line]
    assert waits and all(line.endswith("(server's RateLimit-Reset)") for line in waits), waits


def test_a_burst_of_5xx_is_retried(sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]) -> None:
    sienge_sandbox.configure(fail_next=3, fail_status=503)
    run = run_streams({**sienge_config, **FAST_RETRIES}, {"customers"})
    assert run.returncode == 0, run.stderr
    assert len(run.records("customers")) == 500
    statuses = [r["status"] for r in api_requests(sienge_sandbox, "/customers")]
    assert statuses[:3] == [503, 503, 503]
    assert statuses[3:] == [200, 200, 200]


def test_dropped_connections_and_bad_json_are_retried(
    sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]
) -> None:
    sienge_sandbox.configure(drop_next=1, bad_json_next=1)
    run = run_streams({**sienge_config, **FAST_RETRIES}, {"customers"})
    assert run.returncode == 0, run.stderr
    assert len({r["id"] for r in run.records("customers")}) == 500


def test_401_ends_with_a_clear_message_and_no_traceback(
    sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]
) -> None:
    run = run_streams({**sienge_config, "password": "wrong-password"}, {"customers"})
    assert run.returncode == 3
    assert "stream 'customers': 401 Unauthorized from /demo/public/api/v1/customers" in run.stderr
    assert "TAP_SIENGE_USERNAME" in run.stderr
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1 and "401 Unauthorized" in errors[0], errors  # not the SDK's "unhandled error" line
    assert not run.records("customers")


def test_connection_test_makes_one_cheap_call(sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]) -> None:
    ok = run_tap_in_process("tap-sienge", sienge_config, args=("--test",))
    assert ok.returncode == 0, ok.stderr
    assert "connection OK" in ok.stderr
    assert [(r["path"], r["query"]) for r in api_requests(sienge_sandbox, "/companies")] == [
        ("/demo/public/api/v1/companies", {"limit": "1"})
    ]
    bad = run_tap_in_process("tap-sienge", {**sienge_config, "password": "nope"}, args=("--test",))
    assert bad.returncode == 3
    assert "connection test FAILED" in bad.stderr
    assert "401 Unauthorized" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_password_never_reaches_logs_or_state(tmp_path: Path) -> None:
    secret = "Zq9-very-Secret-Pa55"
    with SandboxThread.start("sienge", "--password", secret) as sandbox:
        config = {
            "subdomain": "demo",
            "username": "demo-api",
            "password": secret,
            "base_url": sandbox.base_url,
            "state_dir": str(tmp_path / "state"),
            "daily_quota": 1000,
            **FAST_RETRIES,
        }
        sandbox.configure(fail_next=1)
        good = run_streams(config, {"customers", "payment_categories"}, env={"TAP_SIENGE_LOG_LEVEL": "DEBUG"})
        bad = run_streams({**config, "password": secret + "x"}, {"customers"}, env={"TAP_SIENGE_LOG_LEVEL": "DEBUG"})
    assert good.returncode == 0, good.stderr
    assert bad.returncode == 3
    basic = base64.b64encode(f"demo-api:{secret}".encode()).decode()
    files = "".join(p.read_text() for p in (tmp_path / "state").rglob("*") if p.is_file())
    for text in (good.stderr, bad.stderr, json.dumps(good.messages), json.dumps(bad.messages), files):
        assert secret not in text
        assert basic not in text


def test_spent_daily_quota_stops_cleanly_and_the_next_run_resumes(
    sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]
) -> None:
    streams = {"companies", "customers", "payment_categories"}
    config = {**sienge_config, "daily_quota": 3}
    first = run_streams(config, streams)
    assert first.returncode == 0, first.stderr
    assert "daily" in first.stderr and "quota" in first.stderr
    assert "| ERROR" not in first.stderr  # a clean stop (exit 0), not a crash
    assert len(sienge_sandbox.request_log()) == 3
    state = first.last_state
    assert state is not None
    interrupted = [name for name, s in state["bookmarks"].items() if s.get("ponte_interrupted_run")]
    assert interrupted, state
    done_before = {name for name, s in state["bookmarks"].items() if "ponte_completed_at" in s}

    sienge_sandbox.reset_log()
    second = run_streams({**config, "daily_quota": 100}, streams, state=state)
    assert second.returncode == 0, second.stderr
    asked = {entry["path"].rsplit("/", 1)[-1] for entry in sienge_sandbox.request_log()}
    for name in done_before:
        assert name.replace("_", "-") not in asked, f"{name} finished before the quota ran out but was read again"
    # nothing is left pending (markers are nulled, not deleted: Meltano's merge of partial states keeps keys)
    assert not [name for name, s in second.last_state["bookmarks"].items() if s.get("ponte_interrupted_run")]
    assert not [name for name, s in second.last_state["bookmarks"].items() if s.get("ponte_resume")]


def test_full_table_streams_end_with_activate_version(
    sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]
) -> None:
    run = run_streams(sienge_config, {"companies", "customers"})
    assert run.returncode == 0, run.stderr
    kinds = [(m["type"], m.get("stream")) for m in run.messages if m["type"] in ("RECORD", "ACTIVATE_VERSION")]
    companies = [k for k in kinds if k[1] == "companies"]
    assert companies[-1] == ("ACTIVATE_VERSION", "companies")
    assert ("ACTIVATE_VERSION", "companies") not in companies[:-1]
    assert not [k for k in kinds if k == ("ACTIVATE_VERSION", "customers")]  # incremental: nothing to retire
    version = next(m["version"] for m in run.messages if m["type"] == "ACTIVATE_VERSION")
    assert {r.get("version") for r in run.messages if r["type"] == "RECORD" and r["stream"] == "companies"} == {version}


def test_child_stream_reads_the_resources_of_every_cost_database(
    sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]
) -> None:
    run = run_streams(sienge_config, {"cost_databases", "cost_database_resources"})
    assert run.returncode == 0, run.stderr
    databases = {r["id"] for r in run.records("cost_databases")}
    resources = run.records("cost_database_resources")
    assert databases and resources
    assert {r["costDatabaseId"] for r in resources} == databases
    asked = {r["path"] for r in api_requests(sienge_sandbox, "/resources")}
    assert asked == {f"/demo/public/api/v1/cost-databases/{d}/resources" for d in databases}


def test_a_malformed_declaration_stops_the_tap_with_a_line_numbered_error(
    tmp_path: Path, sienge_config: dict[str, Any]
) -> None:
    original = (Path(__file__).parents[2] / "taps" / "sienge.yml").read_text(encoding="utf-8")
    broken = original.replace("    path: /companies\n", "    path: /companies\n      oops: [unclosed\n", 1)
    assert broken != original
    (tmp_path / "sienge.yml").write_text(broken, encoding="utf-8")
    (tmp_path / "sienge").symlink_to(Path(__file__).parents[2] / "taps" / "sienge")
    run = run_tap_in_process("tap-sienge", sienge_config, env={"PONTE_TAPS_DIR": str(tmp_path)})
    assert run.returncode == 2
    line = broken.splitlines().index("      oops: [unclosed") + 1
    assert f"sienge.yml:{line}:" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert not run.messages
