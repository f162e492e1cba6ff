"""How a tap types the fields the declared schema lacks: conservative inference, widening, memory across runs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from ponte.tap.undeclared_fields import DESCRIPTION, UndeclaredFields, kind_of, property_for
from ponte.targets.postgres.column_types import Kind, kind_for


def plain(prop: dict[str, Any]) -> dict[str, Any]:
    assert prop.pop("description") == DESCRIPTION
    return prop


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0000-00-00", None),  # a declared empty date
        (True, "boolean"),
        (7, "integer"),
        (2**63, "number"),  # does not fit bigint
        (1.5, "number"),
        (Decimal("1.50"), "number"),
        ({"a": 1}, "object"),
        ([], "array"),
        ("Ana", "string"),
        ("2026-06-30", "string:date"),
        ("2026-02-30", "string"),  # not a real day
        ("20260630", "string"),  # a code as likely as a date
        ("2026-06-30T14:03:27.000-03:00", "string:date-time"),
        ("2026-06-30T14:03:27Z", "string:date-time"),
        ("2026-06-30T14:03:27", "string"),  # no offset: the zone is a guess
        ("2026-06-30 14:03:27-03:00", "string"),
        ("12345", "string"),
    ],
)
def test_kind_of(value: Any, kind: str | None) -> None:
    assert kind_of(value, frozenset({"0000-00-00"})) == kind


@pytest.mark.parametrize(
    ("kinds", "prop", "column"),
    [
        ({"string"}, {"type": ["string", "null"]}, Kind.TEXT),
        ({"string:date"}, {"type": ["string", "null"], "format": "date"}, Kind.DATE),
        ({"string:date-time"}, {"type": ["string", "null"], "format": "date-time"}, Kind.TIMESTAMPTZ),
        ({"string:date", "string:date-time"}, {"type": ["string", "null"]}, Kind.TEXT),
        ({"string:date", "string"}, {"type": ["string", "null"]}, Kind.TEXT),
        ({"integer"}, {"type": ["integer", "null"]}, Kind.BIGINT),
        ({"integer", "number"}, {"type": ["number", "null"]}, Kind.NUMERIC),
        ({"boolean"}, {"type": ["boolean", "null"]}, Kind.BOOLEAN),
        ({"object"}, {"type": ["object", "null"]}, Kind.JSONB),
        ({"array"}, {"type": ["array", "null"], "items": {}}, Kind.JSONB),
        ({"integer", "string"}, {"type": ["integer", "string", "null"]}, Kind.TEXT),
        ({"object", "string"}, {"type": ["object", "string", "null"]}, Kind.JSONB),
    ],
)
def test_property_for_is_valid_json_schema_and_maps_to_a_column(
    kinds: set[str], prop: dict[str, Any], column: Kind
) -> None:
    built = property_for(kinds)
    jsonschema.Draft7Validator.check_schema({"type": "object", "properties": {"f": built}})
    assert plain(built) == prop
    assert kind_for(prop) is column


def test_a_field_waits_while_null_and_appears_with_its_first_value() -> None:
    fields = UndeclaredFields(["id"])
    pages = [[{"id": i, "socialName": None} for i in range(1, 601)], [{"id": 601, "socialName": "Ana Lima"}]]
    changes, kept = [], []
    for page in pages:  # the first value arrives on page 7 of 100 records
        for record in page:
            changes += fields.observe(record, record.keys() - fields.declared)
            kept.append(record)
    assert changes == [("socialName", None)]
    assert all("socialName" not in r for r in kept[:600]) and kept[600]["socialName"] == "Ana Lima"
    assert plain(fields.properties["socialName"]) == {"type": ["string", "null"]}
    later = {"id": 602, "socialName": None}
    assert fields.observe(later, {"socialName"}) == [] and later == {"id": 602, "socialName": None}


def test_another_kind_widens_and_never_narrows() -> None:
    fields = UndeclaredFields(["id"])
    seen = []
    for value in ("2026-01-02", "2026-01-03", None, "", "soon", "2026-01-04", 5):
        record = {"id": 1, "when": value}
        seen.append([plain(dict(before)) if before else None for _, before in fields.observe(record, {"when"})])
    assert seen == [
        [None],
        [],
        [],
        [],  # a blank tells nothing about the type
        [{"type": ["string", "null"], "format": "date"}],  # widened to plain string
        [],
        [{"type": ["string", "null"]}],
    ]
    assert plain(fields.properties["when"]) == {"type": ["integer", "string", "null"]}


def test_empty_values_of_typed_fields_become_null_unless_the_field_is_plain_text() -> None:
    fields = UndeclaredFields([], ["0000-00-00"])
    fields.observe({"day": "2026-01-02", "note": "x", "qty": 1}, {"day", "note", "qty"})
    record = {"day": "0000-00-00", "note": "", "qty": " "}
    assert fields.observe(record, set(record)) == []
    assert record == {"day": None, "note": "", "qty": None}


def test_integers_then_fractions_give_number_and_huge_integers_do_not_fit_bigint() -> None:
    fields = UndeclaredFields([])
    for value in (1, 2, 2.5, 3):
        fields.observe({"amount": value, "big": 2**70}, {"amount", "big"})
    assert plain(fields.properties["amount"]) == {"type": ["number", "null"]}
    assert plain(fields.properties["big"]) == {"type": ["number", "null"]}


def test_saved_properties_are_taken_back_and_only_widened() -> None:
    first = UndeclaredFields(["id"])
    first.observe({"id": 1, "when": "2026-01-02", "tags": ["a"]}, {"when", "tags"})
    saved = {**first.saved(), "id": {"type": ["string", "null"]}, "odd": {"type": "date"}, "junk": 3}
    second = UndeclaredFields(["id"])
    assert second.remember(saved) == ["tags", "when"]
    assert second.properties == first.properties
    assert second.observe({"id": 2, "when": "2026-01-03", "tags": []}, {"when", "tags"}) == []
    assert second.observe({"id": 3, "when": "tomorrow"}, {"when"})[0][0] == "when"
    assert second.remember("not a mapping") == []
