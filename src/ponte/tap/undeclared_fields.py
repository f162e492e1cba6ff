"""Fields a record carries that its stream's declared schema lacks: kept, typed from their values, announced.

Official API documents lag behind the APIs (Sienge's Swagger files lack customers `modifiedAtDateTime` and
`socialName`, which real responses carry), and dropping such a field loses data in a BI mirror. So a declarative
stream keeps every field: one it does not declare gets a JSON Schema property inferred from the values seen,
and the stream sends a SCHEMA update before the first record that needs it, so the target adds the column.

Inference is conservative, because one page says nothing certain about the next:

* null, a blank string or one of the declaration's `empty_dates` tells nothing about the type: a field seen only
  with such values waits (it is left out of the record, which loses nothing) until a real value arrives;
* integers → integer, other numbers → number, true/false → boolean, objects → object, arrays → array;
* strings → string, with `format: date` only for exact `yyyy-MM-dd` values and `date-time` only for ISO 8601
  date-times with an explicit offset (a time without one could be in any zone);
* a later value of another kind widens the property to the union of both (integer and number → number; dates
  mixed with other strings → plain string). Types never narrow, so a target only ever widens a column.

The inferred properties are saved in the stream's state (`ponte_undeclared_fields`): the next run declares them
from its first SCHEMA message, with the same types, and a null it receives still overwrites an old value.
Fields of a selected stream are selected (singer-sdk selects what the catalog does not list when its stream is
selected); `--discover` keeps showing the declared schema only.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ponte.tap.sdk_private import reset_stream_maps, write_schema_message

STATE_KEY = "ponte_undeclared_fields"
DESCRIPTION = "Sent by the API but not in the declared schema; type inferred from the values seen."
_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})")
_BIGINT = 2**63
DATE, DATE_TIME = "string:date", "string:date-time"


def kind_of(value: Any, empty: frozenset[str] = frozenset()) -> str | None:
    """The kind of one JSON value (`string:date` for a date string), or None when it tells nothing."""
    kind = type(value)
    if value is None:
        return None
    if kind is bool:
        return "boolean"
    if kind is int:
        return "integer" if -_BIGINT <= value < _BIGINT else "number"
    if kind is float or kind is Decimal:
        return "number"
    if kind is dict:
        return "object"
    if kind is list:
        return "array"
    text = str(value)
    if not text.strip() or text in empty:
        return None
    if len(text) == 10 and _DATE.fullmatch(text) and _parses(dt.date.fromisoformat, text):
        return DATE
    if _DATE_TIME.fullmatch(text) and _parses(dt.datetime.fromisoformat, text):
        return DATE_TIME
    return "string"


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def property_for(kinds: Iterable[str]) -> dict[str, Any]:
    """The JSON Schema property for a set of kinds: their union, always nullable."""
    types: set[str] = set()
    formats: set[str] = set()
    for kind in kinds:
        base, _, fmt = kind.partition(":")
        types.add(base)
        if base == "string":
            formats.add(fmt)
    if "number" in types:
        types.discard("integer")
    prop: dict[str, Any] = {"type": [*sorted(types), "null"]}
    if len(formats) == 1 and "" not in formats:
        prop["format"] = formats.pop()
    if "array" in types:
        prop["items"] = {}
    prop["description"] = DESCRIPTION
    return prop


def kinds_of_property(prop: Any) -> frozenset[str] | None:
    """Read a saved property back as kinds; None when it is not one `property_for` could have written."""
    if not isinstance(prop, Mapping):
        return None
    types = prop.get("type")
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or not set(types) - {"null"} or not set(types) <= {*_TYPES, "null"}:
        return None
    kinds = {t for t in types if t != "null"}
    if "string" in kinds and prop.get("format") in ("date", "date-time"):
        kinds = {*(kinds - {"string"}), f"string:{prop['format']}"}
    return frozenset(kinds)


class UndeclaredFields:
    """The inferred properties of one stream's undeclared fields, widened as records come."""

    def __init__(self, declared: Iterable[str], empty_values: Iterable[str] = ()) -> None:
        self.declared = frozenset(declared)
        self._empty = frozenset(empty_values)
        self._kinds: dict[str, frozenset[str]] = {}
        self.properties: dict[str, dict[str, Any]] = {}

    def remember(self, saved: Any) -> list[str]:
        """Start from the properties an earlier run saved (declared names and unreadable entries are skipped)."""
        taken = []
        for name, prop in (saved or {}).items() if isinstance(saved, Mapping) else ():
            kinds = kinds_of_property(prop)
            if kinds is not None and name not in self.declared:
                self._kinds[name] = kinds
                self.properties[name] = property_for(kinds)
                taken.append(name)
        self.properties = dict(sorted(self.properties.items()))
        return sorted(taken)

    def saved(self) -> dict[str, dict[str, Any]]:
        """The properties as the state keeps them (without the description `remember` adds back)."""
        return {name: {k: v for k, v in prop.items() if k != "description"} for name, prop in self.properties.items()}

    def observe(self, row: dict[str, Any], names: Iterable[str]) -> list[tuple[str, dict[str, Any] | None]]:
        """Type the undeclared fields `names` of one record; returns (field, property before) for each change.

        The record is adjusted in place: a field not typed yet is removed while its value tells nothing, and
        an empty value of a field typed other than plain string becomes null (as the target would store it).
        """
        changes: list[tuple[str, dict[str, Any] | None]] = []
        for name in names:
            value = row[name]
            known = self._kinds.get(name)
            if known is not None and _fits(value, known):
                continue
            kind = kind_of(value, self._empty)
            if kind is None:
                if known is None:
                    del row[name]
                elif value is not None and "string" not in known:
                    row[name] = None
                continue
            if known is not None and kind in known:
                continue
            kinds = (known or frozenset()) | {kind}
            before = self.properties.get(name)
            self._kinds[name] = kinds
            self.properties[name] = property_for(kinds)
            if before != self.properties[name]:
                changes.append((name, copy.deepcopy(before)))
        if changes:  # the same order in every run, whatever the order `names` came in
            self.properties = dict(sorted(self.properties.items()))
            changes.sort(key=lambda change: change[0])
        return changes


def _fits(value: Any, known: frozenset[str]) -> bool:
    """Cheap test for the common case: the value is of a kind the field already has (no string parsing)."""
    kind = type(value)
    if value is None:
        return True
    if kind is str:
        return "string" in known
    if kind is bool:
        return "boolean" in known
    if kind is int:
        return "number" in known or ("integer" in known and -_BIGINT <= value < _BIGINT)
    if kind is float or kind is Decimal:
        return "number" in known
    if kind is dict:
        return "object" in known
    return kind is list and "array" in known


def type_text(prop: Mapping[str, Any]) -> str:
    """`string`, `string (date)`, `integer|string`: a property's type for log lines."""
    types = prop.get("type")
    text = "|".join(t for t in ([types] if isinstance(types, str) else types or []) if t != "null")
    return f"{text} ({prop['format']})" if prop.get("format") else text


class UndeclaredFieldsMixin:
    """Keeps a singer-sdk stream's undeclared fields (mixed in before the SDK's Stream class).

    The host stream provides `_declared` (its declared property names) and `_empty_dates`, and calls
    `_keep_undeclared(row, extra)` from `post_process` with the record's undeclared names.
    """

    _declared: frozenset[str]
    _empty_dates: frozenset[str]
    _undeclared: UndeclaredFields | None = None
    _mapped_schema: dict[str, Any] | None = None
    # provided by singer_sdk.Stream
    name: str
    logger: logging.Logger
    selected: bool
    primary_keys: Any
    effective_schema: dict[str, Any]
    ponte_tap: Any  # the Tap (DeclarativeStream keeps it)
    tap_state: dict[str, Any]
    stream_state: dict[str, Any]

    def sync(self, context: Any = None) -> None:
        """Sync as the SDK does, the first SCHEMA already declaring the undeclared fields earlier runs saw."""
        self._undeclared_fields()
        super().sync(context)  # type: ignore[misc]

    def _undeclared_fields(self) -> UndeclaredFields:
        """The stream's tracker, built once the catalog is known (its properties count as declared)."""
        if self._undeclared is None:
            catalog = self.effective_schema.get("properties") or {}  # the input catalog's schema, if any
            self._declared = self._declared | frozenset(catalog)
            self._undeclared = UndeclaredFields(self._declared, self._empty_dates)
            saved = ((self.tap_state.get("bookmarks") or {}).get(self.name) or {}).get(STATE_KEY)
            taken = self._undeclared.remember(saved) if self.selected else []
            for name in taken:
                self.logger.warning(
                    "stream=%s field=%s is not in the declared schema; kept as in earlier runs (type %s) — "
                    "declare it in the stream's schema to choose its type",
                    self.name,
                    name,
                    type_text(self._undeclared.properties[name]),
                )
            if taken:
                self._announce_undeclared(write=False)
        return self._undeclared

    def _keep_undeclared(self, row: dict[str, Any], extra: set[str]) -> None:
        """Type the record's undeclared fields; a new or widened one is announced by a SCHEMA update first."""
        fields = self._undeclared_fields()
        changes = fields.observe(row, extra)
        if not changes:
            return
        for name, before in changes:
            after = type_text(fields.properties[name])
            if before is None:
                self.logger.warning(
                    "stream=%s field=%s is not in the declared schema; kept (type %s, inferred from its values) — "
                    "declare it in the stream's schema to choose its type",
                    self.name,
                    name,
                    after,
                )
            else:
                self.logger.warning(
                    "stream=%s field=%s (not in the declared schema) widened from %s to %s by record %s",
                    self.name,
                    name,
                    type_text(before),
                    after,
                    {k: row.get(k) for k in self.primary_keys} or "(no key)",
                )
        self._announce_undeclared()

    def _announce_undeclared(self, *, write: bool = True) -> None:
        """Re-register the stream's maps with the grown schema, save it in the state, send the SCHEMA update.

        The grown schema is the one the stream maps were registered with (the catalog's, pruned to the
        selected properties) plus the inferred properties, so stream maps and selection apply as before.
        """
        assert self._undeclared is not None
        primary = self.ponte_tap.mapper.stream_maps[self.name][0]
        if self._mapped_schema is None:
            self._mapped_schema = copy.deepcopy(primary.raw_schema)
        grown = copy.deepcopy(self._mapped_schema)
        grown.setdefault("properties", {}).update(copy.deepcopy(self._undeclared.properties))
        self.ponte_tap.mapper.register_raw_stream_schema(self.name, grown, primary.raw_key_properties)
        reset_stream_maps(self)
        self.stream_state[STATE_KEY] = self._undeclared.saved()
        if write:
            write_schema_message(self)
