"""A throw-away SQLite database in a private temporary folder: where records wait on disk, not in memory.

The API targets' spool and the mapper's groups both hold data until the input ends; both open it here and
read it back in bounded chunks.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class ScratchDb:
    """One SQLite file with durability off (it is deleted on close; a crash simply re-runs the input)."""

    def __init__(self, prefix: str, directory: str | None = None, *, autocommit: bool = False) -> None:
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=prefix, dir=directory))
        options: dict[str, Any] = {"isolation_level": None} if autocommit else {}
        self.db = sqlite3.connect(self.folder / "scratch.sqlite", check_same_thread=False, **options)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")

    def rows(self, query: str, params: tuple[Any, ...], size: int = 500) -> Iterator[tuple[Any, ...]]:
        """The rows of `query`, fetched `size` at a time."""
        cursor = self.db.cursor()
        cursor.execute(query, params)
        while rows := cursor.fetchmany(size):
            yield from rows

    def close(self) -> None:
        """Close and delete the database."""
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)
