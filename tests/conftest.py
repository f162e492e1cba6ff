"""Shared fixtures: sandboxes served from a thread on free ports, tap configs pointing at them."""

from __future__ import annotations

import os
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

    xdist's `load` scheduling gives each worker a run of consecutive tests first (a quarter of its share): with the
    Meltano tests sorted first they all went to the first worker and ran one after another at the end of the suite
    (a CI run's last minutes at load 1.4 on 2 cores). So the head of the order is dealt round-robin: each worker's
    first run holds its share of the Meltano tests, longest first.
    """

    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("meltano")
        return 2 if marker is None else (0 if marker.kwargs.get("first") else 1)

    items.sort(key=rank)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers > 1:
        chunk = max(len(items) // workers // 4, 2)  # xdist LoadScheduling's first run per worker
        head = items[: chunk * workers]
        items[: len(head)] = [head[i] for first in range(workers) for i in range(first, len(head), workers)]
