"""Browser tests of the control panel: one headless Chromium (the Debian package) per session, driven with
Playwright; each module starts its own browser and service. The service helpers are those of the integration tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))  # serve_harness, shared with the serve tests

from ponte.testing.meltano_run import install_when_needed

PROJECT = Path(__file__).parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="session")
def meltano_installed() -> None:
    """`meltano install` when needed, one worker at a time (as tests/integration/conftest.py does)."""
    install_when_needed(PROJECT)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an event loop running on the main thread while it is open,
    which would break `asyncio.run` in the other modules a worker runs after this one."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
