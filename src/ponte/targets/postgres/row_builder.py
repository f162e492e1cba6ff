"""Records → COPY rows, in the column order of a `TablePlan`.

Three ways, from fastest to most careful:

- `from_envelope`: the whole message is decoded by msgspec in one pass into a per-table Struct whose record
  fields are the columns in order, so one `astuple` gives the row; jsonb and numeric columns are decoded
  as `msgspec.Raw`, i.e. their JSON text is passed through untouched (no Python objects built, numbers
  kept exactly as sent).
- `from_dict`: the same row from an already-decoded dict (stream maps, records holding NUL characters, and
  streams with a field name msgspec cannot match as a struct field: one holding `"`, `\\` or a control
  character, whose whole RECORD then decodes as a dict).
- `strict`: every value checked and normalised in Python; raises `ConversionError` naming the field. Used to
  replay a batch PostgreSQL rejected.

Rows end with the metadata columns; the last two are always `_sdc_deleted_at` and `_sdc_table_version`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from ponte.targets.postgres import protocol
from ponte.targets.postgres.column_types import Kind
from ponte.targets.postgres.table_plan import DELETED_AT, EXTRACTED_AT, TablePlan
from ponte.targets.postgres.values import ConversionError, fast_converter, lenient_convert, strict_convert

_NULL_RAW = msgspec.Raw(b"null")
# Columns whose JSON text is valid PostgreSQL input as is: jsonb, and numeric (a JSON number is a numeric
# literal), so their values are never turned into Python objects. A value that is not (a quoted number)
# fails the batch's COPY and is handled by the strict replay.
_RAW_KINDS = (Kind.JSONB, Kind.NUMERIC)
_UNSET = msgspec.UNSET
_NOT_A_STRUCT_NAME = re.compile(r'["\\\x00-\x1f]')  # msgspec refuses these in renamed field names


def raw_json_text(raw: msgspec.Raw) -> str | None:
    """A Raw JSON value as jsonb input text; JSON null (or absent) becomes SQL NULL."""
    text = str(raw, "utf-8")
    return None if text == "null" else text


def schema_validator(schema: Mapping[str, Any]) -> Any:
    """singer-sdk's JSON Schema validator (formats checked), for `validate_records: true` only."""
    from singer_sdk.sinks.core import JSONSchemaValidator

    return JSONSchemaValidator(dict(schema), validate_formats=True)


class RowBuilder:
    """Builds rows for one table plan; rebuilt whenever the plan changes."""

    def __init__(self, stream: str, plan: TablePlan, keys: Sequence[str], validator: Any = None) -> None:
        self.stream = stream
        self.keys = tuple(keys)
        self.validator = validator
        data = [c for c in plan.columns if c.source is not None]
        self.columns = data
        self.sources = [c.source for c in data]
        self.full_metadata = any(c.metadata == EXTRACTED_AT for c in plan.columns)
        self.key_indexes = {i for i, c in enumerate(data) if c.name in plan.key_columns}
        self.dict_converters = [(i, conv) for i, c in enumerate(data) if (conv := fast_converter(c.kind, c.values))]

        fields: list[tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        self.struct_converters: list[tuple[int, Any]] = []
        self.required_positions: list[tuple[int, str]] = []
        for i, column in enumerate(data):
            name = f"f{i}"
            rename[name] = column.source
            if column.source in self.keys:
                fields.append((name, Any, _UNSET))
                self.required_positions.append((i, column.source))
            elif column.kind in _RAW_KINDS:
                fields.append((name, msgspec.Raw, _NULL_RAW))
                self.struct_converters.append((i, raw_json_text))
                continue
            else:
                fields.append((name, Any, None))
            if converter := fast_converter(column.kind, column.values):
                self.struct_converters.append((i, converter))
        fields.append(("deleted_at", Any, None))
        rename["deleted_at"] = DELETED_AT
        record_type: Any = dict[str, Any]
        if any(_NOT_A_STRUCT_NAME.search(source) for source in self.sources):
            self.from_envelope = self._from_decoded_envelope  # type: ignore[method-assign]
        else:
            record_type = msgspec.defstruct(f"Record_{plan.table}", fields, rename=rename)
        envelope_type = msgspec.defstruct(
            f"Message_{plan.table}",
            [
                ("type", str, ""),
                ("stream", Any, None),
                ("record", record_type | None, None),
                ("version", Any, None),
                ("time_extracted", Any, None),
            ],
        )
        self.decode_envelope = msgspec.json.Decoder(envelope_type, float_hook=Decimal).decode
        """Decodes a whole RECORD line of this stream in one pass (the reader keeps using it while the
        stream does not change); any JSON object fits, fields it does not know are skipped."""
        self._astuple = msgspec.structs.astuple

    def _missing_key(self, key: str, present: Sequence[str]) -> Exception:
        return protocol.missing_key(
            f"stream '{self.stream}': record has no key property '{key}' "
            f"(key properties {list(self.keys)}, record keys {list(present)[:20]})"
        )

    def from_envelope(self, envelope: Any) -> list[Any]:
        """The row for a RECORD line decoded by `decode_envelope`."""
        row = list(self._astuple(envelope.record))
        for i, key in self.required_positions:
            if row[i] is _UNSET:
                present = [self.sources[j] for j, value in enumerate(row[: len(self.sources)]) if value is not _UNSET]
                raise self._missing_key(key, present)
        for i, convert in self.struct_converters:
            value = row[i]
            if value is not None:
                row[i] = convert(value)
        if self.full_metadata:
            row[-1:] = (envelope.time_extracted, row[-1], envelope.version)
        else:
            row.append(envelope.version)
        return row

    def _from_decoded_envelope(self, envelope: Any) -> list[Any]:
        """`from_envelope` for streams whose records decode as dicts."""
        self.check_keys(envelope.record)
        return self.from_dict(envelope.record, {"version": envelope.version, "time_extracted": envelope.time_extracted})

    def check_keys(self, record: Mapping[str, Any]) -> None:
        """Singer requires every key property on every record (null is allowed, absent is not)."""
        for key in self.keys:
            if key not in record:
                raise self._missing_key(key, list(record))

    def from_dict(self, record: Mapping[str, Any], message: Mapping[str, Any]) -> list[Any]:
        """The row for a record already decoded as a dict (keys already checked)."""
        row = list(map(record.get, self.sources))
        for i, convert in self.dict_converters:
            value = row[i]
            if value is not None:
                row[i] = convert(value)
        deleted, version = record.get(DELETED_AT), message.get("version")
        if self.full_metadata:
            row += (message.get("time_extracted"), deleted, version)
        else:
            row += (deleted, version)
        return row

    def strict(self, record: Mapping[str, Any], message: Mapping[str, Any]) -> list[Any]:
        """The row with every value checked; raises ConversionError saying which field is wrong and why."""
        if self.validator is not None:
            try:
                self.validator.validate(record)
            except Exception as exc:
                raise ConversionError(f"record does not match the stream schema: {exc}") from None
        row: list[Any] = []
        for i, column in enumerate(self.columns):
            value = record.get(column.source)
            if value is not None:
                try:
                    value = strict_convert(column.kind, value)
                except ConversionError as exc:
                    raise ConversionError(
                        f"field '{column.source}': {exc} (column {column.name} is {column.kind.short})"
                    ) from None
            if value is None and i in self.key_indexes:
                raise ConversionError(f"key field '{column.source}' is null or empty")
            row.append(value)
        deleted = lenient_convert(Kind.TIMESTAMPTZ, record.get(DELETED_AT))
        version = lenient_convert(Kind.BIGINT, message.get("version"))
        if self.full_metadata:
            row += (lenient_convert(Kind.TIMESTAMPTZ, message.get("time_extracted")), deleted, version)
        else:
            row += (deleted, version)
        return row
