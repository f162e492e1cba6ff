"""The loader: one `StreamSink` per stream, STATE held until what precedes it is committed.

SDK-free on purpose: the console script runs it directly (no singer-sdk import on the load path), and the
singer-sdk `TargetPostgres` class drives the same object when stream maps, `--about` or the SDK's test
suites need the SDK.

STATE rule: a STATE message is written to stdout only once every record received before it is committed.
When nothing is pending it is written at once; otherwise it waits for the next commit of all open batches,
which happens when a batch is full (rows or bytes), at ACTIVATE_VERSION, before a schema change, before a
new stream opens a connection beyond `max_connections`, on a STATE arriving after `flush_interval_seconds`,
and at the end of the input.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import psycopg

from ponte.core.errors import DataError, PonteError
from ponte.targets.postgres import protocol
from ponte.targets.postgres.reader import read_messages
from ponte.targets.postgres.reconnect import DatabaseUnavailable, Reconnect, first_line
from ponte.targets.postgres.run_log import RunLog
from ponte.targets.postgres.settings import LoaderSettings
from ponte.targets.postgres.sink import StreamSink
from ponte.targets.postgres.values import encode_json_any

Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]
Route = tuple["Transform | None", str, Mapping[str, Any], Sequence[str]]
"""(transform or None for "unchanged", stream alias, schema after the transform, key properties)."""


class LoadInterrupted(SystemExit):
    """SIGTERM/SIGINT: open batches are rolled back (already-emitted STATE stays true) and we exit 128+n."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"stopped by signal {self.signum}"


class Loader:
    """Routes Singer messages to stream sinks and decides when to commit and emit STATE."""

    def __init__(self, settings: LoaderSettings, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.logger = logger or logging.getLogger("target-postgres")
        self.direct: dict[str, StreamSink] = {}
        self.mapped: dict[str, list[tuple[Transform, StreamSink]]] = {}
        self.sinks: dict[str, StreamSink] = {}
        self._schemas: dict[str, tuple[Any, list[str]]] = {}
        self._run_log: RunLog | None = None
        self._state: Any = None
        self._emitted_state: Any = None
        self._last_flush = time.monotonic()

    @property
    def run_log(self) -> RunLog:
        """The run log, opened with the first stream (so `--about` and `--help` never connect)."""
        if self._run_log is None:
            reconnect = Reconnect(self.settings.reconnect_attempts, self.settings.reconnect_backoff_seconds)
            self._run_log = RunLog(
                self.settings.conninfo, self.settings.log_schema, self.settings.pipeline_name, reconnect
            )
        return self._run_log

    @property
    def callbacks(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        """Handlers for the non-RECORD messages when no SDK target sits in front."""
        return {
            "SCHEMA": self.on_schema,
            "STATE": self.on_state,
            "ACTIVATE_VERSION": self.on_activate_version,
            "BATCH": self.on_batch,
        }

    def read(
        self, file_input: IO[Any] | None, callbacks: Mapping[str, Callable[[dict], None]] | None = None
    ) -> Counter:
        """Process the whole input; any failure is recorded (run log, rollback) before it propagates."""
        try:
            return read_messages(
                file_input,
                routes=self.direct,
                on_record=self.on_record,
                on_full=self.flush_all,
                callbacks=callbacks or self.callbacks,
                on_unreadable=self.on_unreadable,
            )
        except BaseException as exc:
            self.fail(exc)
            raise

    # -- streams -----------------------------------------------------------------------------------------

    def on_schema(self, message: dict[str, Any]) -> None:
        """SCHEMA without stream maps: the stream loads unchanged into its own table."""
        protocol.require(message, ["stream", "schema"])
        protocol.require(message["schema"], ["properties"])
        stream, schema = message["stream"], message["schema"]
        keys = list(message.get("key_properties") or [])
        if self._schemas.get(stream) == (schema, keys):
            return
        self._schemas[stream] = (schema, keys)
        self.attach(stream, [(None, stream, schema, keys)])

    def attach(self, stream: str, routes: Sequence[Route]) -> None:
        """Point a stream at its sinks (creating or evolving their tables)."""
        attached: list[tuple[Transform | None, StreamSink]] = []
        for transform, alias, schema, keys in routes:
            sink = self.sinks.get(alias)
            if sink is None:
                self._make_room()
                sink = self.sinks[alias] = StreamSink(self.settings, self.run_log, alias, schema, list(keys))
            elif sink.schema != schema or list(sink.keys) != list(keys):
                self.flush_all()
                sink.prepare(schema, list(keys))
            attached.append((transform, sink))
        self.direct.pop(stream, None)
        self.mapped.pop(stream, None)
        if len(attached) == 1 and attached[0][0] is None:
            self.direct[stream] = attached[0][1]
        else:
            self.mapped[stream] = [(t or (lambda r: r), s) for t, s in attached]

    def on_record(self, message: dict[str, Any], line: bytes) -> None:
        """A RECORD the reader did not route itself (stream maps, NUL characters, or no SCHEMA yet)."""
        protocol.require(message, ["stream", "record"])
        stream, record = message["stream"], message["record"]
        if not isinstance(record, dict):
            raise protocol.invalid_line(f"RECORD for stream '{stream}': 'record' must be a JSON object")
        sink = self.direct.get(stream)
        if sink is not None:
            if sink.write(record, message, line):
                self.flush_all()
            return
        routes = self.mapped.get(stream)
        if routes is None:
            raise protocol.record_before_schema(stream)
        full = False
        for transform, sink in routes:
            transformed = transform(copy.copy(record))
            if transformed is None:
                continue
            envelope = {k: message[k] for k in ("version", "time_extracted") if k in message}
            spilled = encode_json_any({**envelope, "record": transformed}) + b"\n"
            full = sink.write(transformed, envelope, spilled) or full
        if full:
            self.flush_all()

    def on_unreadable(self, message: dict[str, Any], reason: str) -> None:
        """A RECORD that cannot be decoded (cut down to its first levels): a dead letter in each of its tables."""
        stream = message["stream"]
        sinks = self._sinks_of(stream)
        if not sinks:
            raise protocol.record_before_schema(stream)
        for sink in sinks:
            sink.set_aside(message["record"], reason)

    def _sinks_of(self, stream: str) -> list[StreamSink]:
        return [self.direct[stream]] if stream in self.direct else [sink for _, sink in self.mapped.get(stream, [])]

    def on_state(self, message: dict[str, Any]) -> None:
        """Remember the STATE; emit it now if nothing is pending, else at the next commit."""
        protocol.require(message, ["value"])
        self._state = message["value"]
        if not any(sink.has_pending for sink in self.sinks.values()):
            self._emit_state()
        elif time.monotonic() - self._last_flush >= self.settings.flush_interval_seconds:
            self.flush_all()

    def on_activate_version(self, message: dict[str, Any]) -> None:
        """Full-table sync finished: rows it did not send are marked deleted (or deleted)."""
        protocol.require(message, ["stream", "version"])
        stream = message["stream"]
        if not self.settings.process_activate_version:
            self.logger.warning("ACTIVATE_VERSION for '%s' ignored (process_activate_version_messages is off)", stream)
            return
        sinks = self._sinks_of(stream)
        if not sinks:
            self.logger.warning("ACTIVATE_VERSION for '%s' arrived before its SCHEMA; ignored", stream)
            return
        for sink in sinks:
            sink.activate(int(message["version"]))
        if any(sink.pending_activation is not None for sink in sinks):
            self.flush_all()

    def on_batch(self, message: dict[str, Any]) -> None:
        """BATCH messages point at files; we load RECORDs only."""
        raise DataError(
            f"target-postgres: BATCH messages (stream '{message.get('stream')}') are not supported; "
            "remove batch_config from the tap's settings so it sends RECORD messages"
        )

    # -- commits, state, end -----------------------------------------------------------------------------

    def flush_all(self) -> None:
        """Commit every stream's open batch, then emit the latest STATE (now true of the database)."""
        for sink in self.sinks.values():
            sink.commit()
        self._last_flush = time.monotonic()
        self._emit_state()
        self._limit_connections()

    def _make_room(self) -> None:
        """Before a new stream opens its connection: at the cap, commit open batches and free idle ones."""
        connected = [sink for sink in self.sinks.values() if sink.conn is not None]
        if len(connected) < self.settings.max_connections:
            return
        if any(sink.has_pending for sink in connected):
            self.flush_all()
        self._limit_connections(reserve=1)

    def _limit_connections(self, reserve: int = 0) -> None:
        """Close the connections of the least recently used idle streams beyond `max_connections`."""
        connected = [sink for sink in self.sinks.values() if sink.conn is not None]
        excess = len(connected) + reserve - self.settings.max_connections
        if excess <= 0:
            return
        idle = sorted((sink for sink in connected if not sink.has_pending), key=lambda sink: sink.last_used)
        for sink in idle[:excess]:
            sink.release()

    def _emit_state(self) -> None:
        if self._state is None or self._state == self._emitted_state:
            return
        sys.stdout.write(encode_json_any(self._state).decode("utf-8") + "\n")
        sys.stdout.flush()
        self._emitted_state = copy.deepcopy(self._state)

    def finish(self) -> None:
        """End of input: settle deferred deletions, commit, emit the last STATE, close the run log."""
        try:
            for sink in self.sinks.values():
                sink.settle_deferred_activation()
            self.flush_all()
            for sink in self.sinks.values():
                self.run_log.finish(sink.stream, "succeeded")
                sink.close()
            self.sinks.clear()
            if self._run_log is not None:
                self._run_log.close()
                self._run_log = None
        except BaseException as exc:
            self.fail(exc)
            raise

    def fail(self, error: BaseException) -> None:
        """Roll back open batches and record the failure in the run log (best effort: the DB may be gone)."""
        status = "interrupted" if isinstance(error, (LoadInterrupted, KeyboardInterrupt)) else "failed"
        for sink in self.sinks.values():
            sink.abandon()
        self.sinks.clear()
        self.direct.clear()
        self.mapped.clear()
        if self._run_log is None:
            return
        unreachable = isinstance(error, DatabaseUnavailable)
        if unreachable:  # it just stayed away through a whole backoff: no second one
            self._run_log.reconnect = dataclasses.replace(self._run_log.reconnect, attempts=0)
        try:
            self._run_log.finish_all(status, f"{type(error).__name__}: {error}"[:4000])
            self._run_log.close()
        except (PonteError, psycopg.Error) as exc:
            self.logger.error(
                "could not record the failure in the run log %s.sync_runs (%s); the next run of this pipeline "
                "will mark this one interrupted",
                self.settings.log_schema,
                "the database is unreachable" if unreachable else first_line(exc),
            )
        except Exception:
            self.logger.exception("could not record the failure in the run log")
        self._run_log = None
