"""An exclusive lock on a lock file, across threads and processes: for stores kept in plain files.

The token store, the dead-letter file and the job log file all read-modify-write or append under it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ponte.core.errors import PonteError
from ponte.core.private_files import private_folder

POLL_SECONDS = 0.02


class LockTimeout(PonteError):
    """A lock with a timeout gave up: another thread or process holds it."""

    exit_code = 3


class _ProcessLocks:
    """One threading lock per lock-file path, so threads queue before they contend on the file lock."""

    _guard = threading.Lock()
    _locks: dict[str, threading.Lock] = {}

    @classmethod
    def get(cls, path: Path) -> threading.Lock:
        with cls._guard:
            return cls._locks.setdefault(str(path.resolve()), threading.Lock())


@contextlib.contextmanager
def file_lock(
    path: Path, timeout: float | None = None, what: str = "lock", error: type[LockTimeout] = LockTimeout
) -> Iterator[None]:
    """Exclusive fcntl lock on `path` (created 0600) plus a per-process thread lock; `error` after `timeout`."""
    thread_lock = _ProcessLocks.get(path)
    deadline = None if timeout is None else time.monotonic() + timeout
    if not thread_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
        raise error(f"{what} is locked by another thread; gave up after {timeout:g} s")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if deadline is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise error(f"{what} is locked by another process; gave up after {timeout:g} s") from None
                        time.sleep(POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        thread_lock.release()


@contextlib.contextmanager
def private_file_lock(path: Path, what: str, setting: str) -> Iterator[None]:
    """Hold the lock of a private file store: make its 0700 folder (a ConfigError naming `setting` if it
    cannot), then lock `<path>.lock` for as long as it takes."""
    private_folder(path.parent, what, setting)
    with file_lock(path.with_name(path.name + ".lock"), None, f"{what} file {path}"):
        yield
