"""Fields the API sends but the declared schema lacks reach the target, announced by a SCHEMA update.

tap-sienge runs as users run it (console script, sandbox over sockets); the sandbox sends, like the real API,
customers `modifiedAtDateTime`/`socialName` and creditors `creationDate`/`lastModificationDate`/`contacts`,
none of which is in the official Swagger files the declaration uses.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import requests

from ponte.testing import SandboxProcess
from ponte.testing.in_process import run_tap_in_process
from ponte.testing.singer_process import SingerRun

STREAMS = {"customers", "creditors"}
NEW_FIELDS = {
    "customers": {
        "modifiedAtDateTime": {"type": ["string", "null"], "format": "date-time"},
        "socialName": {"type": ["string", "null"]},
    },
    "creditors": {
        "creationDate": {"type": ["string", "null"], "format": "date"},
        "lastModificationDate": {"type": ["string", "null"], "format": "date"},
        "contacts": {"type": ["array", "null"], "items": {}},
    },
}


def sandbox_rows(sandbox: SandboxProcess, path: str) -> list[dict[str, Any]]:
    """Every row of a list endpoint, read straight from the sandbox."""
    rows: list[dict[str, Any]] = []
    with requests.Session() as session:
        session.auth = ("demo-api", "demo-secret")
        while True:
            params = {"limit": 200, "offset": len(rows)}
            body = session.get(sandbox.base_url + path, params=params, timeout=10).json()
            rows.extend(body["results"])
            if len(rows) >= body["resultSetMetadata"]["count"]:
                return rows


def schemas_in_force(run: SingerRun) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(record, the schema of the last SCHEMA message of its stream before it) for every RECORD."""
    current: dict[str, dict[str, Any]] = {}
    pairs = []
    for message in run.messages:
        if message["type"] == "SCHEMA":
            current[message["stream"]] = message["schema"]
        elif message["type"] == "RECORD":
            pairs.append((message["record"], current[message["stream"]]))
    return pairs


def schema_properties(run: SingerRun, stream: str) -> list[dict[str, Any]]:
    return [m["schema"]["properties"] for m in run.of_type("SCHEMA") if m["stream"] == stream]


def without_descriptions(properties: dict[str, Any]) -> dict[str, Any]:
    return {k: {a: b for a, b in v.items() if a != "description"} for k, v in properties.items()}


def test_undeclared_fields_are_kept_announced_once_and_remembered(
    sienge_sandbox: SandboxProcess, sienge_config: dict[str, Any]
) -> None:
    first = run_tap_in_process("tap-sienge", sienge_config, streams=STREAMS)
    assert first.returncode == 0, first.stderr

    # every value the sandbox sent reaches the output, under its own name
    customers = {r["id"]: r for r in first.records("customers")}
    expected = {r["id"]: r for r in sandbox_rows(sienge_sandbox, "/customers")}
    assert len(customers) == len(expected) == 500
    assert {i: r["modifiedAtDateTime"] for i, r in customers.items()} == {
        i: r["modifiedAtDateTime"] for i, r in expected.items()
    }
    social = {i: r["socialName"] for i, r in expected.items() if r["socialName"] is not None}
    assert social and {i: customers[i]["socialName"] for i in social} == social
    creditors = {r["id"]: r for r in first.records("creditors")}
    for row in sandbox_rows(sienge_sandbox, "/creditors"):
        for name in NEW_FIELDS["creditors"]:
            assert creditors[row["id"]][name] == row[name]

    # the first SCHEMA is the declared one; an update adds each field before the first record carrying it
    for stream, fields in NEW_FIELDS.items():
        announced = schema_properties(first, stream)
        assert not set(fields) & set(announced[0])
        assert without_descriptions({k: announced[-1][k] for k in fields}) == fields
        assert all(announced[-1][k]["description"] for k in fields)
    validators: dict[int, jsonschema.Draft7Validator] = {}
    for record, schema in schemas_in_force(first):
        if id(schema) not in validators:
            jsonschema.Draft7Validator.check_schema(schema)  # still valid JSON Schema for any Singer consumer
            validators[id(schema)] = jsonschema.Draft7Validator(
                schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
            )
        assert set(record) <= set(schema["properties"])
        validators[id(schema)].validate(record)

    # one warning per field and run, naming the stream and the field
    for stream, fields in NEW_FIELDS.items():
        for name in fields:
            warnings = [line for line in first.stderr.splitlines() if f"field={name} " in line]
            assert len(warnings) == 1, warnings
            assert f"stream={stream}" in warnings[0] and "not in the declared schema" in warnings[0]
    assert "undeclared fields dropped" not in first.stderr

    # the state remembers them: the next run declares them from its first SCHEMA, with the same types
    saved = first.last_state["bookmarks"]
    for stream, fields in NEW_FIELDS.items():
        assert saved[stream]["ponte_undeclared_fields"] == fields
    second = run_tap_in_process("tap-sienge", sienge_config, streams=STREAMS, state=first.last_state)
    assert second.returncode == 0, second.stderr
    for stream, fields in NEW_FIELDS.items():
        announced = schema_properties(second, stream)
        assert all({k: p[k] for k in fields} == {k: announced[-1][k] for k in fields} for p in announced)
        assert {k: announced[0][k] for k in fields} == {k: schema_properties(first, stream)[-1][k] for k in fields}
        for name in fields:
            assert len([line for line in second.stderr.splitlines() if f"field={name} " in line]) == 1
