"""The client-side job log of an API target: every batch job it submitted, and how each one ended.

Ingest APIs such as RetailPortal log only errors and one summary per batch on their side (seed §9.6); §9.4
"Estratégia 3" asks the client to keep its own log: job id, entity, item count, created, finished, state,
failure count. Ponte adds the run id, the plugin and the URL path the batch went to, so an operator can join
jobs to `sync_runs` and `dead_letters` and ask the API about one job.

Two backends share one interface: `PostgresJobLog` (`<schema>.sync_jobs`, next to the run log and the dead
letters) and `FileJobLog` (JSON Lines, for setups without a database). `build_job_log` picks one from the
target config.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ponte.core.closable import Closable
from ponte.core.errors import ConfigError
from ponte.core.file_lock import private_file_lock
from ponte.core.private_files import append_lines
from ponte.runlog import database
from ponte.runlog.dead_letters import run_uuid
from ponte.runlog.tables import JOBS_DDL

Redact = Callable[[str], str]
SUBMITTED = "submitted"
DEFAULT_PATH = ".ponte/jobs.jsonl"


@dataclass
class JobEntry:
    """One submitted batch job; `state` is 'submitted' until the API reports a final state."""

    plugin: str
    job_id: str
    entity: str
    items: int
    run_id: str | None = None
    path: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    state: str = SUBMITTED
    succeeded: int | None = None
    failed: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


@dataclass(frozen=True)
class JobEnd:
    """How a job ended, as the API reported it."""

    job_id: str
    state: str
    succeeded: int
    failed: int
    finished_at: datetime
    error: str | None


def _now(at: datetime | None) -> datetime:
    return at if at is not None else datetime.now(UTC)


class JobLog(Closable, ABC):
    """Where an API target records the jobs it submitted. Every text it stores goes through `redact`."""

    def __init__(self, redact: Redact | None = None) -> None:
        self.redact = redact or (lambda text: text)

    def submitted(
        self,
        *,
        run_id: str,
        plugin: str,
        job_id: str,
        entity: str,
        items: int,
        created_at: datetime | None = None,
        path: str | None = None,
    ) -> None:
        """Record a job the API accepted; submitting the same (plugin, job id) again starts it afresh."""
        self._save_submitted(
            JobEntry(
                plugin=plugin,
                job_id=job_id,
                entity=entity,
                items=items,
                run_id=run_id,
                path=None if path is None else self.redact(path),
                created_at=_now(created_at),
            )
        )

    def finished(
        self,
        *,
        job_id: str,
        state: str,
        succeeded: int,
        failed: int,
        finished_at: datetime | None = None,
        error: str | None = None,
        plugin: str | None = None,
    ) -> None:
        """Record how a job ended (the API's final state and counts). `plugin` narrows the match when job ids
        of different plugins could collide; a job id never submitted is ignored."""
        end = JobEnd(job_id, state, succeeded, failed, _now(finished_at), None if error is None else self.redact(error))
        self._save_finished(end, plugin)

    @abstractmethod
    def _save_submitted(self, entry: JobEntry) -> None:
        """Store a new (or re-submitted) job; its texts are already redacted."""

    @abstractmethod
    def _save_finished(self, end: JobEnd, plugin: str | None) -> None:
        """Store how a job ended; its texts are already redacted."""

    @abstractmethod
    def list(self, *, plugin: str | None = None, run_id: str | None = None, limit: int = 100) -> list[JobEntry]:
        """Jobs matching the filters, newest first."""


# -- file ---------------------------------------------------------------------------------------------


class FileJobLog(JobLog):
    """JSON Lines of `submitted` and `finished` events (mode 0600); `list` folds them into entries.

    Writers only append, under an exclusive lock on `<path>.lock`, so several processes and threads can share
    one file.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH, redact: Redact | None = None) -> None:
        super().__init__(redact)
        self.path = Path(path)

    def _lock(self) -> Any:
        return private_file_lock(self.path, "job log", "job_log_path")

    def _append(self, event: dict[str, Any]) -> None:
        with self._lock():
            append_lines(self.path, [event])

    def _save_submitted(self, entry: JobEntry) -> None:
        self._append(
            {
                "event": "submitted",
                "run_id": entry.run_id,
                "plugin": entry.plugin,
                "job_id": entry.job_id,
                "entity": entry.entity,
                "items": entry.items,
                "path": entry.path,
                "at": entry.created_at.isoformat(),
            }
        )

    def _save_finished(self, end: JobEnd, plugin: str | None) -> None:
        self._append(
            {
                "event": "finished",
                "plugin": plugin,
                "job_id": end.job_id,
                "state": end.state,
                "succeeded": end.succeeded,
                "failed": end.failed,
                "error": end.error,
                "at": end.finished_at.isoformat(),
            }
        )

    def _fold(self) -> dict[tuple[str, str], JobEntry]:
        entries: dict[tuple[str, str], JobEntry] = {}
        try:
            handle = self.path.open(encoding="utf-8")
        except FileNotFoundError:
            return entries
        with handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                    at = datetime.fromisoformat(event["at"])
                    if event["event"] == "submitted":
                        key = (event["plugin"], event["job_id"])
                        entries.pop(key, None)  # a re-submitted job moves to the end, as the newest
                        entries[key] = JobEntry(
                            plugin=event["plugin"],
                            job_id=event["job_id"],
                            entity=event["entity"],
                            items=event["items"],
                            run_id=event.get("run_id"),
                            path=event.get("path"),
                            created_at=at,
                        )
                    elif event["event"] == "finished":
                        for (plugin, job_id), entry in entries.items():
                            if job_id == event["job_id"] and event.get("plugin") in (None, plugin):
                                entry.state = event["state"]
                                entry.succeeded = event["succeeded"]
                                entry.failed = event["failed"]
                                entry.error = event.get("error")
                                entry.finished_at = at
                except (ValueError, KeyError, TypeError):
                    raise ConfigError(
                        f"job log {self.path} line {number} is not a job event; fix or remove that line"
                    ) from None
        return entries

    def list(self, *, plugin: str | None = None, run_id: str | None = None, limit: int = 100) -> list[JobEntry]:
        with self._lock():
            entries = list(self._fold().values())
        found = [
            entry
            for entry in entries
            if (plugin is None or entry.plugin == plugin) and (run_id is None or entry.run_id == run_id)
        ]
        found.sort(key=lambda entry: entry.created_at, reverse=True)
        return found[:limit]


# -- PostgreSQL ---------------------------------------------------------------------------------------

_SELECT = (
    "SELECT plugin, job_id, entity, items, run_id::text, path, created_at, finished_at, state, succeeded, failed, "
    "error FROM {jobs}"
)


class PostgresJobLog(JobLog):
    """`<schema>.sync_jobs`, next to `sync_runs` and `dead_letters`, on its own autocommit connection so a
    job stays logged whatever the target's transactions do.

    Run ids that are not UUIDs are stored as their stable uuid5, as `dead_letters` does, so all three tables join.
    """

    def __init__(self, dsn: str, schema: str = "ponte", redact: Redact | None = None) -> None:
        from psycopg import sql

        super().__init__(redact)
        self.schema = schema
        self._sql = sql
        self._jobs = sql.Identifier(schema, "sync_jobs")
        self._conn = database.connect(dsn, "job log", self.redact)
        database.create_tables(self._conn, schema, JOBS_DDL, jobs=self._jobs)

    def _q(self, text: str) -> Any:
        return self._sql.SQL(text).format(jobs=self._jobs)

    def _save_submitted(self, entry: JobEntry) -> None:
        self._conn.execute(
            self._q(
                "INSERT INTO {jobs} (plugin, job_id, run_id, entity, path, items, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (plugin, job_id) DO UPDATE SET "
                "run_id = EXCLUDED.run_id, entity = EXCLUDED.entity, path = EXCLUDED.path, items = EXCLUDED.items, "
                "created_at = EXCLUDED.created_at, state = 'submitted', finished_at = NULL, succeeded = NULL, "
                "failed = NULL, error = NULL"
            ),
            (
                entry.plugin,
                entry.job_id,
                run_uuid(entry.run_id),
                entry.entity,
                entry.path,
                entry.items,
                entry.created_at,
            ),
        )

    def _save_finished(self, end: JobEnd, plugin: str | None) -> None:
        self._conn.execute(
            self._q(
                "UPDATE {jobs} SET state = %s, succeeded = %s, failed = %s, finished_at = %s, error = %s "
                "WHERE job_id = %s AND (%s::text IS NULL OR plugin = %s)"
            ),
            (end.state, end.succeeded, end.failed, end.finished_at, end.error, end.job_id, plugin, plugin),
        )

    def list(self, *, plugin: str | None = None, run_id: str | None = None, limit: int = 100) -> list[JobEntry]:
        where, params = [], []
        if plugin is not None:
            where.append("plugin = %s")
            params.append(plugin)
        if run_id is not None:
            where.append("run_id = %s")
            params.append(run_uuid(run_id))
        text = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC LIMIT %s"
        params.append(limit)
        return [JobEntry(*row) for row in self._conn.execute(self._q(text), params).fetchall()]

    def close(self) -> None:
        self._conn.close()


def build_job_log(config: Mapping[str, Any], redact: Redact | None = None) -> JobLog:
    """`run_log_dsn` (+ `run_log_schema`, default ponte) → PostgresJobLog; else `job_log_path` → FileJobLog."""
    dsn = config.get("run_log_dsn")
    if dsn:
        return PostgresJobLog(str(dsn), schema=str(config.get("run_log_schema") or "ponte"), redact=redact)
    return FileJobLog(config.get("job_log_path") or DEFAULT_PATH, redact=redact)
