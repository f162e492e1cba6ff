"""Identifiers BI users can type: snake_case, ASCII, at most 63 bytes, unique within their table.

The original name of every column travels in its comment (`source field: clientName`), so the mapping from
source fields to columns survives restarts and never changes once a column exists, even when a later schema
brings a name that would collide. A name that could not be read back from its line as is (a newline, a tab,
a NUL, a leading quote) is written as a JSON string there: `source field: "line\\nbreak"`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable

MAX_IDENTIFIER_BYTES = 63
SOURCE_FIELD_PREFIX = "source field: "
RETIRED_FIELD_PREFIX = "retired source field: "
SOURCE_STREAM_PREFIX = "source stream: "
# Every table has these hidden columns (PostgreSQL refuses a column of the same name in any case once
# lowercased); a field called `xmin` becomes column `xmin_`.
SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})

_ACRONYM_BOUNDARY = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def snake_case(name: str) -> str:
    """`clientName` → `client_name`, `Situação` → `situacao`, `agent:os:version` → `agent_os_version`.

    A leading underscore is kept (`_id`, `_sdc_*`); names that start with a digit get one, so they need no
    quoting; names with nothing transliterable get a short stable hash instead of vanishing.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    spaced = _WORD_BOUNDARY.sub(r"\1_\2", _ACRONYM_BOUNDARY.sub(r"\1_\2", ascii_name))
    words = _NOT_WORD.sub("_", spaced.lower()).strip("_")
    if not words:
        return "c_" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    if name.startswith("_") or words[0].isdigit():
        words = "_" + words
    return words[:MAX_IDENTIFIER_BYTES]


def column_name(source: str) -> str:
    """The column a source field would like: its snake_case name, moved off PostgreSQL's system columns."""
    name = snake_case(source)
    return with_suffix(name, "_") if name in SYSTEM_COLUMNS else name


def with_suffix(base: str, suffix: str) -> str:
    """`base` + `suffix`, truncating `base` so the result still fits in 63 bytes."""
    return base[: MAX_IDENTIFIER_BYTES - len(suffix)] + suffix


class NameAllocator:
    """Hands out identifiers not yet taken, adding `_2`, `_3`, … on collisions."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)

    def allocate(self, wanted: str) -> str:
        """Reserve and return `wanted`, or the first free `wanted_N`."""
        candidate = wanted[:MAX_IDENTIFIER_BYTES]
        counter = 2
        while candidate in self.taken:
            candidate = with_suffix(wanted, f"_{counter}")
            counter += 1
        self.taken.add(candidate)
        return candidate


def _written(name: str) -> str:
    """A name as it goes on its comment line: as is, or as a JSON string when it would not read back."""
    return name if name.isprintable() and not name.startswith('"') else json.dumps(name)


def _read(text: str) -> str:
    if text.startswith('"'):
        try:
            name = json.loads(text)
        except ValueError:
            return text
        if isinstance(name, str):
            return name
    return text


def _described(description: str | None, source_line: str) -> str:
    text = (description or "").replace("\x00", "").strip()  # PostgreSQL cannot store NUL in a comment
    return f"{text}\n{source_line}" if text else source_line


def column_comment(source_field: str, description: str | None) -> str:
    """The description first (what BI tools show), then the line that records the source field."""
    return _described(description, SOURCE_FIELD_PREFIX + _written(source_field))


def table_comment(stream: str, description: str | None) -> str:
    """Same shape as column comments: description, then `source stream: <name>`."""
    return _described(description, SOURCE_STREAM_PREFIX + _written(stream))


def _tagged_line(comment: str | None, prefix: str) -> str | None:
    """The value of the last `prefix` line (ours comes after the description, which could mimic it)."""
    for line in reversed((comment or "").splitlines()):
        if line.startswith(prefix):
            return _read(line[len(prefix) :])
    return None


def source_field_of(comment: str | None) -> str | None:
    """The source field a column holds, read back from its comment (None for columns we did not name)."""
    return _tagged_line(comment, SOURCE_FIELD_PREFIX)


def source_stream_of(comment: str | None) -> str | None:
    """The stream a table was created for, read back from its comment."""
    return _tagged_line(comment, SOURCE_STREAM_PREFIX)


def retire_comment(comment: str | None, source_field: str, replacement: str, new_type: str) -> str:
    """Rewrite a column comment when its field moved to a new column after an incompatible type change."""
    note = f"{RETIRED_FIELD_PREFIX}{_written(source_field)} (now {new_type}; new values go to column {replacement})"
    kept = [line for line in (comment or "").splitlines() if not line.startswith(SOURCE_FIELD_PREFIX)]
    return "\n".join([*kept, note])
