"""Shared fixtures: sandboxes served from a thread on free ports, tap configs pointing at them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import xdist_order  # tests/xdist_order.py: this folder is on sys.path (conftest without __init__)
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


@pytest.hookimpl(trylast=True)  # after `-m` deselected: the slices are cut from the final list
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist, order the tests so that `--dist worksteal`'s first slices carry equal estimated time, slow
    tests first (tests/xdist_order.py): a minutes-long Meltano or browser test started last is the whole suite's
    tail while the other workers sit idle."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers > 1:
        items[:] = xdist_order.order(items, workers, xdist_order.load_durations())
