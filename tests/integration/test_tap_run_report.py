"""What Ponte's plugins report to the `ponte run` that started them (PONTE_RUN_REPORT), run as real processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ponte.runlog.report import REPORT_ENV, STOPPED_QUOTA, read_report
from ponte.testing.in_process import run_tap_in_process


def test_a_tap_stopped_by_its_daily_quota_exits_0_and_tells_the_launcher(
    sienge_config: dict[str, Any], tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"
    config = {**sienge_config, "daily_quota": 1}
    run = run_tap_in_process("tap-sienge", config, streams={"companies", "customers"}, env={REPORT_ENV: str(report)})

    assert run.returncode == 0, run.stderr[-2000:]  # a clean stop: the exit code cannot tell the launcher
    (fact,) = read_report(report)
    assert fact["event"] == STOPPED_QUOTA and fact["plugin"] == "tap-sienge"
    assert "daily request quota spent (1 of 1 used today" in fact["message"]
