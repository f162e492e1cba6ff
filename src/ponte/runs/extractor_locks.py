"""One run per extractor at a time in a project: an exclusive file lock per extractor a `ponte run` runs.

Two `meltano run` of the same extractor at once share `<sys dir>/run/<extractor>/` (the catalog
`tap.properties.json`, the state file) and break each other ("Invalid value for '--catalog': … No such file
or directory"): a schedule and a webhook starting pipelines that read the same source, or two services on one
project. The launcher therefore holds `<sys dir>/run/.ponte-locks/<extractor>.lock` for the whole run (there,
because `meltano install` empties only `run/<plugin>/`), taking them in sorted order so two runs never wait on
each other crosswise. A busy lock is announced once, naming the run that holds it (its pid, pipeline and run
id are written into the file while it is held), then waited for up to PONTE_RUN_LOCK_WAIT_SECONDS.
`flock` locks are released by the kernel when their holder dies, so a killed run never leaves one behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from ponte.core.errors import PonteError
from ponte.core.meltano_project import meltano_sys_dir

WAIT_SETTING = "PONTE_RUN_LOCK_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 3600.0
POLL_SECONDS = 0.2
LOCKS_FOLDER = Path("run") / ".ponte-locks"


class ExtractorBusy(PonteError):
    """An extractor stayed in use by another run for longer than the wait allows; this run did not start.

    Exit code 75 (EX_TEMPFAIL in sysexits.h): nothing is wrong with the pipeline, try again later."""

    exit_code = 75


class LockWaitStopped(PonteError):
    """A signal stopped the run while it waited for an extractor; `signum` says which."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


@dataclass(frozen=True)
class Holder:
    """Who holds an extractor's lock, as written into the lock file."""

    pid: int
    pipeline: str
    run_id: str

    def describe(self) -> str:
        return f"pid {self.pid}, pipeline {self.pipeline}, run {self.run_id}"


def locks_folder(project: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where the extractors' lock files are: next to their run folders, in the project's Meltano system dir."""
    return meltano_sys_dir(project, env) / LOCKS_FOLDER


def read_holder(path: Path) -> Holder | None:
    """The holder written in a lock file, or None (being written, emptied on release, unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["pipeline"]), str(data["run_id"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _in_use(name: str, holder: Holder | None, verb: str = "is") -> str:
    return f"{name} {verb} in use by another run ({holder.describe() if holder else 'holder unknown'})"


@contextlib.contextmanager
def extractor_locks(
    folder: Path,
    extractors: Iterable[str],
    me: Holder,
    wait_seconds: float | None = None,
    on_busy: Callable[[str], None] = lambda _message: None,
    stop_requested: Callable[[], int | None] = lambda: None,
) -> Iterator[None]:
    """Hold the lock of every extractor (sorted) until the block ends.

    A busy lock calls `on_busy` once with the line to log, then is polled until it is free: ExtractorBusy once
    `wait_seconds` (None: forever) have passed in all, LockWaitStopped when `stop_requested` returns a signal.
    """
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    names = sorted(set(extractors))
    if names:
        folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        for name in names:
            path = folder / f"{name}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            held.callback(os.close, fd)
            _acquire(fd, path, name, deadline, wait_seconds, on_busy, stop_requested)
            held.callback(_release, fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
        yield


def _acquire(
    fd: int,
    path: Path,
    name: str,
    deadline: float | None,
    wait_seconds: float | None,
    on_busy: Callable[[str], None],
    stop_requested: Callable[[], int | None],
) -> None:
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = read_holder(path)
        if not announced:
            bound = "" if wait_seconds is None else f" up to {wait_seconds:g} s ({WAIT_SETTING})"
            on_busy(f"{_in_use(name, holder)}; waiting{bound}")
            announced = True
        signum = stop_requested()
        if signum is not None:
            raise LockWaitStopped(f"while it waited for {name} ({_in_use(name, holder)})", signum)
        if deadline is not None and time.monotonic() >= deadline:
            raise ExtractorBusy(
                f"{_in_use(name, holder, 'was still')} after waiting {wait_seconds:g} s; "
                f"this run did not start. Start it again when that run has ended, or raise {WAIT_SETTING}"
            )
        time.sleep(POLL_SECONDS)


def _release(fd: int) -> None:
    """Empty the file first, so a run that takes the lock next is never described by the one that left."""
    os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
