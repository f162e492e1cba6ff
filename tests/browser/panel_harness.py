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
def panel_service(schema: str, tmp: Path, project: Path = PROJECT, meltano: bool = True,
                  **extra: str) -> Iterator[ServiceThread]:  # fmt: skip
    """The service on `schema` for `project` with the operator account (`ponte panel add-user`, as a user makes
    it); `meltano`: the dev environment and a private `.meltano` run folder. Its schemas are dropped afterwards."""
    runs = {"MELTANO_ENVIRONMENT": "dev", "MELTANO_RUN_STATE_ID_SUFFIX": schema,
            "MELTANO_SYS_DIR_ROOT": str(private_sys_dir(PROJECT, tmp / "meltano-sys"))} if meltano else {}  # fmt: skip
    env = service_env(schema, PONTE_SECRET_KEY=SECRET_KEY, **{**runs, **extra})
    try:
        added = subprocess.run([console_script("ponte"), "panel", "add-user", USER, "--password-stdin",
                                f"--project={project}"], input=PASSWORD + "\n", env=env, capture_output=True, text=True)  # fmt: skip
        assert added.returncode == 0, added.stderr
        # Playwright's sync API keeps an event loop running on this thread: prepare the service on another one.
        with ThreadPoolExecutor(1) as pool:
            prepared = pool.submit(ServiceThread, project, env).result()
        with prepared as service:
            yield service
    finally:
        drop_schemas(schema)


def new_context(browser: Any, service: ServiceThread, seen: list[str] | None = None, **options: Any) -> Any:
    """A browser context on the service; every HTML answer is appended to `seen` (for secret scans)."""
    context = browser.new_context(**{"base_url": service.url, "locale": "pt-BR",
                                     "viewport": {"width": 1200, "height": 800}, **options})  # fmt: skip

    def keep(response: Any) -> None:
        if seen is not None and "text/html" in (response.headers.get("content-type") or ""):
            seen.append(response.text())

    context.on("response", keep)
    return context


def log_in(tab: Any, password: str = PASSWORD) -> None:
    """The login form filled as the operator would (with `password`) and sent."""
    tab.goto("/login")
    tab.fill("#nome", USER)
    tab.fill("#senha", password)
    tab.click("button[type=submit]")


def logged_in_tab(browser: Any, service: ServiceThread, seen: list[str] | None = None, **options: Any) -> Any:
    """A new tab of a new context, logged in as the operator."""
    tab = new_context(browser, service, seen, **options).new_page()
    log_in(tab)
    tab.wait_for_url(service.url + "/")
    return tab
