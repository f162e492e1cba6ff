"""The dead-letter model, its store interface, and the file and PostgreSQL backends."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ponte.core.closable import Closable
from ponte.core.errors import ConfigError, PonteError
from ponte.core.file_lock import private_file_lock
from ponte.core.private_files import append_lines, replace_lines
from ponte.runlog import database, report
from ponte.runlog.tables import DEAD_LETTER_API_DDL, RUNS_DDL

STATUSES = ("open", "replayed", "discarded")
Redact = Callable[[str], str]


class DeadLetterNotFound(PonteError):
    """No dead letter has the id the operator gave."""

    exit_code = 2


@dataclass
class DeadLetter:
    """One record a target could not deliver, and why."""

    target: str
    stream: str
    record: dict[str, Any]
    reason: str
    entity: str | None = None
    api_response: Any = None
    run_id: str | None = None
    id: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "open"
    pipeline: str | None = None  # target-postgres's pipeline_name; API targets leave it to their plugin name

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeadLetter:
        values = dict(data)
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def report_stored(letters: Iterable[DeadLetter]) -> None:
    """Tell `ponte run` (when it started this process) how many records were dead-lettered: the run is partial."""
    for (target, stream), count in Counter((letter.target, letter.stream) for letter in letters).items():
        report.report(report.DEAD_LETTERS, plugin=target, stream=stream, count=count)


def _check_status(status: str, *, allow_all: bool = False) -> None:
    if status not in STATUSES and not (allow_all and status == "all"):
        allowed = ", ".join((*STATUSES, "all") if allow_all else STATUSES)
        raise ConfigError(f"unknown dead-letter status '{status}'; use one of: {allowed}")


def redact_letter(letter: DeadLetter, redact: Redact | None) -> DeadLetter:
    """Apply `redact` to the reason and the API response text, so secrets never reach the store."""
    if redact is None:
        return letter
    response = letter.api_response
    if response is not None:
        text = response if isinstance(response, str) else json.dumps(response, ensure_ascii=False, default=str)
        cleaned = redact(text)
        if isinstance(response, str):
            response = cleaned
        else:
            try:
                response = json.loads(cleaned)
            except ValueError:
                response = cleaned
    return replace(letter, reason=redact(letter.reason), api_response=response)


@dataclass(frozen=True)
class LetterFilter:
    """What `DeadLetterStore.list` asks for: every filter given (not None) must match; status 'all' matches any."""

    target: str | None = None
    stream: str | None = None
    status: str = "open"
    run_id: str | None = None
    pipeline: str | None = None
    entity: str | None = None
    reason: str | None = None  # a part of the reason, any case
    before_id: int | None = None  # keyset paging, newest first: only letters with a smaller id

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.target is None or letter.target == self.target)
            and (self.stream is None or letter.stream == self.stream)
            and (self.status == "all" or letter.status == self.status)
            and (self.run_id is None or letter.run_id == self.run_id)
            and (self.pipeline is None or (letter.pipeline or letter.target) == self.pipeline)
            and (self.entity is None or (letter.entity or letter.stream) == self.entity)
            and (self.reason is None or self.reason.casefold() in letter.reason.casefold())
            and (self.before_id is None or (letter.id is not None and letter.id < self.before_id))
        )


def not_found(ids: Iterable[int], where: object) -> DeadLetterNotFound:
    """The error for ids no letter in `where` (a file or a table) has."""
    return DeadLetterNotFound(f"no dead letter with id {', '.join(map(str, sorted(ids)))} in {where}")


class DeadLetterStore(Closable, ABC):
    """Where dead letters of every target are kept. Statuses are checked here, once for every backend."""

    def __init__(self, redact: Redact | None = None) -> None:
        self.redact = redact

    @abstractmethod
    def add(self, letters: Iterable[DeadLetter]) -> list[int]:
        """Store new letters (status open); return their ids."""

    def list(
        self,
        target: str | None = None,
        stream: str | None = None,
        status: str = "open",
        run_id: str | None = None,
        limit: int | None = 100,
    ) -> list[DeadLetter]:
        """Letters matching every given filter, oldest first; status 'all' matches any status."""
        _check_status(status, allow_all=True)
        return self._find(LetterFilter(target, stream, status, run_id), limit)

    @abstractmethod
    def _find(self, wanted: LetterFilter, limit: int | None) -> list[DeadLetter]:
        """The letters `list` returns; the status is already checked."""

    def page(self, wanted: LetterFilter, limit: int = 50) -> list[DeadLetter]:
        """Letters matching `wanted`, newest first, at most `limit` (the panel's list: keyset paging on the id)."""
        _check_status(wanted.status, allow_all=True)
        return self._page(wanted, limit)

    @abstractmethod
    def _page(self, wanted: LetterFilter, limit: int) -> list[DeadLetter]:
        """What `page` does; the status is already checked."""

    @abstractmethod
    def choices(self) -> dict[str, list[str]]:
        """The pipelines and entities letters name (`pipeline`, `entity`), for the panel's filters."""

    @abstractmethod
    def get(self, id: int) -> DeadLetter:
        """One letter; raises DeadLetterNotFound."""

    def mark(self, ids: Iterable[int], status: str) -> int:
        """Set the status of these letters; unknown ids raise DeadLetterNotFound. Returns how many changed."""
        _check_status(status)
        return self._mark(ids, status)

    @abstractmethod
    def _mark(self, ids: Iterable[int], status: str) -> int:
        """What `mark` does; the status is already checked."""

    @abstractmethod
    def update_record(self, id: int, record: dict[str, Any]) -> None:
        """Replace a letter's record (the operator fixed its data)."""


# -- file ---------------------------------------------------------------------------------------------


class FileDeadLetterStore(DeadLetterStore):
    """JSON Lines, one letter a line; appends add lines, marks and edits rewrite the file atomically.

    Every access holds an exclusive `flock` on `<path>.lock`; the file is created 0600 since records can
    hold personal data.
    """

    def __init__(self, path: str | os.PathLike[str], redact: Redact | None = None) -> None:
        super().__init__(redact)
        self.path = Path(path)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return private_file_lock(self.path, "dead-letter", "dead_letter_path")

    def _read(self) -> list[DeadLetter]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [DeadLetter.from_json(json.loads(line)) for line in handle if line.strip()]

    def _write_all(self, letters: list[DeadLetter]) -> None:
        replace_lines(self.path, (letter.to_json() for letter in letters))

    def add(self, letters: Iterable[DeadLetter]) -> list[int]:
        with self._locked():
            existing = self._read()
            next_id = max((letter.id or 0 for letter in existing), default=0) + 1
            new = []
            for letter in letters:
                new.append(replace(redact_letter(letter, self.redact), id=next_id, status="open"))
                next_id += 1
            append_lines(self.path, (letter.to_json() for letter in new))
        report_stored(new)
        return [letter.id for letter in new if letter.id is not None]

    def _find(self, wanted: LetterFilter, limit: int | None) -> list[DeadLetter]:
        with self._locked():
            letters = self._read()
        found = [letter for letter in letters if wanted.matches(letter)]
        return found if limit is None else found[:limit]

    def _page(self, wanted: LetterFilter, limit: int) -> list[DeadLetter]:
        return sorted(self._find(wanted, None), key=lambda letter: letter.id or 0, reverse=True)[:limit]

    def choices(self) -> dict[str, list[str]]:
        letters = self._find(LetterFilter(status="all"), None)
        return {
            "pipeline": sorted({letter.pipeline or letter.target for letter in letters}),
            "entity": sorted({letter.entity or letter.stream for letter in letters}),
        }

    def get(self, id: int) -> DeadLetter:
        with self._locked():
            for letter in self._read():
                if letter.id == id:
                    return letter
        raise not_found([id], self.path)

    def _change(self, ids: Iterable[int], change: Callable[[DeadLetter], DeadLetter]) -> int:
        wanted = set(ids)
        with self._locked():
            letters = self._read()
            missing = wanted - {letter.id for letter in letters}
            if missing:
                raise not_found(missing, self.path)
            updated = [change(letter) if letter.id in wanted else letter for letter in letters]
            self._write_all(updated)
        return len(wanted)

    def _mark(self, ids: Iterable[int], status: str) -> int:
        return self._change(ids, lambda letter: replace(letter, status=status))

    def update_record(self, id: int, record: dict[str, Any]) -> None:
        self._change([id], lambda letter: replace(letter, record=dict(record)))


# -- PostgreSQL ---------------------------------------------------------------------------------------

_SELECT = (
    "SELECT id, COALESCE(target, 'postgres'), stream, COALESCE(entity, target_table), record, reason, "
    "api_response, run_id::text, rejected_at, status, pipeline FROM {dead}"
)


def run_uuid(run_id: str | None) -> uuid.UUID:
    """The table's run_id is a uuid: keep one as is, map any other run label to a stable uuid5."""
    if run_id is None:
        return uuid.uuid4()
    try:
        return uuid.UUID(str(run_id))
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"ponte-run:{run_id}")


class PostgresDeadLetterStore(DeadLetterStore):
    """The `<schema>.dead_letters` table target-postgres writes, extended for every target."""

    def __init__(self, dsn: str, schema: str = "ponte", redact: Redact | None = None) -> None:
        from psycopg import sql

        super().__init__(redact)
        self.schema = schema
        self._sql = sql
        self._dead = sql.Identifier(schema, "dead_letters")
        self._conn = database.connect(dsn, "dead-letter", redact)
        runs = sql.Identifier(schema, "sync_runs")
        database.create_tables(self._conn, schema, RUNS_DDL, DEAD_LETTER_API_DDL, runs=runs, dead=self._dead)

    def _q(self, text: str) -> Any:
        return self._sql.SQL(text).format(dead=self._dead)

    @staticmethod
    def _letter(row: tuple) -> DeadLetter:
        id_, target, stream, entity, record, reason, response, run_id, created_at, status, pipeline = row
        return DeadLetter(
            id=id_,
            target=target,
            stream=stream,
            entity=entity,
            record=record if isinstance(record, dict) else {"value": record},
            reason=reason,
            api_response=response,
            run_id=run_id,
            created_at=created_at,
            status=status,
            pipeline=pipeline,
        )

    def add(self, letters: Iterable[DeadLetter]) -> list[int]:
        from psycopg.types.json import Jsonb

        ids = []
        stored = []
        with self._conn.transaction():
            for letter in letters:
                letter = redact_letter(letter, self.redact)
                stored.append(letter)
                row = self._conn.execute(
                    self._q(
                        "INSERT INTO {dead} (run_id, pipeline, stream, target_table, rejected_at, reason, record, "
                        "entity, api_response, target, status) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'open') RETURNING id"
                    ),
                    (
                        run_uuid(letter.run_id),
                        letter.pipeline or letter.target,
                        letter.stream,
                        letter.entity or letter.stream,
                        letter.created_at,
                        letter.reason,
                        Jsonb(letter.record),
                        letter.entity,
                        None if letter.api_response is None else Jsonb(letter.api_response),
                        letter.target,
                    ),
                ).fetchone()
                ids.append(row[0])
        report_stored(stored)
        return ids

    def _where(self, wanted: LetterFilter) -> tuple[str, list[Any]]:
        """The WHERE clause of `wanted`: each filter on an indexed column or expression (DEAD_LETTER_API_DDL)."""
        where: list[str] = []
        params: list[Any] = []
        if wanted.target is not None:
            where.append("COALESCE(target, 'postgres') = %s")
            params.append(wanted.target)
        if wanted.stream is not None:
            where.append("stream = %s")
            params.append(wanted.stream)
        if wanted.status != "all":
            where.append("status = %s")
            params.append(wanted.status)
        if wanted.run_id is not None:
            where.append("run_id = %s")
            params.append(run_uuid(wanted.run_id))
        if wanted.pipeline is not None:
            where.append("pipeline = %s")
            params.append(wanted.pipeline)
        if wanted.entity is not None:
            where.append("COALESCE(entity, target_table) = %s")
            params.append(wanted.entity)
        if wanted.reason is not None:
            where.append("strpos(lower(reason), lower(%s)) > 0")
            params.append(wanted.reason)
        if wanted.before_id is not None:
            where.append("id < %s")
            params.append(wanted.before_id)
        return (" WHERE " + " AND ".join(where) if where else ""), params

    def _find(self, wanted: LetterFilter, limit: int | None) -> list[DeadLetter]:
        where, params = self._where(wanted)
        text = _SELECT + where + " ORDER BY id"
        if limit is not None:
            text += " LIMIT %s"
            params.append(limit)
        return [self._letter(row) for row in self._conn.execute(self._q(text), params).fetchall()]

    def _page(self, wanted: LetterFilter, limit: int) -> list[DeadLetter]:
        where, params = self._where(wanted)
        rows = self._conn.execute(self._q(_SELECT + where + " ORDER BY id DESC LIMIT %s"), [*params, limit])
        return [self._letter(row) for row in rows.fetchall()]

    def choices(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, column in (("pipeline", "pipeline"), ("entity", "COALESCE(entity, target_table)")):
            # a loose index scan: one index probe per distinct value, not a pass over every letter
            query = (
                f"WITH RECURSIVE v AS (SELECT min({column}) AS x FROM {{dead}} UNION ALL "
                f"SELECT (SELECT min({column}) FROM {{dead}} WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL) "
                "SELECT x FROM v WHERE x IS NOT NULL"
            )
            found[name] = [row[0] for row in self._conn.execute(self._q(query)).fetchall()]
        return found

    def get(self, id: int) -> DeadLetter:
        row = self._conn.execute(self._q(_SELECT + " WHERE id = %s"), (id,)).fetchone()
        if row is None:
            raise not_found([id], f"{self.schema}.dead_letters")
        return self._letter(row)

    def _require(self, ids: list[int]) -> None:
        found = {r[0] for r in self._conn.execute(self._q("SELECT id FROM {dead} WHERE id = ANY(%s)"), (ids,))}
        missing = sorted(set(ids) - found)
        if missing:
            raise not_found(missing, f"{self.schema}.dead_letters")

    def _mark(self, ids: Iterable[int], status: str) -> int:
        wanted = sorted(set(ids))
        with self._conn.transaction():
            self._require(wanted)
            cursor = self._conn.execute(
                self._q(
                    "UPDATE {dead} SET status = %s, "
                    "replayed_at = CASE WHEN %s = 'replayed' THEN now() ELSE replayed_at END WHERE id = ANY(%s)"
                ),
                (status, status, wanted),
            )
        return cursor.rowcount

    def update_record(self, id: int, record: dict[str, Any]) -> None:
        from psycopg.types.json import Jsonb

        with self._conn.transaction():
            self._require([id])
            self._conn.execute(self._q("UPDATE {dead} SET record = %s WHERE id = %s"), (Jsonb(record), id))

    def close(self) -> None:
        self._conn.close()


DEFAULT_FILE = ".ponte/dead_letters.jsonl"

# The one dead-letter vocabulary: every plugin kind that sets records aside (API targets, the mapper) takes these
# settings; target-postgres keeps its letters in its own database (`<schema>.dead_letters`, the same table).
DEAD_LETTER_SETTINGS: tuple[dict[str, Any], ...] = (
    {"name": "dead_letter_store", "kind": "string", "default": "file",
     "description": "Where refused records go: `file` (JSON Lines at dead_letter_path), `postgres` (dead_letter_dsn) "
                    "or `none`."},
    {"name": "dead_letter_path", "kind": "string", "default": DEFAULT_FILE,
     "description": "Dead-letter file (`ponte dlq list --store file:<path>`)."},
    {"name": "dead_letter_dsn", "kind": "string", "secret": True,
     "description": "PostgreSQL DSN of the dead-letter table (the same `<schema>.dead_letters` target-postgres uses)."},
    {"name": "dead_letter_schema", "kind": "string", "default": "ponte", "description": "Schema of the dead-letter table."},
)  # fmt: skip


def dead_letter_store_from_settings(
    config: Mapping[str, Any],
    plugin: str,
    *,
    default: str = "file",
    redact: Redact | None = None,
    conninfo: Callable[[str], str] = str,
) -> DeadLetterStore | None:
    """The store the `dead_letter_*` settings name (None for `none`); `default` applies when the store is unset.

    One reading for every plugin kind, so a setting means the same wherever it is set. `run_log_dsn` stands in for
    an empty `dead_letter_dsn`: one database for the run history and the letters is the usual deployment.
    """
    kind = str(config.get("dead_letter_store") or default).strip().lower()
    if kind == "none":
        return None
    if kind == "file":
        return FileDeadLetterStore(config.get("dead_letter_path") or DEFAULT_FILE, redact=redact)
    if kind == "postgres":
        dsn = config.get("dead_letter_dsn") or config.get("run_log_dsn")
        if not dsn:
            raise ConfigError(f"{plugin}: dead_letter_store is postgres but dead_letter_dsn is empty; set it, or use "
                              "dead_letter_store file")  # fmt: skip
        schema = config.get("dead_letter_schema") or "ponte"
        return PostgresDeadLetterStore(conninfo(str(dsn)), schema=schema, redact=redact)
    raise ConfigError(f"{plugin}: unknown dead_letter_store {kind!r}; use file, postgres or none")


def build_dead_letter_store(spec: Mapping[str, Any], redact: Redact | None = None) -> DeadLetterStore:
    """A store from `{type: file, path}` or `{type: postgres, dsn, schema}`."""
    kind = spec.get("type")
    if kind == "file":
        if not spec.get("path"):
            raise ConfigError("dead-letter store of type 'file' needs a 'path'")
        return FileDeadLetterStore(spec["path"], redact=redact)
    if kind == "postgres":
        if not spec.get("dsn"):
            raise ConfigError("dead-letter store of type 'postgres' needs a 'dsn'")
        return PostgresDeadLetterStore(spec["dsn"], schema=spec.get("schema") or "ponte", redact=redact)
    raise ConfigError(f"unknown dead-letter store type {kind!r}; use 'file' or 'postgres'")
