"""A PostgreSQL-dependent test skips on a laptop without PostgreSQL but fails under CI=true."""

from __future__ import annotations

import pytest

from ponte.testing.postgres import postgres_unavailable


def test_without_ci_the_test_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        postgres_unavailable("PostgreSQL not reachable at 'x'")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_under_ci_the_test_fails_saying_why(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="not reachable at 'x' \\(CI=true"):
        postgres_unavailable("PostgreSQL not reachable at 'x'")
