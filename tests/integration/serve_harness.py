"""`ponte serve` for the tests: the real app on uvicorn in a thread (port 0), a tiny Meltano project whose job is
one fast shell command, and a fake `ponte run` that only logs when each run starts and ends."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import requests

from ponte.service.app import Service
from ponte.service.runs import utc_now
from ponte.service.server import server
from ponte.service.settings import ServeSettings

# What the Docker image, compose.yaml and the systemd unit start (tests/integration/test_deploy_files.py checks).
SERVE_COMMAND = ("ponte", "serve", "--project")
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")

TICK_PROJECT = """\
version: 1
default_environment: dev
project_id: 00000000-0000-4000-8000-0000000000aa
send_anonymous_usage_stats: false
environments:
  - name: dev
plugins:
  utilities:
    - name: tick
      namespace: tick
      executable: /bin/sh
      commands:
        brief:
          args: -c "echo tick-line-1; echo tick-line-2"
jobs:
{jobs}
schedules:
{schedules}
"""

FAKE_RUN = """\
import os, sys, time
job = next(a for a in sys.argv[1:] if not a.startswith("-"))
def log(event):
    fd = os.open(os.environ["FAKE_RUN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{event} {job} {time.time():.6f} {os.getppid()}\\n".encode())
    os.close(fd)
log("start")
print("fake run of", job, flush=True)
time.sleep(float(os.environ.get("FAKE_RUN_SECONDS", "1.5")))
log("end")
"""


def tick_project(folder: Path, schedules: Mapping[str, str], jobs: int = 1) -> Path:
    """A Meltano project with jobs `tick-0`… (each runs `tick:brief`) and `schedules` name → cron interval of
    job tick-0, or of the job named after a `@` in the name (`every@tick-3`)."""
    folder.mkdir(parents=True, exist_ok=True)
    job_lines = "".join(f"  - name: tick-{n}\n    tasks: [tick:brief]\n" for n in range(jobs))
    schedule_lines = "".join(
        f'  - name: {name}\n    interval: "{interval}"\n    job: {name.split("@")[1] if "@" in name else "tick-0"}\n'
        for name, interval in schedules.items()
    )
    (folder / "meltano.yml").write_text(TICK_PROJECT.format(jobs=job_lines, schedules=schedule_lines or "  []"))
    (folder / "fake_run.py").write_text(FAKE_RUN)
    return folder


def schema_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def service_env(schema: str, **extra: str) -> dict[str, str]:
    """The process environment without the developer's PONTE_* and alert settings, on the test's schemas."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PONTE_", "MELTANO_"))}
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}_meltano"')
    uri = f"postgresql+psycopg://postgres@127.0.0.1:5432/postgres?options=-csearch_path%3D{schema}_meltano"
    return {**env, "PONTE_DB_DSN": ADMIN_DSN, "PONTE_DB_SCHEMA": schema, "PONTE_SERVE_BIND": "127.0.0.1:0",
            "MELTANO_DATABASE_URI": uri, "PONTE_SERVE_DRAIN_SECONDS": "30", **extra}  # fmt: skip


def drop_schemas(schema: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        for name in (schema, f"{schema}_meltano", f"{schema}_data", f"{schema}_data_log"):
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


class ServiceThread:
    """The service of `project` with `env`, listening on a free port; `clock` replaces the wall clock."""

    def __init__(self, project: Path, env: Mapping[str, str], clock: Callable[[], datetime] = utc_now) -> None:
        self.service = Service(ServeSettings.read(project, env), clock=clock)
        asyncio.run(self.service.prepare())
        self.url = ""
        self.server = server(self.service, self._listening)
        self.thread = threading.Thread(target=self.server.run, name="ponte-serve", daemon=True)
        self.http = requests.Session()

    def _listening(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        wait_for(lambda: self.url, 20, "the service to listen")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self.url + path, timeout=10, **kwargs)

    def runs(self, **params: str) -> list[dict[str, Any]]:
        response = self.get("/api/runs", params=params)
        response.raise_for_status()
        return response.json()["runs"]

    def finished(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run = self.get(f"/api/runs/{run_id}").json()
            return run if run.get("status") not in ("starting", "running") else None

        return wait_for(done, timeout, f"run {run_id} to finish")


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
