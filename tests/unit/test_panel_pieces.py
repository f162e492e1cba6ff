"""The panel's small rules: login attempts per user and address, pt-BR formatting, the secret key's length."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ponte.core.errors import ConfigError
from ponte.service.panel.formatting import duration, number, when
from ponte.service.panel.rate_limit import LoginAttempts
from ponte.service.settings import ServeSettings


def test_login_attempts_lock_a_user_and_address_pair_for_the_rest_of_the_window() -> None:
    now = [0.0]
    attempts = LoginAttempts(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert attempts.wait_seconds("ana", "10.0.0.1") == 0
        attempts.failed("Ana", "10.0.0.1")
    assert attempts.wait_seconds("ana", "10.0.0.1") == 60
    assert attempts.wait_seconds("ana", "10.0.0.2") == 0  # another address still may
    assert attempts.wait_seconds("bia", "10.0.0.1") == 0  # another user too
    now[0] = 61
    assert attempts.wait_seconds("ana", "10.0.0.1") == 0


def test_a_success_clears_the_failures() -> None:
    attempts = LoginAttempts(limit=2, window=60)
    attempts.failed("ana", "ip")
    attempts.succeeded("ana", "ip")
    attempts.failed("ana", "ip")
    assert attempts.wait_seconds("ana", "ip") == 0


def test_times_numbers_and_durations_are_written_the_brazilian_way() -> None:
    assert when(datetime(2026, 12, 2, 11, 5, tzinfo=UTC)) == "02/12/2026 08:05"
    assert when(None) == "—"
    assert number(1234567) == "1.234.567" and number(1234.5) == "1.234,50"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert duration(start, datetime(2026, 1, 1, 0, 1, 5, tzinfo=UTC)) == "1 min 5 s"


def test_a_short_secret_key_is_refused_and_none_leaves_the_panel_off(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PONTE_SECRET_KEY is 5 characters long"):
        ServeSettings.read(tmp_path, {"PONTE_SECRET_KEY": "curta"})
    assert not ServeSettings.read(tmp_path, {}).secret_key_set
    assert ServeSettings.read(tmp_path, {"PONTE_SECRET_KEY": "x" * 32}).secret_key_set
