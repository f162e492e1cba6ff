"""The tap format's JSON Schema: valid, in step with the engine's registries, and explainable."""

from __future__ import annotations

import json
from importlib import resources

from jsonschema import Draft202012Validator

from ponte.declaration import registry
from ponte.declaration.explain import explain


def _schema() -> dict:
    text = resources.files("ponte.declaration").joinpath("schemas", "tap.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _variant_consts(schema: dict, dispatcher: str, key: str) -> list[str]:
    return [part["if"]["properties"][key]["const"] for part in schema["$defs"][dispatcher]["allOf"]]


def test_tap_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(_schema())


def test_registry_names_equal_schema_enums() -> None:
    defs = _schema()["$defs"]
    assert tuple(defs["setting"]["properties"]["kind"]["enum"]) == registry.SETTING_KINDS
    assert tuple(defs["auth"]["properties"]["type"]["enum"]) == registry.AUTH_TYPES
    assert tuple(defs["auth_oauth2"]["properties"]["grant_type"]["enum"]) == registry.OAUTH2_GRANT_TYPES
    assert tuple(defs["paginator"]["properties"]["type"]["enum"]) == registry.PAGINATOR_TYPES
    assert tuple(defs["replication"]["properties"]["method"]["enum"]) == registry.REPLICATION_METHODS
    assert tuple(defs["replication_incremental"]["properties"]["bookmark"]["enum"]) == registry.BOOKMARK_MODES


def test_every_strategy_name_has_a_variant_in_the_schema() -> None:
    schema = _schema()
    assert tuple(_variant_consts(schema, "auth", "type")) == registry.AUTH_TYPES
    assert tuple(_variant_consts(schema, "paginator", "type")) == registry.PAGINATOR_TYPES
    assert tuple(_variant_consts(schema, "replication", "method")) == registry.REPLICATION_METHODS


def test_engine_registries_use_the_same_names() -> None:
    from ponte.auth.registry import AUTH_BUILDERS
    from ponte.tap.paginators import PAGINATORS

    assert tuple(AUTH_BUILDERS) == registry.AUTH_TYPES
    assert tuple(PAGINATORS) == registry.PAGINATOR_TYPES


def test_explain_lists_keys_types_and_allowed_values() -> None:
    text = explain("tap")
    assert text.startswith("tap declaration")
    assert "streams*  (list of mappings, at least 1)" in text
    assert "when streams[].paginator.type is offset:" in text
    assert "streams[].paginator.inserts_at  (one of: head, tail)" in text
    assert "streams[].replication.bookmark  (one of: max_value, window_end)" in text
    assert "auth.grant_type  (one of: client_credentials, password, refresh_token, authorization_code)" in text
    assert "errors.hints  (mapping of an HTTP status code (100-599) to string)" in text
