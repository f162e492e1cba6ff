"""Run a tap's console script in a child process and read its Singer messages back."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponte.core.console_scripts import console_script


def select_only(catalog: dict[str, Any], streams: set[str] | list[str]) -> dict[str, Any]:
    """A copy of a discovered catalog with only `streams` selected (Meltano's `select` does the same)."""
    wanted = set(streams)
    result = json.loads(json.dumps(catalog))
    for entry in result["streams"]:
        for item in entry.get("metadata", []):
            if item.get("breadcrumb") == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return result


def discover(executable: str, config: dict[str, Any]) -> dict[str, Any]:
    """The catalog `executable --discover` prints for `config`."""
    with tempfile.TemporaryDirectory(prefix="ponte-discover-") as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config))
        out = subprocess.run(
            [console_script(executable), "--config", str(path), "--discover"], capture_output=True, check=True
        )
    return json.loads(out.stdout)


@dataclass
class SingerRun:
    """What one tap process did: exit code, stderr, and its messages grouped for assertions."""

    returncode: int
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        """The RECORD payloads of one stream, in order."""
        return [m["record"] for m in self.messages if m.get("type") == "RECORD" and m.get("stream") == stream]

    def counts(self) -> dict[str, int]:
        """Records per stream."""
        found: dict[str, int] = defaultdict(int)
        for message in self.messages:
            if message.get("type") == "RECORD":
                found[message["stream"]] += 1
        return dict(found)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """All messages of a type (SCHEMA, STATE, ACTIVATE_VERSION)."""
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def last_state(self) -> dict[str, Any] | None:
        """The last STATE value emitted (what Meltano would store)."""
        states = self.of_type("STATE")
        return states[-1]["value"] if states else None


def run_tap(
    executable: str,
    config: dict[str, Any],
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    streams: set[str] | None = None,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> SingerRun:
    """Run `executable --config … [--state …] [--catalog …]` and parse its stdout as Singer messages.

    `streams` selects only those streams (in a catalog discovered first), as Meltano's `select` would.
    """
    if streams is not None:
        catalog = select_only(catalog or discover(executable, config), streams)
    with tempfile.TemporaryDirectory(prefix="ponte-tap-") as folder:
        command = [console_script(executable)]
        for name, value in (("config", config), ("state", state), ("catalog", catalog)):
            if value is not None:
                path = Path(folder) / f"{name}.json"
                path.write_text(json.dumps(value))
                command += [f"--{name}", str(path)]
        command += list(args)
        process = subprocess.run(
            command, capture_output=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False
        )
    messages = [json.loads(line) for line in process.stdout.splitlines() if line.strip().startswith(b"{")]
    return SingerRun(process.returncode, process.stderr.decode(errors="replace"), messages)


class BackgroundTap:
    """A tap running in the background, its stdout read line by line, so a test can act mid-run."""

    def __init__(self, executable: str, config: dict[str, Any], streams: set[str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ponte-tap-"))
        self.config_path = self.folder / "config.json"
        self.config_path.write_text(json.dumps(config))
        catalog = subprocess.run(
            [console_script(executable), "--config", str(self.config_path), "--discover"],
            capture_output=True,
            check=True,
        )
        self.catalog_path = self.folder / "catalog.json"
        self.catalog_path.write_text(json.dumps(select_only(json.loads(catalog.stdout), streams)))
        self.stderr_path = self.folder / "stderr.log"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [console_script(executable), "--config", str(self.config_path), "--catalog", str(self.catalog_path)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.messages: list[dict[str, Any]] = []

    def __enter__(self) -> BackgroundTap:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr.close()

    def wait_for_records(self, count: int) -> None:
        """Block until the tap has emitted `count` records (reading its output as it comes)."""
        assert self.process.stdout is not None
        seen = 0
        while seen < count:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"tap ended after {seen} records: {self.stderr_path.read_text()[-2000:]}")
            message = json.loads(line)
            self.messages.append(message)
            seen += message.get("type") == "RECORD"

    def finish(self) -> SingerRun:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self.messages.append(json.loads(line))
        self.process.wait(timeout=300)
        self._stderr.flush()
        return SingerRun(self.process.returncode, self.stderr_path.read_text(errors="replace"), self.messages)
