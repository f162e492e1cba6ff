"""Shared fixtures: sandboxes served from a thread on free ports, tap configs pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ponte.testing import SandboxProcess
from ponte.testing.in_process import SandboxThread

SIENGE_CREDENTIALS = {"subdomain": "demo", "username": "demo-api", "password": "demo-secret"}


@pytest.fixture
def sienge_sandbox() -> Iterator[SandboxProcess]:
    """A fresh Sienge sandbox (default data: 500 customers) in a thread, stopped after the test."""
    with SandboxThread.start("sienge") as sandbox:
        yield sandbox


@pytest.fixture
def sienge_config(sienge_sandbox: SandboxProcess, tmp_path: Path) -> dict[str, Any]:
    """tap-sienge config for the sandbox; the quota counter lives in the test's own folder."""
    return {**SIENGE_CREDENTIALS, "base_url": sienge_sandbox.base_url, "state_dir": str(tmp_path / "ponte-state")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Hand the slowest tests (those that run the real meltano CLI) to the xdist workers first.

    Started last, a five-minute Meltano test is the whole suite's tail while the other worker sits idle;
    started first, the short tests fill in around it (longest-first scheduling). `meltano(first=True)` marks
    the few that take minutes, which go before the other Meltano tests. The order is otherwise kept.
    """

    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("meltano")
        return 2 if marker is None else (0 if marker.kwargs.get("first") else 1)

    items.sort(key=rank)
