"""The pipeline-run record: one row per `ponte run`, in `ponte.pipeline_runs` or, without a database, a file.

The row is written when the run starts (status `running`, so a 3 AM run is visible while it runs) and
completed when it ends. Its `run_id` is also the `run_id` of the targets' rows in `sync_runs` (next to it in
the same schema when `PONTE_DB_DSN` names the loader's database), `sync_jobs` and `dead_letters`.
Without `PONTE_DB_DSN` — or when the database cannot be reached — the record goes to a JSON Lines file
(`.ponte/pipeline_runs.jsonl`: a `running` line, then the final one), so it is never lost.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ponte.core.file_lock import private_file_lock
from ponte.core.private_files import append_lines
from ponte.runlog.database import create_tables

logger = logging.getLogger(__name__)

PIPELINE_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS {runs} (
    run_id uuid PRIMARY KEY,
    pipeline text NOT NULL,
    environment text,
    trigger text NOT NULL CHECK (trigger IN ('manual', 'schedule', 'webhook', 'catch-up')),
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'partial', 'stopped-quota')),
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    exit_code integer,
    plugins jsonb NOT NULL DEFAULT '[]',
    failed_plugin text,
    error text,
    streams jsonb NOT NULL DEFAULT '[]',
    dead_letters integer NOT NULL DEFAULT 0,
    command text,
    host text,
    pid integer
);
COMMENT ON TABLE {runs} IS 'One row per pipeline run started by ponte run: how it was started, how it ended, why it failed.';
COMMENT ON COLUMN {runs}.run_id IS 'Also the run_id of the run''s rows in sync_runs, sync_jobs and dead_letters.';
COMMENT ON COLUMN {runs}.plugins IS 'Each plugin in order: name, role, block, exit_code (null: its block never ran to the end).';
COMMENT ON COLUMN {runs}.error IS 'The failing plugin''s first error line (redacted).';
COMMENT ON COLUMN {runs}.streams IS 'The targets'' final rows per stream: plugin, stream, status, inserted, updated, deleted, rejected.';
CREATE INDEX IF NOT EXISTS pipeline_runs_pipeline_started ON {runs} (pipeline, started_at DESC);
"""


@dataclass
class PipelineRun:
    """One run of a pipeline, as recorded."""

    run_id: uuid.UUID
    pipeline: str
    trigger: str
    started_at: datetime
    environment: str | None = None
    status: str = "running"
    finished_at: datetime | None = None
    exit_code: int | None = None
    plugins: list[dict[str, Any]] = field(default_factory=list)
    failed_plugin: str | None = None
    error: str | None = None
    streams: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: int = 0
    command: str | None = None
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @classmethod
    def begin(cls, run_id: uuid.UUID, pipeline: str, trigger: str, **values: Any) -> PipelineRun:
        return cls(run_id, pipeline, trigger, datetime.now(UTC), **values)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_id"] = str(self.run_id)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


class RunStore(Protocol):
    """Where pipeline-run records go."""

    where: str

    def started(self, run: PipelineRun) -> None: ...

    def finished(self, run: PipelineRun) -> None: ...

    def close(self) -> None: ...


class FileRunStore:
    """JSON Lines, 0600, appended under the project's file lock; the last line of a run id is its record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def _append(self, run: PipelineRun) -> None:
        with private_file_lock(self.path, "run record", "PONTE_DB_DSN (or run from a writable project folder)"):
            append_lines(self.path, [run.to_json()])

    started = _append
    finished = _append

    def close(self) -> None:
        """Nothing to release."""


class PostgresRunStore:
    """`<schema>.pipeline_runs` (created if missing, under the same advisory lock as the run log's DDL)."""

    def __init__(self, conninfo: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self._sql = sql
        self.table = sql.Identifier(schema, "pipeline_runs")
        self.where = f"{schema}.pipeline_runs"
        self._conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        create_tables(self._conn, schema, PIPELINE_RUNS_DDL, runs=self.table)

    def _values(self, run: PipelineRun) -> dict[str, Any]:
        from psycopg.types.json import Jsonb

        values = {k: v for k, v in vars(run).items()}
        values["plugins"], values["streams"] = Jsonb(run.plugins), Jsonb(run.streams)
        return values

    def started(self, run: PipelineRun) -> None:
        columns = list(vars(run))
        query = self._sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self.table,
            self._sql.SQL(", ").join(map(self._sql.Identifier, columns)),
            self._sql.SQL(", ").join(self._sql.Placeholder(c) for c in columns),
        )
        self._conn.execute(query, self._values(run))

    def finished(self, run: PipelineRun) -> None:
        columns = [c for c in vars(run) if c != "run_id"]
        query = self._sql.SQL("UPDATE {} SET {} WHERE run_id = %(run_id)s").format(
            self.table,
            self._sql.SQL(", ").join(
                self._sql.SQL("{} = {}").format(self._sql.Identifier(c), self._sql.Placeholder(c)) for c in columns
            ),
        )
        if self._conn.execute(query, self._values(run)).rowcount == 0:
            self.started(run)  # the start was recorded elsewhere (the database was down then)

    def close(self) -> None:
        self._conn.close()
