"""Pure pieces of the ingest-API target engine, built from the real declarations in targets/."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

import ponte
from ponte.declaration.validation import load_declaration
from ponte.tap.runtime import effective_config
from ponte.targets.api.common_settings import all_settings
from ponte.targets.api.definition import MESSAGE_FIELDS, EntityDef, JobDef, TargetDef, build_target_def
from ponte.targets.api.job_status import FAILED, PENDING, SUCCEEDED, read_status, status_url
from ponte.targets.api.payload import PayloadPreparer, iso_z
from ponte.targets.api.record_errors import message_in, named_failures, sentence
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
    found, unnamed = named_failures(body, professors.record_errors.partial_field, professors.record_errors, 2)
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


# -- what the docs leave open --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"errors": [{"field": "price", "message": "price não pode ser negativo."}]},
            "price: price não pode ser negativo.",
        ),
        ({"errors": [], "message": "Produto bloqueado."}, "Produto bloqueado."),
        ({"error": "Produto bloqueado.", "message": None}, "Produto bloqueado."),
        ({"detail": {"price": ["deve ser positivo"]}}, "price: deve ser positivo"),
        ({"errors": [{"field": "sku", "detail": "duplicado"}]}, "sku: duplicado"),
        ({"errors": None, "message": ""}, None),
    ],
)
def test_item_messages_come_from_the_first_field_that_holds_one(entry: dict, expected: str | None) -> None:
    assert message_in(entry, MESSAGE_FIELDS) == expected


def job_of(**changes: object) -> JobDef:
    products = entity(target("retailportal"), "products").job
    assert products is not None
    return dataclasses.replace(products, **changes)


@pytest.mark.parametrize(
    ("body", "outcome", "undeclared"),
    [
        ({"state": "Succeeded", "successCount": 3, "failureCount": 0}, SUCCEEDED, False),
        ({"state": "succeeded", "successCount": 3, "failureCount": 0}, SUCCEEDED, False),  # case does not matter
        ({"state": "FAILED"}, FAILED, False),
        ({"state": "Processing", "successCount": 3, "failureCount": 0}, PENDING, False),  # declared pending: wait
        ({"state": "Completed", "successCount": 2, "failureCount": 1}, SUCCEEDED, True),  # every item counted
        ({"state": "Completed", "successCount": 2, "failureCount": 0}, PENDING, True),  # one item not yet
        ({"status": "Done", "successCount": 3, "failureCount": 0}, SUCCEEDED, True),  # no state at all
    ],
)
def test_job_states_outside_the_declaration_are_read_by_their_counts(
    body: dict, outcome: str, undeclared: bool
) -> None:
    reading = read_status(body, job_of(), 3)
    assert (reading.outcome, reading.undeclared) == (outcome, undeclared)


def accepted(headers: dict[str, str], status: int) -> requests.Response:
    """A submit answer as the HTTP client returns it (the body is read separately, `parsed_body`)."""
    response = requests.Response()
    response.status_code, response.url = status, "https://api.example.com/erp-data/product/batch"
    response.headers.update(headers)
    return response


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (202, {"Location": "/erp-data/batch-jobs/7"}, {"statusUrl": "/erp-data/jobs/7"}, "/erp-data/batch-jobs/7"),
        (202, {"Location": "status/7"}, {}, "/erp-data/product/status/7"),  # relative to the request's URL
        (202, {}, {"statusUrl": "https://api.example.com/erp-data/jobs/7"}, "/erp-data/jobs/7"),
        (201, {"Location": "/erp-data/product/7"}, {}, "/erp-data/x/7"),  # a 201's Location is the resource
        (202, {"Location": "https://evil.example.net/jobs/7"}, {}, "/erp-data/x/7"),  # the key stays home
    ],
)
def test_the_status_url_follows_location_then_status_url_then_the_declared_path(
    status: int, headers: dict[str, str], body: dict, expected: str
) -> None:
    warnings: list[str] = []
    url = status_url(accepted(headers, status), body, job_of(status_path="/x/{{ job.id }}"), "7",
                     lambda path: "https://api.example.com/erp-data" + path, warnings.append)  # fmt: skip
    assert url == "https://api.example.com" + expected
    assert bool(warnings) == ("evil" in str(headers)) and all("evil.example.net" in w for w in warnings)


def test_every_job_setting_the_schema_documents_is_read_by_the_engine() -> None:
    """A declared knob the engine never reads (once: items_per_second) misleads whoever tunes it."""
    schema = json.loads((Path(ponte.__file__).parent / "declaration/schemas/target.schema.json").read_text())
    [documented] = [e["properties"]["job"]["properties"] for e in _objects(schema) if "job" in e.get("properties", {})]
    fields = {f.name for f in dataclasses.fields(JobDef)}
    engine = "".join(p.read_text() for p in (Path(ponte.__file__).parent / "targets/api").glob("*.py"))
    for name in documented:
        field = name if name in fields else f"{name}s"  # error_path fills error_paths
        assert field in fields, f"job.{name} is documented but JobDef has no {field}"
        assert f"job.{field}" in engine, f"job.{name} is documented but never read"


def _objects(node: object) -> list[dict]:
    if isinstance(node, dict):
        return [node, *(o for value in node.values() for o in _objects(value))]
    if isinstance(node, list):
        return [o for value in node for o in _objects(value)]
    return []


def test_a_target_starts_without_loading_the_tap_machinery() -> None:
    """singer-sdk costs seconds per start; a target (and every test that runs one) does not need it."""
    code = "import sys, ponte.cli.targets; print(sorted(m for m in sys.modules if m.startswith('singer_sdk')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"
