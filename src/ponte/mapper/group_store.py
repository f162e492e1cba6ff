"""Grouped output kept in a SQLite file until the input ends, so memory stays flat however many rows arrive.

A group is (output stream, values of `group_by`). Every row of it updates the group's record (the last value
of each field wins, so several mappings can fill different fields of one group) and appends its `collect`
values. `groups()` then yields one record per group, in the order groups first appeared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ponte.core.scratch_db import ScratchDb


class GroupStore:
    """Groups of output records, spilled to a temporary SQLite database (deleted on close)."""

    def __init__(self) -> None:
        self._scratch = ScratchDb("ponte-mapper-", autocommit=True)
        self._db = self._scratch.db
        self._db.execute(
            "CREATE TABLE groups (target TEXT, gkey TEXT, seq INTEGER, record TEXT, PRIMARY KEY (target, gkey))"
        )
        self._db.execute("CREATE TABLE items (target TEXT, gkey TEXT, field TEXT, seq INTEGER, value TEXT)")
        self._db.execute("CREATE INDEX items_group ON items (target, gkey, field, seq)")
        self._db.execute("BEGIN")
        self._seq = 0
        self.rows = 0

    def add(self, target: str, group: list[Any], fields: dict[str, Any], collected: dict[str, Any]) -> None:
        """One row of a group: merge its fields into the group's record and append its collected values."""
        self._seq += 1
        self.rows += 1
        gkey = json.dumps(group, sort_keys=True, default=str)
        found = self._db.execute("SELECT record FROM groups WHERE target = ? AND gkey = ?", (target, gkey)).fetchone()
        if found is None:
            self._db.execute(
                "INSERT INTO groups VALUES (?, ?, ?, ?)", (target, gkey, self._seq, json.dumps(fields, default=str))
            )
        else:
            merged = json.loads(found[0]) | fields
            self._db.execute(
                "UPDATE groups SET record = ? WHERE target = ? AND gkey = ?",
                (json.dumps(merged, default=str), target, gkey),
            )
        self._db.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?)",
            [(target, gkey, name, self._seq, json.dumps(value, default=str)) for name, value in collected.items()],
        )

    def groups(self, target: str) -> Iterator[tuple[dict[str, Any], dict[str, list[Any]]]]:
        """(record, {collect field: values in arrival order}) for every group of `target`."""
        for gkey, record in self._scratch.rows(
            "SELECT gkey, record FROM groups WHERE target = ? ORDER BY seq", (target,), size=1000
        ):
            lists: dict[str, list[Any]] = {}
            for name, value in self._db.execute(
                "SELECT field, value FROM items WHERE target = ? AND gkey = ? ORDER BY field, seq", (target, gkey)
            ):
                lists.setdefault(name, []).append(json.loads(value))
            yield json.loads(record), lists

    def close(self) -> None:
        self._scratch.close()
