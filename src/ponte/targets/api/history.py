"""The history table an API target may declare (`history:`): one row per record and what became of it.

A stock sync must answer "what did run X do to SKU Y, and why" long after the logs are gone: each record
sent, refused by the API (with its words), skipped before asking (composite product, missing in an account)
or only shown by a dry run becomes a row in `<run_log_schema>.<table>`, next to `sync_runs` and
`dead_letters`, with the run id, the trigger and the columns the declaration picks from the record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ponte.declaration.records import dig
from ponte.runlog import database
from ponte.runlog.dead_letters import run_uuid
from ponte.targets.api.definition import HistoryDef

SENT, REFUSED, SKIPPED, DRY_RUN, ALREADY = "sent", "refused", "skipped", "dry-run", "already-posted"
SQL_TYPES = {"text": "text", "numeric": "numeric", "bigint": "bigint", "jsonb": "jsonb"}
FLUSH_ROWS = 200


def history_values(history: HistoryDef | None, record: Mapping[str, Any]) -> dict[str, Any]:
    """The declared columns read from the record as it arrived (before the payload drops its extra fields)."""
    if history is None:
        return {}
    return {column.name: dig(record, column.source) for column in history.columns}


class PostgresHistory:
    """Buffered inserts into the history table, on an autocommit connection of its own."""

    def __init__(
        self, dsn: str, schema: str, history: HistoryDef, plugin: str, run_id: str, trigger: str,
        redact: Callable[[str], str],
    ) -> None:  # fmt: skip
        from psycopg import sql

        self.history, self.plugin, self.trigger, self.redact = history, plugin, trigger, redact
        self.run_id = run_uuid(run_id)
        self._sql = sql
        self._table = sql.Identifier(schema, history.table)
        self._conn = database.connect(dsn, "history", redact)
        columns = "".join(f", {sql.Identifier(c.name).as_string(None)} {SQL_TYPES[c.type]}" for c in history.columns)
        if history.remote_id_column:  # the id the API gave the record (text: APIs' ids are numbers or codes)
            columns += f", {sql.Identifier(history.remote_id_column).as_string(None)} text"
        ddl = (
            "CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, run_id uuid, trigger text NOT NULL, "
            "plugin text NOT NULL, entity text NOT NULL, account text, status text NOT NULL, reason text, "
            f"at timestamptz NOT NULL DEFAULT now(){columns})"
        )
        database.create_tables(self._conn, schema, ddl, table=self._table)
        self._rows: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def add(self, entity: str, account: str | None, status: str, reason: str | None, values: Mapping[str, Any]) -> None:
        """One row; written in batches (and at close)."""
        from psycopg.types.json import Jsonb

        cells = [Jsonb(values.get(c.name)) if c.type == "jsonb" else values.get(c.name) for c in self.history.columns]
        cells = [str(v) if c.type == "text" and v is not None else v for v, c in zip(cells, self.history.columns,
                                                                                        strict=True)]  # fmt: skip
        if self.history.remote_id_column:
            remote = values.get(self.history.remote_id_column)
            cells.append(None if remote is None else str(remote))
        row = (self.run_id, self.trigger, self.plugin, entity, account, status,
               None if reason is None else self.redact(reason), *cells)  # fmt: skip
        with self._lock:
            self._rows.append(row)
            full = len(self._rows) >= FLUSH_ROWS
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return
        sql = self._sql
        names = ["run_id", "trigger", "plugin", "entity", "account", "status", "reason"]
        names += [c.name for c in self.history.columns]
        names += [self.history.remote_id_column] if self.history.remote_id_column else []
        query = sql.SQL("INSERT INTO {table} ({names}) VALUES ({values})").format(
            table=self._table,
            names=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join([sql.Placeholder()] * len(names)),
        )
        with self._conn.cursor() as cursor:
            cursor.executemany(query, rows)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._conn.close()
