"""`ponte run`: start a pipeline through `meltano run` (same arguments, same environment) and record what
really happened.

Why a launcher: inside a pipeline each plugin only sees its own end. A target sees end of input whether the
tap finished or died, so its `sync_runs` rows say `succeeded` for a run whose tap failed; a target that
fails before its first stream leaves no row at all; Meltano logs the plugins' errors at `info`. The launcher
sees the whole run: Meltano's exit code and JSON log (which plugin exited how, and its error line) and the
facts Ponte's plugins report to it (ponte.runlog.report). It writes one pipeline-run row under one run id,
which every plugin also uses, prints the failing plugin's error as an ERROR line, alerts, and exits non-zero
when the run failed. While Meltano runs, the launcher holds the lock of every extractor the run uses
(ponte.runs.extractor_locks): a second run of one of them waits (recorded as running, the wait in its log).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from ponte.core.console_scripts import console_script
from ponte.core.errors import ConfigError
from ponte.core.meltano_project import MeltanoProject
from ponte.http.redaction import Redactor
from ponte.notify import Alerter
from ponte.runlog import report
from ponte.runs import direct
from ponte.runs.alerting import run_alert
from ponte.runs.console import Console
from ponte.runs.extractor_locks import ExtractorBusy, Holder, LockWaitStopped, extractor_locks, locks_folder
from ponte.runs.meltano_log import MELTANO, MeltanoLog
from ponte.runs.outcome import COUNTS, Outcome, decide
from ponte.runs.settings import LaunchSettings, project_env
from ponte.runs.store import PipelineRun, RunStore

# `meltano run` options that take a value (everything else starting with `-` is a flag).
VALUE_OPTIONS = frozenset({"--run-id", "--timeout", "--state-id-suffix", "--state-strategy", "--database-uri"})
TICK_SECONDS = 0.5  # how often the console looks for long streams to announce or report on
MAX_STREAMS_SHOWN = 5  # more streams (or a final table above it): the closing line shows their totals


@dataclass
class RunRequest:
    """One `ponte run`: Meltano's `run` arguments plus the launcher's own options."""

    args: list[str]
    project: Path
    trigger: str = "manual"
    environment: str | None = None
    log_level: str | None = None
    log_format: str = "human"
    plugin_env: dict[str, str] = field(default_factory=dict)  # e.g. PONTE_DRY_RUN, PONTE_SKUS for the plugins
    direct: bool = False  # the blocks as one pipe of the plugins' executables, no Meltano (ponte.runs.direct)


@dataclass
class SplitArgs:
    blocks: list[str]
    options: list[str]
    run_id: uuid.UUID | None
    dry_run: bool


def split_args(args: Sequence[str]) -> SplitArgs:
    """Blocks (plugins, jobs) apart from `meltano run` options; `--run-id` taken out (the launcher passes it)."""
    blocks: list[str] = []
    options: list[str] = []
    run_id_text: str | None = None
    items = iter(args)
    for arg in items:
        name, has_value, value = arg.partition("=")
        if not arg.startswith("-"):
            blocks.append(arg)
        elif name == "--run-id":
            run_id_text = value if has_value else next(items, "")
        elif name in VALUE_OPTIONS and not has_value:
            options += [arg, next(items, "")]
        else:
            options.append(arg)
    run_id = None
    if run_id_text is not None:
        try:
            run_id = uuid.UUID(run_id_text)
        except ValueError:
            raise ConfigError(f"--run-id {run_id_text!r} is not a UUID") from None
    return SplitArgs(blocks, options, run_id, "--dry-run" in options)


def meltano_executable() -> str:
    """The `meltano` next to the running interpreter (the project's virtualenv), else the one on PATH."""
    found = console_script("meltano")
    if found == "meltano" and shutil.which(found) is None:
        raise ConfigError("the meltano command was not found; run `make install` (or install meltano)")
    return found


def rerun_command(request: RunRequest) -> str:
    """The command that starts the same pipeline again (for the record and the alert; a new run id)."""
    split = split_args(request.args)
    parts = ["ponte", "run"]
    if request.environment:
        parts.append(f"--environment={request.environment}")
    if request.direct:
        parts.append("--direct")
    return shlex.join([*parts, *split.blocks, *split.options])


@contextlib.contextmanager
def _forwarded_signals(processes: Sequence[subprocess.Popen[Any]]) -> Iterator[list[int]]:
    """While the run's processes run (Meltano, or the plugins of a direct pipe): SIGTERM to the launcher goes on
    to each of them (Meltano stops its plugins cleanly); SIGINT (Ctrl-C) already reached them through the
    terminal. Either is remembered for the record."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if signum == signal.SIGTERM:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _stop_requests() -> Iterator[list[int]]:
    """While the run waits for an extractor (Meltano not started yet): SIGTERM or SIGINT is remembered, so the
    wait ends and the run is recorded as stopped instead of the launcher dying with a `running` record."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum))
                for sig in (signal.SIGTERM, signal.SIGINT)}  # fmt: skip
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _not_started(exc: ExtractorBusy | LockWaitStopped) -> Outcome:
    """The outcome of a run that never started Meltano: an extractor stayed busy, or a signal ended the wait."""
    if isinstance(exc, LockWaitStopped):
        name = signal.Signals(exc.signum).name
        return Outcome("failed", 128 + exc.signum, error=f"ponte run was stopped by {name} {exc}; nothing ran")
    return Outcome("failed", exc.exit_code, error=str(exc))


def _counts(label: str, streams: Sequence[Mapping[str, Any]]) -> str:
    totals = {name: sum(int(s.get(name) or 0) for s in streams) for name in COUNTS}
    text = f"{label}: {totals['inserted']} inserted, {totals['updated']} updated, {totals['deleted']} deleted"
    return text + (f", {totals['rejected']} rejected" if totals["rejected"] else "")


def _meltano_run_id(env: Mapping[str, str]) -> uuid.UUID | None:
    """`MELTANO_RUN_ID` (Meltano's own way to name a run), when set."""
    text = (env.get("MELTANO_RUN_ID") or "").strip()
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConfigError(f"MELTANO_RUN_ID {text!r} is not a UUID") from None


class Launch:
    """One pipeline run from start to record."""

    def __init__(self, request: RunRequest, env: Mapping[str, str], out: TextIO) -> None:
        self.request = request
        self.env = project_env(request.project, env)
        self.settings = LaunchSettings.read(request.project, self.env)
        self.split = split_args(request.args)
        if not self.split.blocks:
            raise ConfigError("name a job or the plugins to run, e.g. `ponte run tap-sienge target-postgres`")
        self.redactor = Redactor(self.settings.secrets())
        self.console = Console(out, request.log_format, self.redactor.redact)
        self.meltano = meltano_executable()
        self.run_id = self.split.run_id or _meltano_run_id(self.env) or uuid.uuid4()
        self.extractors = MeltanoProject.load(request.project).extractors(self.split.blocks)

    def command(self) -> list[str]:
        command = [self.meltano, "--log-format=json"]
        if self.request.log_level:
            command.append(f"--log-level={self.request.log_level}")
        if self.request.environment:
            command.append(f"--environment={self.request.environment}")
        return [*command, "run", f"--run-id={self.run_id}", *self.split.options, *self.split.blocks]

    def run(self) -> int:
        """Start Meltano, show its output live, then record, alert and return the exit code."""
        if self.split.dry_run:  # nothing runs: nothing to record
            return subprocess.run(self.command(), cwd=self.request.project, env=self.env, check=False).returncode
        pipeline = " ".join(self.split.blocks)
        record = PipelineRun.begin(
            self.run_id,
            pipeline,
            self.request.trigger,
            environment=self.request.environment or self.env.get("MELTANO_ENVIRONMENT") or None,
            command=self.redactor.redact(rerun_command(self.request)),
        )
        store = self.settings.open_store(lambda text: self.console.say("warning", self.redactor.redact(text)))
        self.recorded_in = store.where
        self._store(store, "started", record)
        self.console.say("info", f"run {self.run_id} started: {pipeline} (trigger {self.request.trigger})")
        began = time.monotonic()
        log = MeltanoLog()
        try:
            with self._extractors_locked(pipeline):
                outcome = self._pipeline(log)
        except (ExtractorBusy, LockWaitStopped) as exc:
            outcome = _not_started(exc)
        self._complete(record, outcome, log)
        self._store(store, "finished", record)
        store.close()
        self._tell(record, outcome, time.monotonic() - began, self.recorded_in)
        self._alert(record, self.recorded_in)
        return outcome.exit_code

    @contextlib.contextmanager
    def _extractors_locked(self, pipeline: str) -> Iterator[None]:
        """Hold the run's extractors for the whole pipeline, waiting (bounded, said once) for a busy one."""
        if not self.extractors:
            yield
            return
        waited = time.monotonic()
        busy: list[str] = []

        def on_busy(message: str) -> None:
            busy.append(message)
            self.console.say("warning", message)

        me = Holder(os.getpid(), pipeline, str(self.run_id))
        folder = locks_folder(self.request.project, self.env)
        with contextlib.ExitStack() as held:
            with _stop_requests() as stops:  # only while waiting: once Meltano runs, signals go on to it
                held.enter_context(extractor_locks(
                    folder, self.extractors, me, self.settings.lock_wait_seconds, on_busy,
                    lambda: stops[0] if stops else None,
                ))  # fmt: skip
            if stops:  # arrived after the last look
                raise LockWaitStopped("after the extractors were free, before the pipeline started", stops[0])
            if busy:
                self.console.say("info", f"{', '.join(self.extractors)} free after {time.monotonic() - waited:.1f} s")
            yield

    def _pipeline(self, log: MeltanoLog) -> Outcome:
        """Run Meltano with a report file for the plugins' facts, and decide how the run ended."""
        fd, report_name = tempfile.mkstemp(prefix=f"ponte-run-{self.run_id}-", suffix=".jsonl")
        os.close(fd)
        report_path = Path(report_name)
        try:
            direct = self.request.direct and not self.split.dry_run
            code, stopped_by = self._direct(log, report_path) if direct else self._meltano(log, report_path)
            facts = report.read_report(report_path)
        finally:
            report_path.unlink(missing_ok=True)
        return decide(code, log, facts, stopped_by)

    def _meltano(self, log: MeltanoLog, report_path: Path) -> tuple[int, int | None]:
        env = {**self.env, report.RUN_ID_ENV: str(self.run_id), report.REPORT_ENV: str(report_path),
               report.TRIGGER_ENV: self.request.trigger, **self.request.plugin_env}  # fmt: skip
        process = subprocess.Popen(
            self.command(),
            cwd=self.request.project,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        assert process.stderr is not None
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(done,), name="ponte-run-ticker", daemon=True)
        ticker.start()
        try:
            with _forwarded_signals([process]) as received:
                for raw in process.stderr:
                    line = log.feed(raw)
                    if line is not None:
                        self.console.show(line)
                code = process.wait()
        finally:
            done.set()
            ticker.join()
        if code < 0:  # Meltano itself was killed by a signal: report it the way a shell would
            code = 128 - code
        return code, (received[0] if received else None)

    def _direct(self, log: MeltanoLog, report_path: Path) -> tuple[int, int | None]:
        """The blocks as one pipe of the plugins' executables (settings resolved through Meltano once, cached),
        their lines read as Meltano's would be; a block that cannot be resolved fails the run with the reason."""
        env = {**self.env, report.RUN_ID_ENV: str(self.run_id), report.REPORT_ENV: str(report_path),
               report.TRIGGER_ENV: self.request.trigger, **self.request.plugin_env}  # fmt: skip
        environment = self.request.environment or self.env.get("MELTANO_ENVIRONMENT") or None
        try:
            blocks = direct.resolve_blocks(
                self.request.project, self.split.blocks, {**self.env, **self.request.plugin_env}, environment,
                self.meltano, lambda text: self.console.say("info", text),
            )  # fmt: skip
        except ConfigError as exc:
            shown = log.feed(json.dumps({"event": str(exc), "level": "error"}))
            if shown is not None:
                self.console.show(shown)
            return 1, None
        received: list[int] = []
        running: list[subprocess.Popen[bytes]] = []

        def on_line(block: direct.Block, text: str) -> None:
            shown = log.feed(direct.meltano_event(block, text))
            if shown is not None:
                self.console.show(shown)

        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(done,), name="ponte-run-ticker", daemon=True)
        ticker.start()
        try:
            with _forwarded_signals(running) as received:
                codes = direct.run_pipe(blocks, env, self.request.project, on_line, running.extend)
        finally:
            done.set()
            ticker.join()
        log.feed(direct.block_completed(blocks, codes))
        failed = next((c for c in codes if c), 0)
        return (128 - failed if failed < 0 else failed), (received[0] if received else None)

    def _tick(self, done: threading.Event) -> None:
        while not done.wait(TICK_SECONDS):
            self.console.tick()

    def _complete(self, record: PipelineRun, outcome: Outcome, log: MeltanoLog) -> None:
        record.environment = log.environment or record.environment
        record.status = outcome.status
        record.finished_at = datetime.now(UTC)
        record.exit_code = outcome.exit_code
        record.plugins = [p.to_json() for p in log.plugins()]
        record.failed_plugin = outcome.failed_plugin
        record.error = self.redactor.redact(outcome.error) if outcome.error else None
        record.streams = outcome.streams
        record.dead_letters = outcome.dead_letters

    def _store(self, store: RunStore, step: str, record: PipelineRun) -> None:
        try:
            getattr(store, step)(record)
        except Exception as exc:  # never lose the record: fall back to the file
            fallback = self.settings.file_store()
            self.console.say("warning", self.redactor.redact(
                f"could not write the run record to {store.where} ({type(exc).__name__}: {exc}); "
                f"writing it to {fallback.where}"))  # fmt: skip
            getattr(fallback, step)(record)
            self.recorded_in = fallback.where

    def _tell(self, record: PipelineRun, outcome: Outcome, seconds: float, where: str) -> None:
        rows = "".join(f"; {_counts(s['stream'], [s])}" for s in outcome.streams)
        if len(outcome.streams) > MAX_STREAMS_SHOWN or (outcome.streams and self.request.log_format == "human"):
            rows = f"; {_counts(f'{len(outcome.streams)} streams', outcome.streams)}"
        if outcome.status == "failed":
            code = next((p["exit_code"] for p in record.plugins if p["name"] == outcome.failed_plugin), None)
            exited = f"exit code {code if code is not None else outcome.exit_code}"
            who = "the run" if outcome.failed_plugin in (MELTANO, None) else outcome.failed_plugin
            self.console.say("error", f"{who} failed ({exited}): {record.error}")
        for message in outcome.quota_stops:
            self.console.say("warning", message)
        self.console.table(outcome.streams)
        level = {"failed": "error", "succeeded": "info"}.get(outcome.status, "warning")
        self.console.say(level, f"run {record.run_id} {outcome.status} in {seconds:.1f} s{rows}; recorded in {where}")

    def _alert(self, record: PipelineRun, where: str) -> None:
        if record.status not in self.settings.alert_on or not self.settings.alerts.enabled:
            return
        alert = run_alert(record, where, self.redactor.redact(rerun_command(self.request)))
        alerter = Alerter(self.settings.alerts, redact=self.redactor.redact)
        sent = alerter.send(alert)
        if sent:
            self.console.say("info", f"alert sent ({', '.join(sent)})")
        else:
            self.console.say("warning", "the alert could not be sent; see the warnings above")


def launch(request: RunRequest, env: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """Run one pipeline (see the module docstring); returns the exit code `ponte run` ends with."""
    return Launch(request, os.environ if env is None else env, out or sys.stderr).run()
