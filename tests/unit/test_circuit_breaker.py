"""The circuit breaker's state machine on an injected clock, its memory between runs, and how `ponte run`
records and alerts a run it stopped."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from ponte.core.errors import CircuitOpen, ConfigError
from ponte.declaration.models import CircuitBreakerSpec
from ponte.http.circuit_breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitFile, CircuitRegistry, api_key
from ponte.runlog import report
from ponte.runs.alerting import run_alert
from ponte.runs.meltano_log import MeltanoLog
from ponte.runs.outcome import decide
from ponte.runs.store import PipelineRun

SPEC = CircuitBreakerSpec(failures=3, within_seconds=10, open_seconds=60)
API = "http://erp.example/api"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def breaker(tmp_path: Path, clock: Clock, spec: CircuitBreakerSpec = SPEC) -> CircuitBreaker:
    return CircuitBreaker(API, spec, label="target-x", store=CircuitFile(tmp_path, API), clock=clock)


def test_consecutive_failures_within_the_window_open_it_and_a_success_starts_the_count_again(tmp_path: Path) -> None:
    clock = Clock()
    cb = breaker(tmp_path, clock)
    assert [cb.failed("HTTP 503"), cb.failed("HTTP 503")] == [False, False]
    cb.succeeded()  # any answer below 500 resets the count
    assert cb.failed("HTTP 503") is False
    clock.now += 5
    assert cb.failed("HTTP 502") is False
    clock.now += 6  # the first of these two left the 10 s window
    assert cb.failed("ReadTimeout") is False and cb.state == CLOSED
    assert cb.failed("HTTP 503") is True and cb.state == OPEN
    with pytest.raises(CircuitOpen) as refused:
        cb.before_send()  # no request goes out while open
    error = refused.value
    assert error.exit_code == 69 and error.api == API and error.failures == 3
    assert "target-x: circuit open for http://erp.example/api after 3 consecutive failed request(s)" in str(error)
    assert "(last: HTTP 503)" in str(error) and "Nothing was dead-lettered for it and no STATE covers" in str(error)
    assert "run again after 2027-01-15 08:01:11 UTC" in str(error)


def test_after_open_seconds_one_probe_goes_out_its_success_closes_and_its_failure_reopens(tmp_path: Path) -> None:
    clock = Clock()
    cb = breaker(tmp_path, clock)
    for _ in range(3):
        cb.failed("HTTP 503")
    clock.now += 59
    with pytest.raises(CircuitOpen):
        cb.before_send()
    clock.now += 1
    cb.before_send()  # the probe
    assert cb.state == HALF_OPEN
    assert cb.failed("HTTP 503") is True and cb.state == OPEN  # one failed probe reopens, no retries
    with pytest.raises(CircuitOpen, match="after 3 consecutive"):
        cb.before_send()
    clock.now += 60
    cb.before_send()
    cb.succeeded()
    assert cb.state == CLOSED
    cb.before_send()
    assert cb.failed("HTTP 503") is False  # closed again: the count starts from zero


def test_while_the_probe_is_out_the_other_senders_wait_for_its_verdict(tmp_path: Path) -> None:
    clock = Clock()
    cb = breaker(tmp_path, clock)
    for _ in range(3):
        cb.failed("HTTP 503")
    clock.now += 60
    cb.before_send()  # this thread holds the probe
    outcomes: list[str] = []
    waiting = threading.Thread(target=lambda: outcomes.append(_try(cb)))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive() and not outcomes  # held, not refused and not let through
    cb.failed("HTTP 503")
    waiting.join(5)
    assert outcomes == ["refused"]


def _try(cb: CircuitBreaker) -> str:
    try:
        cb.before_send()
    except CircuitOpen:
        return "refused"
    return "sent"


def test_an_open_circuit_is_remembered_so_the_next_run_starts_with_one_probe(tmp_path: Path) -> None:
    clock = Clock()
    first = breaker(tmp_path, clock)
    for _ in range(3):
        first.failed("HTTP 503")
    [saved] = list((tmp_path / "circuits").glob("*.json"))
    assert saved.name.startswith("erp.example_api-") and oct(saved.stat().st_mode & 0o777) == "0o600"

    clock.now += 5  # a new run, well inside open_seconds: it does not wait, it probes once
    second = breaker(tmp_path, clock)
    assert second.state == HALF_OPEN
    second.before_send()
    assert second.failed("ConnectionError") is True
    with pytest.raises(CircuitOpen, match=r"after 3 consecutive failed request\(s\) \(last: ConnectionError\)"):
        second.before_send()

    third = breaker(tmp_path, clock)
    third.before_send()
    third.succeeded()
    assert not saved.exists() and breaker(tmp_path, clock).state == CLOSED


def test_an_error_before_the_probe_was_sent_frees_the_probe_slot(tmp_path: Path) -> None:
    clock = Clock()
    cb = breaker(tmp_path, clock)
    for _ in range(3):
        cb.failed("HTTP 503")
    clock.now += 60
    cb.before_send()
    cb.abandon()  # e.g. the daily quota was spent before the request left
    cb.before_send()  # a new probe, not a wait forever
    assert cb.state == HALF_OPEN


def test_one_breaker_per_api_and_the_api_is_named_without_credentials_or_query(tmp_path: Path) -> None:
    registry = CircuitRegistry()
    one = registry.breaker("https://user:pw@erp.example:8443/api/?x=1", SPEC, label="tap-x", state_dir=tmp_path)
    two = registry.breaker("https://erp.example:8443/api", SPEC, label="tap-x", state_dir=tmp_path)
    assert one is two and one.api == "https://erp.example:8443/api"
    assert api_key("http://host/base/") == "http://host/base"
    assert CircuitRegistry().breaker("https://erp.example:8443/api", SPEC, label="t", state_dir=tmp_path) is not one


def test_the_block_is_parsed_with_targets_on_and_taps_off_when_absent() -> None:
    assert CircuitBreakerSpec.from_mapping(None, on_when_absent=True) == CircuitBreakerSpec()
    assert CircuitBreakerSpec.from_mapping(None).enabled is False
    spec = CircuitBreakerSpec.from_mapping({"failures": "4", "within_seconds": "30", "enabled": "true"})
    assert spec == CircuitBreakerSpec(True, 4, 30.0, 120.0)
    assert CircuitBreakerSpec.from_mapping({"enabled": "false"}, on_when_absent=True).enabled is False
    with pytest.raises(ConfigError, match="circuit_breaker needs failures >= 1"):
        CircuitBreakerSpec.from_mapping({"failures": 0})


# -- ponte run -----------------------------------------------------------------------------------------------
MESSAGE = ("target-proextend: circuit open for http://127.0.0.1:8768/demo after 5 consecutive failed request(s) "
           "(last: HTTP 503); stopped sending.")  # fmt: skip


def test_ponte_run_records_a_circuit_stop_as_failed_with_its_line_exit_69_and_a_clear_alert() -> None:
    log = MeltanoLog()
    log.feed('{"event": "Block run completed", "level": "error", "success": false, "exit_codes": {"loaders": 69}}\n')
    facts: list[dict[str, Any]] = [{"event": report.CIRCUIT_OPEN, "plugin": "target-proextend", "message": MESSAGE}]
    outcome = decide(1, log, facts)
    assert (outcome.status, outcome.exit_code, outcome.failed_plugin, outcome.error) == (
        "failed", 69, "target-proextend", MESSAGE,
    )  # fmt: skip
    run = PipelineRun.begin(uuid.uuid4(), "totvs-to-proextend", "schedule")
    run.status, run.failed_plugin, run.error, run.exit_code = "failed", "target-proextend", MESSAGE, 69
    alert = run_alert(run, "ponte.pipeline_runs", "ponte run totvs-to-proextend")
    assert alert.title == "run stopped: target-proextend found its API unavailable (circuit open)"
    assert MESSAGE in alert.summary and alert.severity == "error"
    assert any("nothing was lost" in action for action in alert.actions or [])
