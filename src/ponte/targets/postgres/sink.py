"""One stream's table, its connection and the batch currently open on it.

Every record goes straight into an open COPY: into the table itself while it started empty (or for streams
without a key), otherwise into a session-private staging table that is merged with one INSERT … ON CONFLICT
when the batch commits. A batch is one transaction. If PostgreSQL rejects it, it is rolled back and replayed
from the spill file: into staging after a key collision, or record by record with strict conversion after a
data error, so that bad records land in the dead-letter table and the good ones still load. If the connection
is lost, the batch is replayed the same way on a new one (see `reconnect`), unless its COMMIT had landed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import psycopg
from psycopg import sql

from ponte.core.errors import DataError
from ponte.targets.postgres import ddl, merge
from ponte.targets.postgres.activation import ActivationTracker
from ponte.targets.postgres.copy_writer import CopyStream, Spill, copy_line_of, describe_error
from ponte.targets.postgres.json_depth import TOO_DEEP, truncate_depth
from ponte.targets.postgres.nul_characters import NulMerges, schema_without_nul
from ponte.targets.postgres.reconnect import Reconnect, commit_landed, is_connection_lost
from ponte.targets.postgres.rejections import Rejections
from ponte.targets.postgres.row_builder import RowBuilder, schema_validator
from ponte.targets.postgres.run_log import RunLog
from ponte.targets.postgres.settings import LoaderSettings
from ponte.targets.postgres.values import UNENCODABLE, ConversionError, decode_json, strip_nul

logger = logging.getLogger(__name__)
NUL_ESCAPE = b"\\u0000"
# Errors that mean "some value in this batch is wrong", as opposed to a lost connection or a bug.
RECOVERABLE = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.ProgrammingError,
    ConversionError,
    TypeError,
    ValueError,
    *UNENCODABLE,
)


class Mode(Enum):
    """Where the open batch's COPY goes."""

    DIRECT = "direct"
    STAGING = "staging"


class StreamSink:
    """Loads one stream (after stream maps) into one table."""

    def __init__(
        self, settings: LoaderSettings, run_log: RunLog, stream: str, schema: Mapping[str, Any], keys: Sequence[str]
    ) -> None:
        self.settings, self.run_log, self.stream = settings, run_log, stream
        self.conn: psycopg.Connection | None = None
        self.last_used = time.monotonic()
        self.reconnect = Reconnect(settings.reconnect_attempts, settings.reconnect_backoff_seconds)
        self._replay_pending = False  # the batch's rows are not (or no longer) in the open transaction
        self._commit_in_doubt: tuple[int, int, int] | None = None
        """(transaction id, backend pid, records rejected) of a batch whose COMMIT was sent but not answered."""
        self.spill, self.rejections, self.nul_merges = Spill(), Rejections(), NulMerges(stream)
        self.rows = self.bytes = 0
        self.careful = settings.validate_records
        self._sticky_careful, self._bad_batches = settings.validate_records, 0
        self._repeats_keys = False
        self._copy: CopyStream | None = None
        self._failed: BaseException | None = None
        self._written: list[int] = []
        self._excluded: dict[int, str] = {}
        self._flagged_deletes = False
        self._last_version: Any = None
        self.activation = ActivationTracker(stream)
        self._committed_rows = 0
        self._max_rows, self._max_bytes = settings.batch_size_rows, settings.batch_size_bytes
        self._truncate_pending = settings.load_method == "overwrite"
        self._staging_ready = False
        self.mode: Mode | None = None
        self.prepare(schema, keys)
        self.table_name = f"{self.plan.schema}.{self.plan.table}"
        run_log.start(stream, self.table_name)

    # -- connection ----------------------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        """The sink's connection, opened again if `release` gave it back or it was lost."""
        if self.conn is None:
            conn = psycopg.connect(self.settings.conninfo, autocommit=False)
            try:
                # UTC for naive date-times; durable commits, since STATE is emitted right after them.
                conn.execute("SET TimeZone = 'UTC'; SET synchronous_commit = on; SET jit = off")
                conn.commit()
            except BaseException:
                conn.close()
                raise
            self.conn = conn
            self._staging_ready = False  # temp tables died with the previous session
        return self.conn

    def _drop_connection(self) -> None:
        """Forget a lost connection and what the batch had sent on it (the commit replays the batch)."""
        if self._copy is not None:
            self._copy.abort(RuntimeError("connection lost"))
            self._copy = None
        self._failed = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def release(self) -> None:
        """Give the connection back while the stream is idle (no open batch), so a tap with many streams
        does not hold one connection per stream for the whole run."""
        if self.conn is not None and not self.has_pending:
            self.conn.close()
            self.conn = None

    # -- table -------------------------------------------------------------------------------------------

    def prepare(self, schema: Mapping[str, Any], keys: Sequence[str]) -> None:
        """Create or evolve the table for this schema; called at setup and after a new SCHEMA message."""
        self.schema, self.keys = schema, tuple(keys)
        schema, keys = schema_without_nul(self.stream, schema, keys)  # as the records will look
        failures = 0
        while True:
            try:
                plan, empty = ddl.prepare_table(self._connect(), self.settings, self.stream, schema, keys)
                break
            except Exception as exc:
                if not is_connection_lost(exc, self.conn):
                    raise
                self._drop_connection()
                failures += 1
                self.reconnect.pause(failures, f"stream '{self.stream}'", exc)
        if self.mode is None:
            self.mode = Mode.DIRECT if not plan.key_columns or self._truncate_pending or empty else Mode.STAGING
        self.plan = plan
        self._staging_ready = False
        validator = schema_validator(schema) if self.settings.validate_records else None
        self.rows_builder = RowBuilder(self.stream, plan, keys, validator)
        self.decode_envelope = self.rows_builder.decode_envelope
        """The decoder the reader uses for this stream's RECORD lines."""
        logger.info(
            "stream '%s' → %s.%s (%d columns, key %s, %s load)",
            self.stream,
            plan.schema,
            plan.table,
            len(plan.columns),
            plan.key_columns or "none",
            "append" if not plan.key_columns else "upsert",
        )

    # -- hot path ----------------------------------------------------------------------------------------

    def write_envelope(self, envelope: Any, line: bytes) -> bool:
        """The hot path: a RECORD decoded by `decode_envelope`; True when the batch is full."""
        if self.careful:
            message = decode_json(line)
            return self.write(message["record"], message, line)
        if self._copy is None and self._failed is None:
            self._begin()
        self._send(self.rows_builder.from_envelope(envelope))
        self.spill.write(line)
        self.rows += 1
        self.bytes += len(line)
        return self.rows >= self._max_rows or self.bytes >= self._max_bytes

    def write(self, record: dict[str, Any], message: Mapping[str, Any], line: bytes) -> bool:
        """A record already decoded as a dict, with its message line (for the spill file)."""
        if NUL_ESCAPE in line:
            try:
                record = self.nul_merges.strip(record)
            except RecursionError:
                self.set_aside(decode_json(truncate_depth(line))["record"], TOO_DEEP)
                return False
        self.rows_builder.check_keys(record)
        if self._copy is None and self._failed is None:
            self._begin()
        self._emit(record, message, self.rows)
        self.spill.write(line)
        self.rows += 1
        self.bytes += len(line)
        return self.rows >= self._max_rows or self.bytes >= self._max_bytes

    def set_aside(self, record: Any, reason: str) -> None:
        """A record that cannot be loaded at all (e.g. too deep to decode): a dead letter when this batch commits."""
        self.rejections.set_aside(reason, record)

    def _emit(self, record: Mapping[str, Any], message: Mapping[str, Any], index: int) -> None:
        if not self.careful:
            try:
                row = self.rows_builder.from_dict(record, message)
            except UNENCODABLE as exc:  # e.g. a lone surrogate inside a jsonb value: the strict replay names it
                if self._failed is None:
                    self._failed = exc
                return
            self._send(row)
            return
        reason = self._excluded.get(index)
        if reason is None:
            try:
                row = self.rows_builder.strict(record, message)
                self._send(row, strict=True)
                self._written.append(index)
                return
            except ConversionError as exc:
                reason = str(exc)
        self.rejections.reject(reason, record)

    def _send(self, row: list[Any], *, strict: bool = False) -> None:
        """Write one row to the open COPY and note what its metadata asks of the commit.

        psycopg drops a row it cannot encode without corrupting the COPY. On the fast path that failure
        only marks the batch for a strict replay; on the strict path it rejects this one record.
        """
        if self._failed is None:
            try:
                self._copy.write_row(row)
            except Exception as exc:
                if strict and not is_connection_lost(exc, self.conn):
                    raise ConversionError(f"cannot be sent to PostgreSQL: {exc}") from None
                self._failed = exc
        if row[-2] is not None:
            self._flagged_deletes = True
        self._last_version = row[-1]

    # -- batch lifecycle ---------------------------------------------------------------------------------

    @property
    def copy_columns(self) -> list[str]:
        """Columns in the order rows are written."""
        return [c.name for c in self.plan.columns]

    def _begin(self) -> None:
        """Open the batch's COPY. A lost connection only marks the batch failed: records keep going to the
        spill file, and the commit reconnects and replays them."""
        self.last_used = time.monotonic()
        try:
            self._connect()
            if self.mode is Mode.STAGING and not self._staging_ready:
                merge.create_staging(self.conn, self.plan)
                self.conn.commit()
                self._staging_ready = True
            if self._truncate_pending:
                self.conn.execute(sql.SQL("TRUNCATE {}").format(self.plan.ident))
            target = merge.STAGING if self.mode is Mode.STAGING else self.plan.ident
            self._copy = CopyStream(self.conn, target, self.copy_columns)
        except Exception as exc:
            if not is_connection_lost(exc, self.conn):
                raise
            self._failed = exc

    def activate(self, version: int) -> None:
        """ACTIVATE_VERSION for this stream (see `activation` for when it takes effect)."""
        self.activation.activate(
            version, last_version=self._last_version, records_seen=self._committed_rows + self.rows
        )

    def settle_deferred_activation(self) -> None:
        """End of input: apply a waiting ACTIVATE_VERSION if no record followed it."""
        self.activation.settle(self._committed_rows + self.rows)

    @property
    def pending_activation(self) -> int | None:
        """The version whose older rows the next commit marks deleted (or deletes)."""
        return self.activation.pending

    @property
    def has_pending(self) -> bool:
        """True when a commit would write something."""
        return self.rows > 0 or self.pending_activation is not None or self.rejections.set_aside_count > 0

    def commit(self) -> None:
        """Make the open batch durable (one transaction), replaying it as often as recovery needs: after
        PostgreSQL rejected it, or on a new connection after the old one was lost."""
        if not self.has_pending:
            return
        attempts = failures = 0
        while True:
            try:
                rejected = self._commit_once()
                break
            except Exception as exc:
                if is_connection_lost(exc, self.conn):
                    self._drop_connection()
                    self._replay_pending = True
                    failures += 1
                    self.reconnect.pause(failures, f"stream '{self.stream}'", exc, then=self._after_reconnecting())
                    continue
                if not isinstance(exc, RECOVERABLE):
                    raise
                self._commit_in_doubt = None  # PostgreSQL answered: that transaction is rolled back
                self._rollback(exc)
                attempts += 1
                self._recover(exc, attempts)
                self._replay_pending = True
        if rejected:
            logger.warning(
                "stream '%s': %d record(s) rejected in this batch; see %s.dead_letters",
                self.stream,
                rejected,
                self.settings.log_schema,
            )
        self._reset_batch()

    def _after_reconnecting(self) -> str:
        if self._commit_in_doubt is not None:
            return f", then to find out whether the commit of its batch of {self.rows} records landed"
        return f", then to load its uncommitted batch of {self.rows} records again"

    def _commit_once(self) -> int:
        """One attempt: settle a commit left in doubt, replay the batch if needed, finish it and commit;
        returns how many records went to the dead letters."""
        conn = self._connect()
        if self._commit_in_doubt is not None:
            xid, backend_pid, rejected = self._commit_in_doubt
            landed = commit_landed(conn, xid, backend_pid, f"stream '{self.stream}'")
            self._commit_in_doubt = None
            if landed:
                logger.warning(
                    "stream '%s': the connection was lost while committing a batch of %d records, but that commit "
                    "had landed (transaction %d); it is not loaded again",
                    self.stream,
                    self.rows,
                    xid,
                )
                return rejected
        if self._replay_pending:
            self._replay()
        rejected = self._finish_batch()
        xid = conn.execute("SELECT txid_current()").fetchone()[0]
        self._commit_in_doubt = (xid, conn.info.backend_pid, rejected)
        conn.commit()
        self._commit_in_doubt = None
        return rejected

    def _finish_batch(self) -> int:
        """Everything the batch writes, in its transaction: rows, deletions, dead letters, run-log counts."""
        if self._failed is not None:
            raise self._failed
        if self._copy is not None:
            copy, self._copy = self._copy, None
            copy.finish()
        written = len(self._written) if self.careful else self.rows
        if self.mode is Mode.STAGING and written:
            inserted, updated, self._repeats_keys = merge.merge_staging(
                self.conn, self.plan, repeats_keys=self._repeats_keys
            )
        else:
            inserted, updated = written, 0
        deleted = 0
        if self.pending_activation is not None:
            hard = self.settings.hard_delete
            deleted += merge.activate_version(self.conn, self.plan, self.pending_activation, hard=hard)
        if self._flagged_deletes and self.settings.hard_delete:
            deleted += merge.delete_flagged(self.conn, self.plan)
        rejected = 0
        if self.rejections:
            rejected = self.run_log.store_dead_letters(self.conn, self.stream, self.table_name, self.rejections.lines())
        # In the batch's own transaction, so the run log counts each committed batch exactly once.
        self.run_log.add(
            self.stream, inserted=inserted, updated=updated, deleted=deleted, rejected=rejected, conn=self.conn
        )
        return rejected

    def _rollback(self, error: BaseException) -> None:
        if self._copy is not None:
            self._copy.abort(error)
            self._copy = None
        self._failed = None
        try:
            self.conn.rollback()
        except psycopg.Error as exc:
            if not is_connection_lost(exc, self.conn):
                raise
            self._drop_connection()  # lost right now: the next attempt reconnects (and replays anyway)

    def _recover(self, error: BaseException, attempts: int) -> None:
        """Decide how to replay a failed batch, or give up with an error that says what went wrong."""
        if isinstance(error, psycopg.errors.UniqueViolation) and self.mode is Mode.DIRECT:
            logger.info("stream '%s': table already holds some keys; merging from now on", self.stream)
            self.mode = Mode.STAGING
            return
        if not self.careful:
            self._bad_batches += 1
            self._sticky_careful = self._bad_batches >= 2
            logger.warning(
                "stream '%s': PostgreSQL rejected a batch of %d records (%s); replaying it record by record "
                "to set the bad ones aside",
                self.stream,
                self.rows,
                describe_error(error),
            )
            self.careful = True
            return
        line = copy_line_of(error) if isinstance(error, psycopg.Error) else None
        if line is None or line > len(self._written) or attempts > self.rows + 3:
            raise DataError(
                f"target-postgres: stream '{self.stream}': cannot load a batch into {self.table_name}: "
                f"{describe_error(error)}. No record of this batch was written; fix the table or the data and run again."
            ) from error
        self._excluded[self._written[line - 1]] = f"rejected by PostgreSQL: {describe_error(error)}"

    def _replay(self) -> None:
        """Send the batch again from the spill file; stops early once it has failed (the commit says why)."""
        self._replay_pending = False
        self._written = []
        self.rejections.replaying()
        self._begin()
        for index, line in enumerate(self.spill.lines()):
            if self._failed is not None:
                return
            try:
                message = decode_json(line)
            except RecursionError:  # deeper in the stack than the reader was: just past the decoder's limit
                self.rejections.reject(TOO_DEEP, decode_json(truncate_depth(line))["record"])
                continue
            record = message["record"]
            if NUL_ESCAPE in line:
                record = strip_nul(record)
            self._emit(record, message, index)

    def _reset_batch(self) -> None:
        self._committed_rows += self.rows
        self._replay_pending = False
        self.spill.reset()
        self.rejections.committed()
        self.rows = self.bytes = 0
        self._written, self._excluded = [], {}
        self._flagged_deletes = False
        self._truncate_pending = False
        self.activation.applied()
        if not self._sticky_careful:
            self.careful = False

    def abandon(self) -> None:
        """Drop the open batch and the connection (failure or interruption: nothing half-written commits)."""
        try:
            if self._copy is not None:
                self._copy.abort(RuntimeError("loader stopping"))
            if self.conn is not None:
                self.conn.rollback()
        except psycopg.Error:
            pass
        self.close()

    def close(self) -> None:
        """Release the connection and the spill files; say once how many records lost keys to NUL removal."""
        self.nul_merges.report()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.spill.close()
        self.rejections.close()
