"""target-postgres: building COPY rows from records, and when ACTIVATE_VERSION takes effect (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from singer_sdk.exceptions import MissingKeyPropertiesError

from ponte.targets.postgres.activation import ActivationTracker
from ponte.targets.postgres.row_builder import RowBuilder
from ponte.targets.postgres.table_plan import TableInfo, plan_table
from ponte.targets.postgres.values import ConversionError

PROPERTIES = {
    "id": {"type": "integer"},
    "amount": {"type": "number"},
    "when": {"type": "string", "format": "date-time"},
    "tags": {"type": "array"},
    "note": {"type": "string"},
}


def _builder(keys: tuple[str, ...] = ("id",)) -> RowBuilder:
    plan = plan_table(
        schema_name="s",
        table_name="t",
        stream="t",
        schema={"properties": PROPERTIES},
        key_properties=keys,
        existing=TableInfo(exists=False),
    )
    return RowBuilder("t", plan, keys)


LINE = (
    b'{"type": "RECORD", "stream": "t", "version": 7, "time_extracted": "2026-01-01T00:00:00Z", '
    b'"record": {"note": "x", "amount": 12345678901234567.890, "id": 1, "tags": [1, {"a": null}], "extra": 1}}'
)


def test_from_envelope_keeps_numbers_and_json_as_sent_and_appends_metadata() -> None:
    builder = _builder()
    row = builder.from_envelope(builder.decode_envelope(LINE))
    assert row == [1, "12345678901234567.890", None, '[1, {"a": null}]', "x", "2026-01-01T00:00:00Z", None, 7]


def test_missing_key_property_is_a_protocol_error_on_every_path() -> None:
    builder = _builder()
    envelope = builder.decode_envelope(b'{"type": "RECORD", "stream": "t", "record": {"note": "no id"}}')
    with pytest.raises(MissingKeyPropertiesError, match="no key property 'id'"):
        builder.from_envelope(envelope)
    with pytest.raises(MissingKeyPropertiesError):
        builder.check_keys({"note": "no id"})
    builder.check_keys({"id": None})  # present but null: a data problem, handled by the strict path


def test_strict_rows_name_the_field_they_reject() -> None:
    builder = _builder()
    row = builder.strict({"id": "7", "amount": "1.50", "when": "2026-01-01 10:00:00", "tags": []}, {"version": "x"})
    assert row == [7, Decimal("1.50"), "2026-01-01T10:00:00+00:00", "[]", None, None, None, None]
    with pytest.raises(
        ConversionError, match=r"field 'when': .*not an ISO 8601 date-time \(column when is timestamptz\)"
    ):
        builder.strict({"id": 1, "when": "yesterday"}, {})
    with pytest.raises(ConversionError, match="key field 'id' is null or empty"):
        builder.strict({"id": None}, {})


def test_activate_version_waits_unless_this_run_loaded_that_version() -> None:
    tracker = ActivationTracker("t")
    tracker.activate(2, last_version=None, records_seen=0)  # sent before the sync's records
    assert tracker.pending is None
    tracker.activate(2, last_version=2, records_seen=10)  # repeated after them
    assert tracker.pending == 2
    tracker.applied()

    empty_source = ActivationTracker("t")
    empty_source.activate(3, last_version=None, records_seen=5)
    empty_source.settle(records_seen=5)  # nothing followed: the source is empty
    assert empty_source.pending == 3

    unfinished = ActivationTracker("t")
    unfinished.activate(4, last_version=None, records_seen=5)
    unfinished.settle(records_seen=9)  # records followed but no closing ACTIVATE_VERSION
    assert unfinished.pending is None
