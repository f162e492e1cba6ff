"""The run log (`ponte.sync_runs`) and the dead-letter table (`ponte.dead_letters`).

One row per run and stream, started and finished on its own autocommit connection so it survives a rolled-back
batch and shows progress while a load runs; each batch adds its counts (and its dead letters) in its own
transaction, so they count exactly what was committed. Each run holds a session advisory lock; a later run
that finds an old row still `running` whose lock is free knows that process died (SIGKILL, lost connection)
and marks it `interrupted` — no heartbeat needed. A lost connection is opened again (and the lock taken
again) before the statement is repeated; every statement on it can be repeated safely.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from ponte.runlog import report
from ponte.runlog.database import create_tables
from ponte.runlog.tables import DEAD_LETTER_COLUMNS, RUNS_DDL
from ponte.targets.postgres.copy_writer import copy_rows
from ponte.targets.postgres.reconnect import Reconnect, connect_first, is_connection_lost
from ponte.targets.postgres.values import decode_json, encode_json_lenient

logger = logging.getLogger(__name__)

Method = TypeVar("Method", bound=Callable[..., Any])


def _reconnecting(method: Method) -> Method:
    """Repeat a run-log method on a new connection when the old one was lost."""

    @functools.wraps(method)
    def repeated(self: RunLog, *args: Any, **kwargs: Any) -> Any:
        failures = 0
        while True:
            try:
                if self._conn.closed:
                    self._reopen()
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not is_connection_lost(exc, None if self._conn.closed else self._conn):
                    raise
                self._conn.close()
                failures += 1
                self.reconnect.pause(failures, "run log", exc)

    return repeated  # type: ignore[return-value]


class RunLog:
    """Writes this process's rows of the run log.

    Under `ponte run` the rows carry the pipeline run's id (every plugin's records join on it) and each
    stream's final row is also reported to the launcher, which keeps it in the pipeline-run record.
    """

    def __init__(self, conninfo: str, schema: str, pipeline: str, reconnect: Reconnect | None = None) -> None:
        self.pipeline = pipeline
        self.run_id = report.this_run_id()
        self.schema = schema
        self.runs = sql.Identifier(schema, "sync_runs")
        self.dead_letters = sql.Identifier(schema, "dead_letters")
        self._lock_key = secrets.randbits(62)
        self._conninfo, self.reconnect = conninfo, reconnect or Reconnect()
        self._conn = connect_first(conninfo, autocommit=True)
        create_tables(self._conn, schema, RUNS_DDL, runs=self.runs, dead=self.dead_letters)
        self._conn.execute("SELECT pg_advisory_lock(%s)", (self._lock_key,))
        self._open: set[str] = set()

    def _reopen(self) -> None:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (self._lock_key,))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @_reconnecting
    def start(self, stream: str, target_table: str) -> None:
        """Record that this run started loading `stream`; settle rows left `running` by dead processes."""
        self._settle_abandoned(stream)
        self._conn.execute(
            sql.SQL(
                "INSERT INTO {} (run_id, stream, pipeline, target_table, status, host, pid, lock_key) "
                "VALUES (%s, %s, %s, %s, 'running', %s, %s, %s) ON CONFLICT (run_id, stream) DO NOTHING"
            ).format(self.runs),
            (self.run_id, stream, self.pipeline, target_table, socket.gethostname(), os.getpid(), self._lock_key),
        )
        self._open.add(stream)

    def _settle_abandoned(self, stream: str) -> None:
        stale = self._conn.execute(
            sql.SQL(
                "SELECT run_id, lock_key FROM {} WHERE pipeline = %s AND stream = %s AND status = 'running' "
                "AND run_id <> %s"
            ).format(self.runs),
            (self.pipeline, stream, self.run_id),
        ).fetchall()
        for run_id, lock_key in stale:
            if lock_key is None or lock_key == self._lock_key:
                continue
            if self._conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key,)).fetchone()[0]:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key,))
                self._conn.execute(
                    sql.SQL(
                        "UPDATE {} SET status = 'interrupted', finished_at = now(), error = %s "
                        "WHERE run_id = %s AND stream = %s AND status = 'running'"
                    ).format(self.runs),
                    (
                        "the loader process ended without finishing (killed, or its connection was lost); "
                        "committed batches were kept and a later run reloaded the rest",
                        run_id,
                        stream,
                    ),
                )
                logger.warning("run log: marked run %s of stream '%s' as interrupted", run_id, stream)

    def add(
        self,
        stream: str,
        *,
        inserted: int = 0,
        updated: int = 0,
        deleted: int = 0,
        rejected: int = 0,
        conn: psycopg.Connection | None = None,
    ) -> None:
        """Add the counts of one batch, in `conn`'s transaction (the batch's own, so they commit with it)."""
        (conn or self._conn).execute(
            sql.SQL(
                "UPDATE {} SET rows_inserted = rows_inserted + %s, rows_updated = rows_updated + %s, "
                "rows_deleted = rows_deleted + %s, rows_rejected = rows_rejected + %s, batches = batches + 1 "
                "WHERE run_id = %s AND stream = %s"
            ).format(self.runs),
            (inserted, updated, deleted, rejected, self.run_id, stream),
        )

    @_reconnecting
    def finish(self, stream: str, status: str, error: str | None = None) -> None:
        """Close one stream's row with its final status."""
        row = self._conn.execute(
            sql.SQL(
                "UPDATE {} SET status = %s, finished_at = now(), error = %s "
                "WHERE run_id = %s AND stream = %s AND status = 'running' "
                "RETURNING rows_inserted, rows_updated, rows_deleted, rows_rejected"
            ).format(self.runs),
            (status, error, self.run_id, stream),
        ).fetchone()
        self._open.discard(stream)
        if row is not None:
            inserted, updated, deleted, rejected = row
            report.report(report.STREAM_FINISHED, stream=stream, status=status, error=error, inserted=inserted,
                          updated=updated, deleted=deleted, rejected=rejected)  # fmt: skip

    def finish_all(self, status: str, error: str | None = None) -> None:
        """Close every row this run still has open (on failure or interruption)."""
        for stream in list(self._open):
            self.finish(stream, status, error)

    def store_dead_letters(self, conn: psycopg.Connection, stream: str, table: str, lines: Iterable[bytes]) -> int:
        """COPY rejected records (lines of `[reason, record]` JSON) inside the batch's own transaction, so a
        dead letter exists exactly when the rest of its batch was committed."""
        rows = (
            (self.run_id, self.pipeline, stream, table, reason, encode_json_lenient(record).decode("utf-8"))
            for reason, record in map(decode_json, lines)
        )
        return copy_rows(conn, self.dead_letters, DEAD_LETTER_COLUMNS, rows)

    def close(self) -> None:
        """Release the connection (and with it the advisory lock)."""
        self._conn.close()
