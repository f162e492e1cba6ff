"""Pure pieces of the ingest-API target engine, built from the real declarations in targets/."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ponte.spec.validation import load_declaration
from ponte.tap.runtime import effective_config
from ponte.targets.api.common_settings import all_settings
from ponte.targets.api.definition import EntityDef, TargetDef, build_target_def
from ponte.targets.api.payload import PayloadPreparer, iso_z
from ponte.targets.api.record_errors import named_failures, sentence
from ponte.targets.api.sending import Item, batches

TARGETS = Path(__file__).parents[2] / "targets"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def target(name: str, **config: object) -> TargetDef:
    """The declaration resolved against a config with its defaults filled in, as the CLI does."""
    declaration = load_declaration(TARGETS / f"{name}.yml", "target")
    settings = all_settings(list(declaration.data.get("settings") or []))
    resolved = effective_config(settings, {"instituicao": "demo", "api_key": "k", **config})
    return build_target_def(declaration.data, declaration.base_dir, resolved)


def entity(target_def: TargetDef, name: str) -> EntityDef:
    return next(e for e in target_def.entities if e.name == name)


# -- dates ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-07-01T09:30:00", "2026-07-01T12:30:00Z"),  # naive: read in the declared timezone (-03:00)
        ("2026-07-01 09:30:00", "2026-07-01T12:30:00Z"),
        ("2026-07-01T12:30:00Z", "2026-07-01T12:30:00Z"),
        ("2026-07-01T10:30:00+01:00", "2026-07-01T09:30:00Z"),
        ("2026-07-01T09:30:00.250", "2026-07-01T12:30:00.250Z"),
        ("not a date", None),
        (12345, None),
    ],
)
def test_iso_z(value: object, expected: str | None) -> None:
    assert iso_z(value, SAO_PAULO) == expected


def test_products_are_prepared_with_z_dates_and_refused_with_reasons() -> None:
    products = entity(target("retailportal"), "products")
    date_fields = [n for n, p in products.schema["properties"].items() if p.get("format") == "date-time"]
    preparer = PayloadPreparer(products, SAO_PAULO)
    record = {"erpId": 1, "description": "Café", "_sdc_batched_at": "x", "unknown_field": 1}
    record.update(dict.fromkeys(date_fields, "2026-07-01T09:30:00"))
    payload, refusal = preparer.prepare(record)
    assert refusal is None
    assert payload == {"erpId": 1, "description": "Café", **dict.fromkeys(date_fields, "2026-07-01T12:30:00Z")}
    _, refusal = preparer.prepare({"erpId": "7", "description": "x", "price": -1})
    assert refusal is not None and set(refusal.fields) == {"erpId", "price"}
    assert "must be an integer" in refusal.reason


# -- which records a 422 names ---------------------------------------------------------------------------
CPF_MESSAGE = "CPF inválido"


@pytest.mark.parametrize(
    ("body", "named", "unnamed"),
    [
        ({"errors": {"professors.1.cpf": [CPF_MESSAGE]}}, {1: {"cpf": [CPF_MESSAGE]}}, False),  # dotted
        ({"errors": {"1": {"code": "P2", "cpf": [CPF_MESSAGE]}}}, {1: {"cpf": [CPF_MESSAGE]}}, False),  # per_record
        ({"errors": {"cpf": [CPF_MESSAGE]}}, {}, True),  # whole_batch: no record named
        ({"errors": {"professors.9.cpf": [CPF_MESSAGE]}}, {}, True),  # a position outside the batch
    ],
    ids=["dotted", "per_record", "whole_batch", "out_of_range"],
)
def test_named_failures_in_the_three_error_styles(body: object, named: dict, unnamed: bool) -> None:
    professors = entity(target("proextend"), "professors")
    found, found_unnamed = named_failures(body, "errors", professors.record_errors, size=3)
    assert found == named and found_unnamed is unnamed
    if found:
        assert sentence(found[1]) == f"cpf: {CPF_MESSAGE}"


def test_partial_success_names_refused_records_by_position() -> None:
    professors = entity(target("proextend"), "professors")
    body = {"data": {"created": 1, "failed": 1, "errors": {"professors.0.email": ["Email já cadastrado"]}}}
    found, unnamed = named_failures(body, professors.record_errors.partial_path, professors.record_errors, 2)
    assert found == {0: {"email": ["Email já cadastrado"]}} and not unnamed


# -- batches ----------------------------------------------------------------------------------------------
def items(n: int) -> list[Item]:
    return [Item("products", {"erpId": i}) for i in range(n)]


@pytest.mark.parametrize(
    ("count", "size", "parallel", "sizes"),
    [
        (5000, 500, 3, [417] * 11 + [413]),  # 12 batches: four full rounds of three
        (1000, 500, 3, [334, 334, 332]),  # two batches would leave a slot idle
        (400, 500, 3, [400]),  # fits one batch: not split for the sake of parallelism
        (5000, 500, 1, [500] * 10),  # sequential: plain batch_size
        (7, 3, 1, [3, 3, 1]),
    ],
)
def test_batches_are_balanced_over_the_parallel_slots(count: int, size: int, parallel: int, sizes: list[int]) -> None:
    products = dataclasses.replace(entity(target("retailportal"), "products"), batch_size=size, parallel=parallel)
    made = list(batches(items(count), products, count))
    assert [len(b) for b in made] == sizes
    assert [i.payload["erpId"] for b in made for i in b] == list(range(count))  # nothing lost or reordered


def test_proextend_entities_are_sent_in_dependency_order() -> None:
    names = [e.name for e in target("proextend").entities]
    assert names == ["units", "areas", "courses", "subjects", "professors", "students", "enrollments"]
