"""JSON Schema → PostgreSQL column types, and which type changes are safe.

Columns get one of eight kinds (bigint, numeric, boolean, date, timestamptz, time, text, jsonb). When a
stream's schema changes, an existing column either already holds the new values (numeric holds integers,
text and jsonb hold anything), can be widened in place without losing a value (bigint → numeric, anything →
text or jsonb), or is incompatible: then the old column is kept and a new one is added next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """A column kind; the value is PostgreSQL's own spelling (what `format_type` returns)."""

    BIGINT = "bigint"
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMPTZ = "timestamp with time zone"
    TIME = "time without time zone"
    TEXT = "text"
    JSONB = "jsonb"

    @property
    def short(self) -> str:
        """Short name used in column suffixes (`amount__bigint`) and log lines."""
        return _SHORT[self]


_SHORT = {
    Kind.BIGINT: "bigint",
    Kind.NUMERIC: "numeric",
    Kind.BOOLEAN: "boolean",
    Kind.DATE: "date",
    Kind.TIMESTAMPTZ: "timestamptz",
    Kind.TIME: "time",
    Kind.TEXT: "text",
    Kind.JSONB: "jsonb",
}

_STRING_FORMATS = {"date-time": Kind.TIMESTAMPTZ, "date": Kind.DATE, "time": Kind.TIME}

# Existing column types we did not create ourselves, read as the nearest kind.
_FOREIGN_TYPES = {
    "integer": Kind.BIGINT,
    "smallint": Kind.BIGINT,
    "double precision": Kind.NUMERIC,
    "real": Kind.NUMERIC,
    "timestamp without time zone": Kind.TIMESTAMPTZ,
    "json": Kind.JSONB,
}

# Which kinds of values a column of each kind stores without losing anything.
_HOLDS: dict[Kind, set[Kind]] = {
    Kind.BIGINT: {Kind.BIGINT},
    Kind.NUMERIC: {Kind.NUMERIC, Kind.BIGINT},
    Kind.BOOLEAN: {Kind.BOOLEAN},
    Kind.DATE: {Kind.DATE},
    Kind.TIMESTAMPTZ: {Kind.TIMESTAMPTZ, Kind.DATE},
    Kind.TIME: {Kind.TIME},
    Kind.TEXT: set(Kind),
    Kind.JSONB: set(Kind),
}

# In-place widenings: (from, to) → USING expression ({col} is the quoted column name).
_WIDENINGS: dict[tuple[Kind, Kind], str] = {
    (Kind.BIGINT, Kind.NUMERIC): "{col}::numeric",
    (Kind.DATE, Kind.TIMESTAMPTZ): "({col}::timestamp AT TIME ZONE 'UTC')",
    **{(kind, Kind.TEXT): "{col}::text" for kind in Kind if kind is not Kind.TEXT},
    **{(kind, Kind.JSONB): "to_jsonb({col})" for kind in Kind if kind is not Kind.JSONB},
}


def _types_of(schema: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """All JSON types a (possibly anyOf/oneOf) property allows, and the string formats it names."""
    types: set[str] = set()
    formats: set[str] = set()
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        for branch in branches:
            branch_types, branch_formats = _types_of(branch)
            types |= branch_types
            formats |= branch_formats if branch_formats else ({"<plain>"} if "string" in branch_types else set())
        return types, formats
    declared = schema.get("type")
    if declared is None:
        if "properties" in schema:
            declared = "object"
        elif "items" in schema:
            declared = "array"
        else:
            declared = ["object", "array", "string", "number", "boolean"]  # {} accepts anything
    types = {declared} if isinstance(declared, str) else set(declared)
    if "string" in types and schema.get("format"):
        formats.add(schema["format"])
    return types, formats


def kind_for(schema: Mapping[str, Any]) -> Kind:
    """The column kind for one JSON Schema property; several types resolve to the widest sensible one."""
    types, formats = _types_of(schema)
    types.discard("null")
    if not types:
        return Kind.JSONB
    if types & {"object", "array"}:
        return Kind.JSONB
    if types == {"integer"}:
        return Kind.BIGINT
    if types <= {"integer", "number"}:
        return Kind.NUMERIC
    if types == {"boolean"}:
        return Kind.BOOLEAN
    if types == {"string"} and len(formats) == 1:
        return _STRING_FORMATS.get(next(iter(formats)), Kind.TEXT)
    return Kind.TEXT


def kind_of_sql_type(sql_type: str) -> Kind | None:
    """Read an existing column's `format_type` back as a kind; text-like types count as text."""
    try:
        return Kind(sql_type)
    except ValueError:
        pass
    if sql_type.startswith(("character varying", "character(", "character")):
        return Kind.TEXT
    if sql_type.startswith("numeric("):
        return Kind.NUMERIC
    if sql_type.startswith("timestamp(") and "with time zone" in sql_type:
        return Kind.TIMESTAMPTZ
    return _FOREIGN_TYPES.get(sql_type)


def holds(column: Kind, values: Kind) -> bool:
    """True when a column of kind `column` can store values of kind `values` without loss."""
    return values in _HOLDS[column]


def widening_using(existing: Kind, wanted: Kind) -> str | None:
    """The `USING` expression that widens `existing` to `wanted` in place, or None if not safe."""
    return _WIDENINGS.get((existing, wanted))
