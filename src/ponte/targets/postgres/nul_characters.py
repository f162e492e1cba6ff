"""NUL characters, which PostgreSQL cannot store in text or jsonb: removed, and what that does is said.

Removing them can make two names one (`"a\\u0000b"` and `"ab"`): in a record the later key's value wins, in
a schema both properties land in one column. Neither is an error, but neither may pass silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ponte.targets.postgres.values import encode_json_lenient, strip_nul

logger = logging.getLogger(__name__)


def schema_without_nul(
    stream: str, schema: Mapping[str, Any], keys: Sequence[str]
) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """The schema and key properties as the records will look once their NULs are removed."""
    merged: list[str] = []
    cleaned, cleaned_keys = strip_nul(schema, merged), tuple(strip_nul(list(keys)))
    if merged:
        logger.warning(
            "stream '%s': schema properties %s are the same field once NUL characters are removed "
            "(PostgreSQL cannot store them); they share one column",
            stream,
            ", ".join(encode_json_lenient(name).decode() for name in merged),
        )
    return cleaned, cleaned_keys


class NulMerges:
    """Counts records in which removing NUL characters made two keys one, to say so once per stream."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.records = 0
        self.example = ""

    def strip(self, record: dict[str, Any]) -> dict[str, Any]:
        """`record` without NUL characters (PostgreSQL cannot store them), merges counted."""
        merged: list[str] = []
        stripped = strip_nul(record, merged)
        if merged:
            self.records += 1
            self.example = self.example or merged[0]
        return stripped

    def report(self) -> None:
        """One warning for the whole stream, if any record lost a key that way."""
        if self.records:
            logger.warning(
                "stream '%s': %d record(s) had keys that differ only by NUL characters (e.g. %s), which "
                "PostgreSQL cannot store; the NULs were removed and the later key's value was kept. Fix the "
                "source's field names to keep both values",
                self.stream,
                self.records,
                encode_json_lenient(self.example).decode(),
            )
            self.records = 0
