"""The two streams a batch writes: rows into an open `COPY … FROM STDIN`, raw lines into a spill file.

Rows go to PostgreSQL as they arrive, so the loader holds no batch in memory. The spill file (an anonymous
temporary file, gone when the process ends) keeps the batch's input lines so a batch that PostgreSQL
rejects can be replayed record by record, without asking the tap for the data again.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

_COPY_LINE = re.compile(r"\bline (\d+)\b")
_PSYCOPG_LOG = logging.getLogger("psycopg")
_SILENT = logging.Filter("nothing passes this")  # a name no logger has: it drops every record


class Spill:
    """Append-only lines of the current batch; replayable, truncated after each commit."""

    def __init__(self, prefix: str = "ponte-batch-") -> None:
        # A large buffer keeps this to a few hundred write() calls per batch.
        self._file = tempfile.TemporaryFile(prefix=prefix, buffering=1 << 20)  # noqa: SIM115 -- lives with the sink
        self.write = self._file.write
        """Append one line (it must end with a newline); the bound method itself, for the hot path."""

    def lines(self) -> Iterator[bytes]:
        """Every line written since the last reset, in order."""
        self._file.flush()
        self._file.seek(0)
        try:
            yield from self._file
        finally:
            self._file.seek(0, 2)

    def reset(self) -> None:
        """Forget the batch (called once it is committed)."""
        self._file.seek(0)
        self._file.truncate()

    def close(self) -> None:
        """Release the temporary file."""
        self._file.close()


class CopyStream:
    """One `COPY table (columns) FROM STDIN` kept open across calls (psycopg exposes it as a context)."""

    def __init__(self, conn: psycopg.Connection, table: sql.Identifier, columns: list[str]) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(", ").join(map(sql.Identifier, columns)))
        self._conn = conn
        self._context = conn.cursor().copy(statement)
        copy = self._context.__enter__()
        self.write_row = copy.write_row

    def finish(self) -> None:
        """End the COPY; PostgreSQL reports a bad row here (the error names its line)."""
        self._context.__exit__(None, None, None)

    def abort(self, reason: BaseException) -> None:
        """Tell the server to abandon the COPY (the transaction is rolled back by the caller).

        On a lost connection there is no server to tell: psycopg's warning that it could not is dropped.
        """
        lost = self._conn.broken
        if lost:
            _PSYCOPG_LOG.addFilter(_SILENT)
        try:
            with contextlib.suppress(Exception):  # the COPY is being abandoned: its own error is expected
                self._context.__exit__(type(reason), reason, reason.__traceback__)
        finally:
            if lost:
                _PSYCOPG_LOG.removeFilter(_SILENT)


def copy_line_of(error: psycopg.Error) -> int | None:
    """The 1-based COPY line a server error points at (`CONTEXT: COPY t, line 42, column x`), if any."""
    context = getattr(error.diag, "context", None) or ""
    if "COPY" not in context:
        return None
    found = _COPY_LINE.search(context)
    return int(found.group(1)) if found else None


def copy_rows(conn: psycopg.Connection, table: sql.Identifier, columns: list[str], rows: Iterator[Any]) -> int:
    """COPY a handful of rows (dead letters) inside the current transaction; returns how many."""
    count = 0
    stream = CopyStream(conn, table, columns)
    for row in rows:
        stream.write_row(row)
        count += 1
    stream.finish()
    return count


def describe_error(error: BaseException) -> str:
    """PostgreSQL's own message plus where it happened (`COPY t, line 3, column x`), for logs and dead letters."""
    if isinstance(error, psycopg.Error) and error.diag.message_primary:
        context = f" ({error.diag.context.splitlines()[0]})" if error.diag.context else ""
        return f"{error.diag.message_primary}{context}"
    return f"{type(error).__name__}: {error}"
