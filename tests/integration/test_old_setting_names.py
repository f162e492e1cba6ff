"""A user's old rate setting names keep their meaning for one release, and the tap says what to write instead."""

from __future__ import annotations

from typing import Any

from ponte.testing import SandboxProcess, run_tap


def test_old_rate_setting_names_still_throttle_the_tap_and_are_named_on_stderr(sienge_config: dict[str, Any]) -> None:
    # The sandbox refuses a 6th request within 1 s; the declared default (200 per 60 s) would trip it at once.
    with SandboxProcess.start("sienge", "--records", "1500", "--rate-limit", "5", "--rate-window", "1") as sandbox:
        config = {**sienge_config, "base_url": sandbox.base_url, "requests_per_window": 5, "rate_window_seconds": 1}
        run = run_tap("tap-sienge", config, streams={"customers"})
        stats = sandbox.stats()
    assert run.returncode == 0, run.stderr
    assert len(run.records("customers")) == 1500
    assert stats["rate_limited"] == 0
    assert "setting requests_per_window is deprecated" in run.stderr
    assert "use rate_limit_requests (TAP_SIENGE_RATE_LIMIT_REQUESTS)" in run.stderr
    assert "use rate_limit_seconds (TAP_SIENGE_RATE_LIMIT_SECONDS)" in run.stderr
