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
