"""`ponte follow keyence`: keep PostgreSQL seconds behind the gateway's files, through the usual tap and target.

    tap-keyence (follow: true) ──stdout→stdin── target-postgres (flush_interval_seconds: 1) ──STATE→ this process

* The tap never exits: it polls the folder every `poll_interval_seconds` and sends a STATE after each batch and
  at least every second. The target commits its open batch when a STATE arrives and `flush_interval_seconds`
  have passed since its last commit, and only then echoes the STATE. So a line is in PostgreSQL about
  poll interval + flush interval (about 1 to 2 s) after its newline is written.
* Each STATE the target echoes is saved at once in `<log_schema>.follow_state` (one row per pipeline), next to
  the data: it only ever covers committed rows. On start (and after a crash) the tap resumes from it. Rows
  committed after the last saved STATE are read again and upserted onto themselves (the key is the file's
  fingerprint and the byte offset), so a restart neither loses nor doubles a line. Dropping the tables and
  the state row reloads everything still in the folder.
* Every `heartbeat_seconds` (a minute) it logs one line even while the gateway is idle: lines committed since
  the last heartbeat and in all, when the last STATE was saved, restarts — so a quiet log still says "alive".
* SIGTERM / SIGINT (Ctrl-C): the tap finishes its batch and sends a last STATE, the target commits it and ends,
  its STATE is saved, exit 0. A tap or target that dies on its own is restarted from the saved state after
  5 s (`--restart-seconds`; doubling up to a minute); a configuration error (exit code 2) stops instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ponte.core.errors import ConfigError
from ponte.linefiles.declaration import LineFormat
from ponte.targets.postgres.settings import LoaderSettings

logger = logging.getLogger("ponte.follow")
STOP_GRACE_SECONDS = 20.0
FIRST_RESTART_DELAY = 5.0
MAX_RESTART_DELAY = 60.0
HEALTHY_RUN_SECONDS = 60.0
HEARTBEAT_SECONDS = 60.0


@dataclass
class FollowSettings:
    """Everything a follow pipeline needs: the tap's and target's configs and how to run them."""

    pipeline: str
    tap_config: dict[str, Any]
    target_config: dict[str, Any]
    tap_executable: str = "tap-keyence"
    target_executable: str = "target-postgres"
    flush_seconds: float = 1.0
    poll_seconds: float | None = None
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    restart_seconds: float = FIRST_RESTART_DELAY

    @property
    def loader(self) -> LoaderSettings:
        """The target's settings as the loader reads them (connection, schema, log schema)."""
        return LoaderSettings.from_config(self.target_config)


class StateStore:
    """The last STATE the target echoed, per pipeline, in `<log_schema>.follow_state`."""

    def __init__(self, conninfo: str, log_schema: str, pipeline: str) -> None:
        self.conninfo, self.pipeline = conninfo, pipeline
        self.table = sql.SQL("{}.follow_state").format(sql.Identifier(log_schema))
        self.log_schema = log_schema
        self._conn: psycopg.Connection | None = None

    def _connect(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True)
        return self._conn

    def ensure(self) -> None:
        """Create the table (idempotent)."""
        conn = self._connect()
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.log_schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (pipeline text PRIMARY KEY, state jsonb NOT NULL, "
                "updated_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.table)
        )
        conn.execute(
            sql.SQL("COMMENT ON TABLE {} IS {}").format(
                self.table,
                sql.Literal("Singer STATE of each `ponte follow` pipeline, saved after the target committed it."),
            )
        )

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None for a first start."""
        row = (
            self._connect()
            .execute(sql.SQL("SELECT state FROM {} WHERE pipeline = %s").format(self.table), (self.pipeline,))
            .fetchone()
        )
        return row[0] if row else None

    def save(self, state: dict[str, Any]) -> None:
        """Upsert the state; a failure is logged (the next STATE retries) rather than stopping the pipeline."""
        try:
            self._connect().execute(
                sql.SQL(
                    "INSERT INTO {} (pipeline, state) VALUES (%s, %s) ON CONFLICT (pipeline) "
                    "DO UPDATE SET state = excluded.state, updated_at = now()"
                ).format(self.table),
                (self.pipeline, Jsonb(state)),
            )
        except psycopg.Error as exc:
            logger.warning("could not save the state (%s); it will be saved with the next one", exc)
            self.close()

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class FollowPipeline:
    """Runs and supervises the tap → target pair until `stop()`."""

    def __init__(self, settings: FollowSettings, fmt: LineFormat) -> None:
        self.settings, self.fmt = settings, fmt
        loader = settings.loader
        self.store = StateStore(loader.conninfo, loader.log_schema, settings.pipeline)
        self.stopping = threading.Event()
        self.tap: subprocess.Popen[bytes] | None = None
        self.target: subprocess.Popen[bytes] | None = None
        self.states_saved = 0
        self.restarts = 0
        self.last_state: dict[str, Any] | None = None
        self.last_saved_at: float | None = None

    # -- control -------------------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the pipeline cleanly (a second one kills the tap)."""

        def handle(signum: int, _frame: Any) -> None:
            if self.stopping.is_set():
                self._signal_tap(signal.SIGKILL)
                return
            logger.info("signal %d: stopping (the tap finishes its batch, the target commits it)", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def stop(self) -> None:
        """Ask the tap to finish; `run` returns once the target has committed and echoed the last STATE."""
        if not self.stopping.is_set():
            watchdog = threading.Timer(STOP_GRACE_SECONDS * 2, self._kill_stragglers)
            watchdog.daemon = True
            watchdog.start()
        self.stopping.set()
        self._signal_tap(signal.SIGTERM)

    def _kill_stragglers(self) -> None:
        for name, process in (("tap", self.tap), ("target-postgres", self.target)):
            if process is not None and process.poll() is None:
                logger.warning(
                    "%s still running %.0fs after the stop request: killing it", name, STOP_GRACE_SECONDS * 2
                )
                process.kill()

    def _signal_tap(self, signum: int) -> None:
        tap = self.tap
        if tap is not None and tap.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                tap.send_signal(signum)

    # -- run -----------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; restart after failures. Returns the exit code for `ponte follow`."""
        self.store.ensure()
        with contextlib.suppress(psycopg.Error):  # the heartbeats count new lines from the saved state on
            self.last_state = self.store.load()
        delay = self.settings.restart_seconds
        heartbeat = threading.Thread(target=self._heartbeats, name="follow-heartbeat", daemon=True)
        heartbeat.start()
        try:
            while not self.stopping.is_set():
                began = time.monotonic()
                try:
                    tap_code, target_code = self._run_once()
                except psycopg.OperationalError as exc:  # the database is away: its state cannot be read yet
                    self.store.close()
                    logger.error("cannot read the saved state (%s); retrying in %gs", str(exc).strip(), delay)
                    if self.stopping.wait(delay):
                        return 0
                    delay = min(delay * 2, max(MAX_RESTART_DELAY, self.settings.restart_seconds))
                    continue
                if self.stopping.is_set():
                    if target_code != 0:
                        logger.error("target-postgres ended with exit code %s while stopping", target_code)
                        return 1
                    return 0
                if 2 in (tap_code, target_code):
                    logger.error(
                        "configuration error (tap exit %s, target exit %s): not restarting", tap_code, target_code
                    )
                    return 2
                if time.monotonic() - began > HEALTHY_RUN_SECONDS:
                    delay = self.settings.restart_seconds
                self.restarts += 1
                logger.error(
                    "pipeline stopped unexpectedly (tap exit %s, target exit %s); restarting from the saved state in "
                    "%gs",
                    tap_code,
                    target_code,
                    delay,
                )
                if self.stopping.wait(delay):
                    return 0
                delay = min(delay * 2, max(MAX_RESTART_DELAY, self.settings.restart_seconds))
            return 0
        finally:
            self.stopping.set()  # ends the heartbeats
            self.store.close()

    def _heartbeats(self) -> None:
        """One line every `heartbeat_seconds` until stopped, whether lines arrive or not."""
        began = time.monotonic()
        previous, _ = committed_lines(self.last_state, self.fmt.lines_stream)
        while not self.stopping.wait(self.settings.heartbeat_seconds):
            lines, files = committed_lines(self.last_state, self.fmt.lines_stream)
            saved = (
                f"last state saved {time.monotonic() - self.last_saved_at:.0f}s ago"
                if self.last_saved_at is not None
                else "no state saved yet"
            )
            logger.info(
                "heartbeat: %s alive for %s; %d new line(s) committed in the last %.0fs; the state covers %d line(s) "
                "of %d file(s); %s; %d restart(s)",
                self.settings.pipeline,
                _span(time.monotonic() - began),
                max(0, lines - previous),
                self.settings.heartbeat_seconds,
                lines,
                files,
                saved,
                self.restarts,
            )
            previous = lines

    def _run_once(self) -> tuple[int | None, int | None]:
        """Start the pair from the saved state, pump the target's STATE lines, return both exit codes."""
        state = self.store.load()
        with tempfile.TemporaryDirectory(prefix="ponte-follow-") as folder:
            tap_args = self._config_files(Path(folder), state)
            env = {**os.environ, **self.settings.env}
            # Own sessions: Ctrl-C in a terminal reaches this process only, which then stops the pair in order.
            self.tap = subprocess.Popen(
                tap_args[0], stdout=subprocess.PIPE, cwd=self.settings.cwd, env=env, start_new_session=True
            )
            try:
                self.target = subprocess.Popen(
                    tap_args[1],
                    stdin=self.tap.stdout,
                    stdout=subprocess.PIPE,
                    cwd=self.settings.cwd,
                    env={**env, "MELTANO_EXTRACT__LOAD_SCHEMA": self.settings.loader.default_schema},
                    start_new_session=True,
                )
            finally:
                assert self.tap.stdout is not None
                self.tap.stdout.close()  # the target holds the only read end: the tap sees EPIPE if it dies
            if self.stopping.is_set():  # a signal arrived while starting
                self._signal_tap(signal.SIGTERM)
            logger.info(
                "following %s → %s (pipeline %s, %s)",
                self.settings.tap_executable,
                self.settings.target_executable,
                self.settings.pipeline,
                "resuming from the saved state" if state else "no saved state: reading every file from the start",
            )
            assert self.target.stdout is not None
            self._pump(self.target.stdout)
            target_code = self._wait(self.target, "target-postgres")
            tap_code = self._wait(self.tap, "tap")
        return tap_code, target_code

    def _config_files(self, folder: Path, state: dict[str, Any] | None) -> tuple[list[str], list[str]]:
        tap_config = {**self.settings.tap_config, "follow": True}
        if self.settings.poll_seconds is not None:
            tap_config["poll_interval_seconds"] = self.settings.poll_seconds
        target_config = {
            **self.settings.target_config,
            "flush_interval_seconds": self.settings.flush_seconds,
            "default_target_schema": self.settings.loader.default_schema,
            "pipeline_name": f"follow:{self.settings.pipeline}",
        }
        files = {"tap.json": tap_config, "target.json": target_config}
        if state is not None:
            files["state.json"] = state
        for name, value in files.items():
            path = folder / name
            path.touch(mode=0o600)  # configs may hold the database password
            path.write_text(json.dumps(value), encoding="utf-8")
        tap = [self.settings.tap_executable, "--config", str(folder / "tap.json")]
        if state is not None:
            tap += ["--state", str(folder / "state.json")]
        return tap, [self.settings.target_executable, "--config", str(folder / "target.json")]

    def _pump(self, output: IO[bytes]) -> None:
        """Save every STATE line the target prints (it prints nothing else on stdout)."""
        for line in output:
            text = line.strip()
            if not text:
                continue
            try:
                state = json.loads(text)
            except json.JSONDecodeError:
                logger.warning("target-postgres printed a line that is not a STATE: %r", text[:200])
                continue
            if isinstance(state, dict) and state.get("type") == "STATE" and "value" in state:
                state = state["value"]
            self.store.save(state)
            self.states_saved += 1
            self.last_state, self.last_saved_at = state, time.monotonic()

    def _wait(self, process: subprocess.Popen[bytes], name: str) -> int | None:
        """Exit code of a process of the pair; one still running after the grace period is killed."""
        try:
            return process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs: killing it", name, STOP_GRACE_SECONDS)
            process.kill()
            return process.wait()


def committed_lines(state: dict[str, Any] | None, stream: str) -> tuple[int, int]:
    """(lines, files) of the gateway's files the state covers: read, committed, then echoed by the target."""
    files = (((state or {}).get("bookmarks") or {}).get(stream) or {}).get("files") or {}
    entries = [entry for entry in files.values() if isinstance(entry, dict)]
    return sum(int(entry.get("line") or 0) for entry in entries), len(entries)


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def check_folder(tap_config: dict[str, Any], cwd: Path | None) -> None:
    """Fail early (exit 2) when the tap's folder setting is missing, rather than in a restart loop."""
    folder = tap_config.get("folder")
    if not folder:
        raise ConfigError("ponte follow: the tap has no `folder` setting (TAP_KEYENCE_FOLDER or --tap-config)")
    path = Path(folder).expanduser()
    if not path.is_absolute() and cwd is not None:
        path = cwd / path
    if not path.is_dir():
        raise ConfigError(f"ponte follow: folder {path} does not exist (the tap's `folder` setting)")
