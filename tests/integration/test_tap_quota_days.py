"""A daily quota smaller than a stream: the taps stop cleanly when it is spent, whoever counts it.

The taps run as users run them (console script) against the sandboxes.
"""

from __future__ import annotations

from pathlib import Path

from ponte.testing import SandboxProcess, run_tap

SIENGE = {"subdomain": "demo", "username": "demo-api", "password": "demo-secret", "backoff_base_seconds": 0.05}


def test_the_servers_spent_daily_quota_ends_the_run_at_once_instead_of_waiting_for_midnight(tmp_path: Path) -> None:
    # Sienge's plan quota counted by the server (Kong): its last allowed answer says RateLimit-Remaining 0 with
    # RateLimit-Reset = seconds to midnight, because the day is the budget closest to running out
    with SandboxProcess.start("sienge", "--daily-quota", "2") as sandbox:
        config = {**SIENGE, "base_url": sandbox.base_url, "state_dir": str(tmp_path / "state")}
        run = run_tap("tap-sienge", config, streams={"customers"}, timeout=60)
        statuses = [e["status"] for e in sandbox.request_log()]
    assert run.returncode == 0, run.stderr
    assert (
        "daily request quota is spent (HTTP 429 with X-RateLimit-Remaining-Day: 0, limit 2 requests per day)"
        in run.stderr
    )
    assert statuses == [200, 200, 429]
    assert len(run.records("customers")) == 400
