"""Proactive throttling: with the server's real limit scaled down, the tap never trips it yet uses it fully."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ponte.testing import SandboxProcess, run_tap

# how much of a wall-clock budget is used cannot be judged while other tests load the CPU
pytestmark = pytest.mark.alone


def test_throttled_to_the_budget_with_no_429_and_at_least_90_percent_use(sienge_config: dict[str, Any]) -> None:
    # 20 requests per 1.5 s window: Sienge's 200/min scaled down (windows start at the first request, as Kong's)
    limit, window = 20, 1.5
    with SandboxProcess.start(
        "sienge", "--records", "12000", "--rate-limit", str(limit), "--rate-window", str(window)
    ) as sandbox:
        config = {
            **sienge_config,
            "base_url": sandbox.base_url,
            "requests_per_window": limit,
            "rate_window_seconds": window,
        }
        run = run_tap("tap-sienge", config, streams={"customers"})
        stats = sandbox.stats()
        times = [dt.datetime.fromisoformat(entry["timestamp"]) for entry in sandbox.request_log()]
    assert run.returncode == 0, run.stderr
    assert len(run.records("customers")) == 12000
    assert stats["rate_limited"] == 0
    assert len(times) == 60
    # Budget use = requests sent / requests allowed, measured up to the start of the last window's batch:
    # the first 40 requests may not start the third batch before 2 windows, and should not start it much later.
    elapsed = (times[2 * limit] - times[0]).total_seconds()
    use = (2 * window) / elapsed
    assert use >= 0.9, f"the third batch of {limit} started after {elapsed:.2f}s: {use:.0%} of the budget used"
