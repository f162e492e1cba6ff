"""A sandbox (`python -m ponte.sandbox <api>`) in a child process on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

API_PREFIXES = {
    "sienge": "/demo/public/api/v1",
    "bling": "/Api/v3",
    "totvs": "",
    "retailportal": "/erp-data",
    "proextend": "/demo/api/integration/v1",
}


class SandboxProcess:
    """Start with `SandboxProcess.start("sienge", "--records", "1000")`; stop with `.stop()` or `with`."""

    def __init__(self, api: str, process: subprocess.Popen[bytes], port: int) -> None:
        self.api = api
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + API_PREFIXES.get(api, "")
        self.session = requests.Session()

    @classmethod
    def start(
        cls, api: str, *args: str, port: int = 0, log_file: Path | None = None, timeout: float = 20.0
    ) -> SandboxProcess:
        """Launch the sandbox (port 0: any free one) and wait until it reports the port it bound.

        Its output goes to `log_file` (a file in a temporary folder by default), never to an undrained pipe.
        """
        folder = Path(tempfile.mkdtemp(prefix=f"ponte-sandbox-{api}-"))
        port_file = folder / "port"
        log_file = log_file or folder / "sandbox.log"
        command = [
            sys.executable,
            "-m",
            "ponte.sandbox",
            api,
            "--port",
            str(port),
            "--port-file",
            str(port_file),
            *args,
        ]
        with log_file.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=log, env=os.environ.copy())
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            if process.poll() is not None:
                error = log_file.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"sandbox {api} exited with {process.returncode}: {error}")
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"sandbox {api} did not report its port within {timeout}s; see {log_file}")
            time.sleep(0.02)
        return cls(api, process, int(port_file.read_text().strip()))

    # -- admin API ----------------------------------------------------------------------------------------
    def configure(self, **switches: Any) -> dict[str, Any]:
        """Change switches at run time (faults, rate limits, API options)."""
        response = self.session.post(f"{self.url}/_sandbox/config", json=switches, timeout=10)
        response.raise_for_status()
        return response.json()

    def admin(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        """POST to an API-specific admin endpoint under /_sandbox/."""
        response = self.session.post(f"{self.url}/_sandbox/{path.lstrip('/')}", json=payload or {}, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def request_log(self) -> list[dict[str, Any]]:
        """Every API request the sandbox received since start (or the last reset)."""
        response = self.session.get(f"{self.url}/_sandbox/requests", timeout=10)
        response.raise_for_status()
        body = response.json()
        return body["requests"] if isinstance(body, dict) else body

    def reset_log(self) -> None:
        """Forget the requests received so far."""
        self.session.post(f"{self.url}/_sandbox/reset-log", timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        """Counters: requests served, 429s, first/last request time."""
        response = self.session.get(f"{self.url}/_sandbox/stats", timeout=10)
        response.raise_for_status()
        return response.json()

    # -- lifecycle ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL)."""
        self.session.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
