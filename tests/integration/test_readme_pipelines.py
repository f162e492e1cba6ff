"""The README's "Every pipeline on the sandboxes" block, run line by line in a fresh copy of the repository: each
documented pipeline lands data.

The block is read from README.md, so the README and this test cannot drift apart: a new line there without a
check here fails. What this test cannot follow literally, and why:

* `.venv` is a link to this checkout's (installed by `make install`, which `make test` runs first): building a
  virtualenv per test run would take minutes. `make demo` then finds it up to date, as it would for a user who
  ran `make install` before; Meltano's plugins are installed for real in the copy (`meltano install`).
* Sandboxes listen on free ports rather than their defaults (8765-8769), which other runs on a shared machine may
  hold; the test exports the base URLs that point the `dev` environment at them (a user's variables win over
  the environment's sandbox defaults), and the Bling sandbox's registered redirect URL likewise.
* The loader's database is one of the test's own (`TARGET_POSTGRES_DATABASE`, `PONTE_DEMO_DB`), dropped after.
* No person opens the consent URL: `BROWSER` names a script that fetches it, which the sandbox approves at once.
* `ponte follow` runs until the rows are in, then gets the Ctrl-C the README asks for (SIGINT).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

pytestmark = pytest.mark.meltano  # minutes long: tests/xdist_order.py starts it first on its worker

ROOT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SECTION = "## Every pipeline on the sandboxes"
STEP_TIMEOUT = 600


def readme_steps() -> list[str]:
    """The lines of the section's bash block, comments removed, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text[text.index(SECTION) :], re.DOTALL)
    assert block, f"README.md: no bash block under {SECTION!r}"
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_copy(target: Path) -> None:
    """The repository's files (tracked and new, not ignored: no .env, .meltano, .ponte), `.venv` linked."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)  # times kept: make sees the same freshness
    (target / ".venv").symlink_to(ROOT / ".venv")


@dataclass
class Machine:
    """The copy, its environment, the sandboxes started in the background and the databases to check."""

    home: Path
    database: str
    env: dict[str, str]
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    def dsn(self, database: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(ADMIN_DSN, dbname=database or self.database)

    def count(self, table: str, database: str | None = None) -> int:
        try:
            with psycopg.connect(self.dsn(database)) as conn:
                return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except (psycopg.errors.UndefinedTable, psycopg.OperationalError):
            return 0

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["bash", "-c", command], cwd=self.home, env=self.env, capture_output=True, text=True,
                              timeout=STEP_TIMEOUT, check=False)  # fmt: skip
        assert done.returncode == 0, (
            f"`{command}` exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
        return done

    def sandbox(self, command: str) -> None:
        """`ponte sandbox NAME ... &` on a free port; exports what points the dev environment at it."""
        args = shlex.split(command)
        name = args[args.index("sandbox") + 1]
        port, port_file = free_port(), self.home / f".sandbox-{name}.port"
        extra = ["--port", str(port), "--port-file", str(port_file)]
        url = f"http://127.0.0.1:{port}"
        if name == "bling":
            callback = f"http://127.0.0.1:{free_port()}/callback"
            extra += ["--redirect-uri", callback]
            self.env.update(TAP_BLING_BASE_URL=f"{url}/Api/v3", TAP_BLING_AUTHORIZE_URL=f"{url}/Api/v3/oauth/authorize",
                            TAP_BLING_REDIRECT_URI=callback)  # fmt: skip
        elif name == "sienge":
            self.env["TAP_SIENGE_BASE_URL"] = f"{url}/demo/public/api/v1"
        elif name == "totvs":
            self.env.update(TAP_TOTVS_BASE_URL=url, TAP_TOTVS__PROTHEUS_BASE_URL=f"{url}/rest",
                            TAP_TOTVS__PLANT_BASE_URL=f"{url}/plant/api")  # fmt: skip
        elif name == "proextend":
            self.env["TARGET_PROEXTEND_BASE_URL"] = f"{url}/demo/api/integration/v1"
        elif name == "retailportal":
            self.env["TARGET_RETAILPORTAL_BASE_URL"] = f"{url}/erp-data"
        else:
            pytest.fail(f"README starts sandbox {name!r} in the background; teach this test its base URL")
        log = (self.home / f".sandbox-{name}.log").open("ab")
        process = subprocess.Popen([*args, *extra], cwd=self.home, env=self.env, stdout=log, stderr=log)
        self.background.append(process)
        self.urls[name] = url
        wait_for(port_file.exists, 30, f"sandbox {name} listening", lambda: process.poll() is None)

    def follow(self, command: str) -> None:
        """`ponte follow ...` until the rows are in, then Ctrl-C (SIGINT), which commits and exits 0."""
        log_path = self.home / ".follow.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(shlex.split(command), cwd=self.home, env=self.env, stdout=log, stderr=log)
        try:
            wait_for(lambda: self.count("keyence.leituras") > 0, 120, "keyence rows",
                     lambda: process.poll() is None, log_path)  # fmt: skip
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()

    def stop(self) -> None:
        for process in self.background:
            process.terminate()
        for process in self.background:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, alive: Callable[[], bool],
             log: Path | None = None) -> None:  # fmt: skip
    """Poll `condition` (every 0.1 s) until it holds; fail at the deadline or when the process died."""
    deadline = time.monotonic() + timeout
    while not condition():
        if not alive() or time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s" + (f"; log:\n{log.read_text()[-3000:]}" if log else ""))
        time.sleep(0.1)


def fetcher(folder: Path) -> Path:
    """A `BROWSER` that opens the consent URL the way a browser would (following the redirect to the callback)."""
    script = folder / "browser"
    script.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c "import requests, sys; requests.get(sys.argv[1], timeout=30)" "$1"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    stamp, pyproject = ROOT / ".venv" / ".installed", ROOT / "pyproject.toml"
    if not stamp.exists() or stamp.stat().st_mtime < pyproject.stat().st_mtime:
        pytest.fail("run `make install` first: this test reuses the checkout's .venv (make test runs it first)")
    home = tmp_path / "ponte"
    home.mkdir()
    fresh_copy(home)
    database = f"ponte_readme_{uuid.uuid4().hex[:8]}"
    info = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_", "PONTE_"))}
    env.update(
        TARGET_POSTGRES_HOST=str(info.get("host") or "127.0.0.1"),
        TARGET_POSTGRES_PORT=str(info.get("port") or "5432"),
        TARGET_POSTGRES_USER=str(info.get("user") or "postgres"),
        TARGET_POSTGRES_DATABASE=database,
        PONTE_DEMO_DB=f"{database}_demo",
        BROWSER=str(fetcher(tmp_path)),
    )
    if os.environ.get("PONTE_PG_DSN"):
        env["PONTE_PG_DSN"] = os.environ["PONTE_PG_DSN"]
    box = Machine(home, database, env)
    try:
        yield box
    finally:
        box.stop()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            for name in (database, f"{database}_demo"):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sandbox_records(url: str, path: str) -> int:
    body = requests.get(url + path, timeout=10).json()
    records = body.get("records", body.get("products", body)) if isinstance(body, dict) else body
    return len(records)


def test_every_pipeline_the_readme_documents_lands_data(machine: Machine) -> None:
    m = machine
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("make demo", lambda: m.count("sienge.customers", f"{m.database}_demo") > 0),
        ("ponte db create", lambda: m.count("pg_catalog.pg_class") > 0),
        ("ponte run tap-sienge target-postgres", lambda: m.count("sienge.customers") > 0),
        ("tap-bling:auth", lambda: (m.home / ".ponte" / "bling-sandbox-tokens.json").is_file()),
        ("ponte run tap-bling target-postgres", lambda: m.count("bling.produtos") > 0),
        ("ponte run tap-totvs--protheus target-postgres", lambda: m.count("totvs_protheus.produtos") > 0),
        ("totvs-rm-to-proextend", lambda: sandbox_records(m.urls["proextend"], "/_sandbox/proextend/students") > 0),
        ("bling-products-to-retailportal",
         lambda: sandbox_records(m.urls["retailportal"], "/_sandbox/retailportal/products") > 0),
        ("ponte sandbox keyence", lambda: any((m.home / ".ponte" / "keyence-gateway").glob("*.txt"))),
        ("ponte follow keyence-to-postgres", lambda: m.count("keyence.leituras") > 0),
    ]  # fmt: skip
    steps = readme_steps()
    assert steps[0] == "make demo"
    timings = []
    for step in steps:
        began = time.monotonic()
        if step.endswith("&"):
            m.sandbox(step.removesuffix("&").strip())
            continue
        if " follow " in f" {step} ":
            m.follow(step)
        else:
            m.run(step)
        check = next((c for needle, c in checks if needle in step), None)
        assert check is not None, f"README step `{step}` has no check in this test: add one"
        assert check(), f"`{step}` ran but landed nothing"
        timings.append((round(time.monotonic() - began, 1), step))
    print("\n".join(f"{seconds:6.1f} s  {step}" for seconds, step in timings))
