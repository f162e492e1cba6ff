"""Sandboxes in a thread and taps called in this process, for fast behaviour tests.

Starting a sandbox process and a tap process costs a second or more of imports each; a suite of a few hundred
tap runs spends most of its time there. `SandboxThread` serves the same app (built from the same command-line
arguments as `ponte sandbox <api>`) from a thread, and `run_tap_in_process` calls the console script's entry
point with `sys.argv`, stdout, stderr, the environment, the working directory and the logging set-up swapped
in and restored afterwards. Both keep the interfaces of `SandboxProcess` and `run_tap`, so a test switches by
import; one subprocess smoke test per plugin keeps the real executables covered.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import requests

from ponte.sandbox.process import API_PREFIXES, SandboxProcess
from ponte.testing.singer_process import SingerRun, select_only


@dataclass
class RequestHold:
    """See `SandboxThread.holding_requests`: `arrived` is set by the first request held; `release()` lets
    every held request (and every later one) through."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


class SandboxThread(SandboxProcess):
    """`SandboxThread.start("sienge", "--records", "1000")`: the app `ponte sandbox sienge --records 1000`
    builds, served from a thread on a free port, with `SandboxProcess`'s admin helpers (over HTTP)."""

    def __init__(self, api: str, running: Any) -> None:
        self.api = api
        self.running = running
        self.app = running.app
        self.port = running.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + API_PREFIXES.get(api, "")
        self.session = requests.Session()

    @classmethod
    def start(  # type: ignore[override]
        cls, api: str, *args: str, port: int = 0, log_file: Path | None = None, timeout: float = 20.0
    ) -> SandboxThread:
        """Parse `args` with the sandbox's own command and serve the app it builds; `timeout` is unused."""
        from ponte.sandbox.cli import sandbox  # the command parses and validates the switches as users give them
        from ponte.sandbox.http_layer import run_in_thread

        started: list[Any] = []

        def serve(app: Any, host: str, bind_port: int, *_: Any, **__: Any) -> None:
            started.append(run_in_thread(app, host, bind_port))

        sandbox.main([api, "--port", str(port), *args], prog_name="ponte sandbox", standalone_mode=False, obj=serve)
        if not started:
            raise RuntimeError(f"sandbox {api} {' '.join(args)} did not start")
        return cls(api, started[0])

    @contextlib.contextmanager
    def holding_requests(self, timeout: float = 60.0) -> Iterator[RequestHold]:
        """Hold every API request inside the sandbox, before it is answered, until `release()` (or `timeout`,
        or the block's end): a client stays mid-run for exactly as long as a test needs, without sleeps."""
        hold = RequestHold()
        faults = self.app.faults
        delay = faults.latency

        def held() -> None:
            hold.arrived.set()
            hold.released.wait(timeout)
            delay()

        faults.latency = held  # the gateway's per-request hook, where `latency_ms` sleeps
        try:
            yield hold
        finally:
            hold.release()
            del faults.latency

    def stop(self) -> None:
        """Stop serving and close the connections; idempotent."""
        self.session.close()
        self.running.stop()


def entry_point(executable: str) -> Callable[[], Any]:
    """The function behind a console script (`tap-sienge` → `ponte.cli.taps:tap_sienge`)."""
    found = entry_points(group="console_scripts", name=executable)
    if not found:
        raise LookupError(f"no console script named {executable!r} is installed")
    return next(iter(found)).load()


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """Put back every logger's level, handlers, propagation and disabled flag (plugins configure logging)."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    saved = {id(lg): (lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers}
    disable = logging.root.manager.disable
    logging.root.handlers[:] = []  # pytest's capture handler would turn a plugin's basicConfig into a no-op
    try:
        yield
    finally:
        for lg in list(manager.loggerDict.values()):
            if isinstance(lg, logging.Logger) and id(lg) not in saved:
                lg.handlers[:] = []
                lg.setLevel(logging.NOTSET)
                lg.propagate = True
                lg.disabled = False
        for lg, level, handlers, propagate, disabled in saved.values():
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
            lg.disabled = disabled
        logging.disable(disable)


@contextlib.contextmanager
def _environment(env: dict[str, str] | None) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def call_console_script(
    executable: str,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    stdin: bytes = b"",
    cwd: str | os.PathLike[str] | None = None,
) -> tuple[int, bytes, str]:
    """Run `executable args…` in this process: (exit code, stdout bytes, stderr text).

    Everything process-wide the plugin touches is swapped in and restored: argv, stdin/stdout/stderr (text
    wrappers over bytes buffers, as singer-sdk's msgspec writer writes to `sys.stdout.buffer`), environment,
    working directory, logging and the SIGTERM/SIGINT handlers.
    """
    main = entry_point(executable)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="replace", write_through=True)
    inp = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    previous_cwd = os.getcwd()
    saved = sys.argv, sys.stdin, sys.stdout, sys.stderr
    code = 0
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    with _environment(env), _logging_restored():
        sys.argv, sys.stdin, sys.stdout, sys.stderr = [executable, *args], inp, out, err
        try:
            if cwd is not None:
                os.chdir(cwd)
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                err.write(exc.code + "\n")
        except Exception as exc:  # an uncaught error is a traceback and exit code 1, as in a process
            import traceback

            traceback.print_exception(exc, file=err)
            code = 1
        finally:
            with contextlib.suppress(ValueError):
                out.flush()
                err.flush()
            sys.argv, sys.stdin, sys.stdout, sys.stderr = saved
            os.chdir(previous_cwd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    stdout = out.buffer.getvalue()  # type: ignore[attr-defined]
    stderr = err.buffer.getvalue().decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    return code, stdout, stderr


def discover_in_process(executable: str, config: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """The catalog `executable --discover` prints for `config`, called in this process."""
    with tempfile.TemporaryDirectory(prefix="ponte-discover-") as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config))
        code, stdout, stderr = call_console_script(executable, ["--config", str(path), "--discover"], env=env)
    if code != 0:
        raise RuntimeError(f"{executable} --discover exited with {code}: {stderr[-2000:]}")
    return json.loads(stdout)


def run_tap_in_process(
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
    """`run_tap` without a child process: same arguments (`timeout` unused), same `SingerRun`."""
    if streams is not None:
        catalog = select_only(catalog or discover_in_process(executable, config, env), streams)
    with tempfile.TemporaryDirectory(prefix="ponte-tap-") as folder:
        command: list[str] = []
        for name, value in (("config", config), ("state", state), ("catalog", catalog)):
            if value is not None:
                path = Path(folder) / f"{name}.json"
                path.write_text(json.dumps(value))
                command += [f"--{name}", str(path)]
        code, stdout, stderr = call_console_script(executable, [*command, *args], env=env)
    messages = [json.loads(line) for line in stdout.splitlines() if line.strip().startswith(b"{")]
    return SingerRun(code, stderr, messages)


def run_console_script(
    executable: str,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    input: bytes | str = b"",
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`executable args…` in-process, like `subprocess.run(..., capture_output=True, text=True)`."""
    stdin = input.encode() if isinstance(input, str) else input
    code, stdout, stderr = call_console_script(executable, args, env=env, stdin=stdin, cwd=cwd)
    return subprocess.CompletedProcess([executable, *args], code, stdout.decode(errors="replace"), stderr)
