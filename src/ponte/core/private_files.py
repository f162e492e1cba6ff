"""Private files: the one way Ponte's file stores make their folder, append lines and rewrite a file.

The token store, the dead-letter file, the job log, the run records and the launcher's run report may hold
tokens, record values or error texts: folders are 0700, files 0600 (also when a wider umask or an older version
made them wider), a rewrite is atomic (temporary file, fsync, rename) and an append is one write on an O_APPEND
descriptor, so concurrent writers never interleave. Locking stays with the caller (`core.file_lock`), because
some stores read and append under one lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ponte.core.errors import ConfigError

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path, what: str, setting: str) -> None:
    """Create `path` (0700) if missing; a folder that cannot be made is a ConfigError naming the `setting` to fix."""
    if path.is_dir():
        return
    try:
        path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the {what} folder {path} ({exc.strerror}); set {setting} to a writable place"
        ) from None


def json_line(row: Mapping[str, Any]) -> str:
    """One JSON Lines line: UTF-8 as is, anything JSON lacks (dates, decimals, UUIDs) as its text."""
    return json.dumps(row, ensure_ascii=False, default=str) + "\n"


def append_lines(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append rows as JSON lines in one write on an O_APPEND descriptor; the file is, and stays, 0600."""
    data = "".join(json_line(row) for row in rows).encode("utf-8")
    if not data:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, data)
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically: a 0600 temporary file beside it, fsynced, renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    folder = os.open(path.parent, os.O_RDONLY)  # the rename itself survives a crash only once its folder is synced
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def replace_lines(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Rewrite a JSON Lines file whole, atomically (see `replace_file`)."""
    replace_file(path, "".join(json_line(row) for row in rows).encode("utf-8"))
