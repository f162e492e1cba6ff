"""An on-disk spool of the records waiting to be sent, so memory stays flat however much arrives.

Entities are sent in dependency order only after the whole input was read, and a key seen twice must be
sent once (its last version), so records wait here: one SQLite file in a private temporary folder, keyed
by (entity, key). Re-putting a key keeps its last version and reports the duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ponte.core.scratch_db import ScratchDb


class Spool:
    """Records by entity and key, read back in arrival order of their last version."""

    def __init__(self, directory: str | None = None) -> None:
        self.scratch = ScratchDb("ponte-spool-", directory)
        self.db = self.scratch.db
        self.db.execute(
            "CREATE TABLE records (entity TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, "
            "stream TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (entity, key))"
        )
        self.db.execute("CREATE INDEX records_order ON records (entity, seq)")
        self.seq = 0

    def put(self, entity: str, key: Any, stream: str, record: dict[str, Any]) -> bool:
        """Keep `record` under its key; True when it replaced an earlier version (a duplicate in this run)."""
        self.seq += 1
        body = orjson.dumps(record)
        replaced = self.db.execute(
            "UPDATE records SET seq = ?, stream = ?, body = ? WHERE entity = ? AND key = ?",
            (self.seq, stream, body, entity, key_text(key)),
        ).rowcount
        if not replaced:
            self.db.execute(
                "INSERT INTO records (entity, key, seq, stream, body) VALUES (?, ?, ?, ?, ?)",
                (entity, key_text(key), self.seq, stream, body),
            )
        return bool(replaced)

    def count(self, entity: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM records WHERE entity = ?", (entity,)).fetchone()[0])

    def items(self, entity: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(stream, record) of an entity in arrival order, read lazily."""
        for stream, body in self.scratch.rows(
            "SELECT stream, body FROM records WHERE entity = ? ORDER BY seq", (entity,)
        ):
            yield stream, orjson.loads(body)

    def close(self) -> None:
        """Delete the spool (its records were sent or dead-lettered)."""
        self.scratch.close()


def key_text(value: Any) -> str:
    """A key as text, the same for the spool and the refused-keys sets (1 and "1" stay different)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
