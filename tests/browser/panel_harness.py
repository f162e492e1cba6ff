"""What each panel test module needs: its own `ponte serve` on this project (a private schema and `.meltano` run
folder, an operator account), a browser context that keeps every HTML answer, and a logged-in tab."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serve_harness import ServiceThread, drop_schemas, service_env

from ponte.core.console_scripts import console_script
from ponte.testing.meltano_run import private_sys_dir

PROJECT = Path(__file__).parents[2]
# The screenshots in docs/panel.md come from the browser tests: `PONTE_PANEL_SCREENSHOTS=1 pytest tests/browser`
# rewrites them; a plain run writes them to a temporary folder, so `make test` never changes tracked files.
SHOTS = (
    PROJECT / "docs" / "panel"
    if os.environ.get("PONTE_PANEL_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="ponte-panel-shots-"))
)
USER, PASSWORD = "operadora", "senha-do-painel-9f3a"
SECRET_KEY = "chave-secreta-do-teste-7c1e5d2b9a"


@contextmanager
def panel_service(schema: str, tmp: Path, **extra: str) -> Iterator[ServiceThread]:
    """The service on `schema` with the operator account; its schemas are dropped afterwards."""
    env = service_env(schema, MELTANO_ENVIRONMENT="dev", MELTANO_RUN_STATE_ID_SUFFIX=schema,
                      PONTE_SECRET_KEY=SECRET_KEY, MELTANO_SYS_DIR_ROOT=str(private_sys_dir(PROJECT, tmp / "meltano-sys")),
                      **extra)  # fmt: skip
    try:
        added = subprocess.run([console_script("ponte"), "panel", "add-user", USER, "--password-stdin",
                                f"--project={PROJECT}"], input=PASSWORD + "\n", env=env, capture_output=True, text=True)  # fmt: skip
        assert added.returncode == 0, added.stderr
        # Playwright's sync API keeps an event loop running on this thread: prepare the service on another one.
        with ThreadPoolExecutor(1) as pool:
            prepared = pool.submit(ServiceThread, PROJECT, env).result()
        with prepared as service:
            yield service
    finally:
        drop_schemas(schema)


def new_context(browser: Any, service: ServiceThread, seen: list[str]) -> Any:
    """A browser context whose every HTML answer is appended to `seen` (for secret scans)."""
    context = browser.new_context(base_url=service.url, locale="pt-BR", viewport={"width": 1200, "height": 800})

    def keep(response: Any) -> None:
        if "text/html" in (response.headers.get("content-type") or ""):
            seen.append(response.text())

    context.on("response", keep)
    return context


def logged_in_tab(browser: Any, service: ServiceThread, seen: list[str]) -> Any:
    """A new tab of a new context, logged in as the operator."""
    tab = new_context(browser, service, seen).new_page()
    tab.goto("/login")
    tab.fill("#nome", USER)
    tab.fill("#senha", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(service.url + "/")
    return tab
