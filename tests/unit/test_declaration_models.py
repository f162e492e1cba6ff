"""Each default of a declaration block lives in its model; the JSON Schema states the same value, or none."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from ponte.core.errors import ConfigError
from ponte.declaration.models import (
    AccountsSpec,
    ApiKeyAuthSpec,
    BasicAuthSpec,
    BearerAuthSpec,
    CircuitBreakerSpec,
    ErrorsSpec,
    HttpSpec,
    IdsFromSpec,
    OAuth2Config,
    PaginatorSpec,
    RateLimitSpec,
    ReplicationSpec,
    TapOptions,
    TokenRateSpec,
    TokenStoreSpec,
)
from ponte.declaration.validation import load_schema
from ponte.http.client import HttpSettings
from ponte.http.retry_policy import RetryPolicy
from ponte.targets.api.definition import EntityDef, JobDef, RecordErrors

TAP = load_schema("tap")["$defs"]
TARGET = load_schema("target")["properties"]
ENTITY = TARGET["entities"]["items"]["properties"]
ENTITY_DEFAULTS = TARGET["defaults"]["properties"]

# model -> the schema objects whose properties it parses (a paginator model covers every paginator type)
MODELS: dict[type, list[dict[str, Any]]] = {
    HttpSpec: [TAP["http"]],
    ErrorsSpec: [TAP["errors"]],
    RateLimitSpec: [TAP["rate_limit"]],
    CircuitBreakerSpec: [TAP["circuit_breaker"]],
    PaginatorSpec: [TAP["paginator_offset"], TAP["paginator_page"], TAP["paginator_none"]],
    ReplicationSpec: [TAP["replication_incremental"], TAP["replication_full_table"]],
    IdsFromSpec: [TAP["stream"]["properties"]["ids_from"]],
    OAuth2Config: [TAP["auth_oauth2"]],
    TokenRateSpec: [TAP["auth_oauth2"]["properties"]["rate_limit"]],
    TokenStoreSpec: [TAP["auth_oauth2"]["properties"]["token_store"]],
    BasicAuthSpec: [TAP["auth_basic"]],
    BearerAuthSpec: [TAP["auth_bearer"]],
    ApiKeyAuthSpec: [TAP["auth_api_key"]],
    AccountsSpec: [TAP["accounts"]],
    TapOptions: [load_schema("tap")],
    EntityDef: [{"properties": ENTITY}, {"properties": ENTITY_DEFAULTS}],
    RecordErrors: [ENTITY["record_errors"], ENTITY_DEFAULTS["record_errors"]],
    JobDef: [ENTITY["job"]],
}
# model field -> the declaration key it is parsed from, where they differ
KEYS = {
    (EntityDef, "key"): "primary_key",
    (EntityDef, "key_type"): "primary_key_type",
    (EntityDef, "schema_file"): "schema",
    (JobDef, "error_fields"): "error_field",
}
# fields a model has that no declaration states (engine constants, or parsed from several keys)
# keys: primary_key with several fields; id_field: result.id
NOT_DECLARED = {(OAuth2Config, "timeout_seconds"), (EntityDef, "keys"), (EntityDef, "id_field")}


def _default(f: dataclasses.Field[Any]) -> Any:
    """The field's default; None for none, or for an empty collection (the key simply adds nothing)."""
    value = None
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    return None if isinstance(value, (dict, list, tuple, frozenset, str)) and not value else value


def _cases() -> list[tuple[type, str]]:
    return [(model, f.name) for model in MODELS for f in dataclasses.fields(model)]


@pytest.mark.parametrize(("model", "name"), _cases(), ids=lambda v: v.__name__ if isinstance(v, type) else v)
def test_model_default_is_the_schema_default(model: type, name: str) -> None:
    """A default the model applies is the one the schema documents; a key without one has none in the schema."""
    f = next(f for f in dataclasses.fields(model) if f.name == name)
    key = KEYS.get((model, name), name)
    props = [schema["properties"][key] for schema in MODELS[model] if key in schema.get("properties", {})]
    if (model, name) in NOT_DECLARED:
        assert not props, f"{model.__name__}.{name} is declared in the schema now: drop it from NOT_DECLARED"
        return
    assert props, f"{model.__name__}.{name} is not a key of its block in tap.schema.json"
    expected = _default(f)
    if dataclasses.is_dataclass(expected):
        expected = None  # a nested block: its own keys are checked with its own model
    if isinstance(expected, tuple):
        expected = list(expected)
    for prop in props:
        if "const" in prop:
            continue
        assert prop.get("default") == expected, (
            f"{model.__name__}.{name}: model {expected!r}, schema {prop.get('default')!r}"
        )
        if "default" in prop:
            stated = re.search(r"Default:? (.+?)(?:\.\s|\.$|;|\(|$)", prop.get("description", ""))
            if stated and not isinstance(expected, list):
                assert json.dumps(expected).strip('"').removesuffix(".0") in stated.group(1), (
                    f"{name}: prose says {stated.group(1)!r}"
                )


def test_http_settings_and_retry_policy_take_the_model_defaults() -> None:
    """A client built without a declaration behaves like one whose declaration states nothing."""
    settings, retry, http = HttpSettings(name="x"), RetryPolicy(), HttpSpec()
    assert settings.user_agent == http.user_agent
    assert settings.timeout_seconds == http.timeout_seconds
    assert settings.message_fields == ErrorsSpec().message_fields
    assert (retry.max_retries, retry.base_seconds, retry.max_seconds, retry.rate_limit_fallback_seconds) == (
        http.max_retries,
        http.backoff_base_seconds,
        http.backoff_max_seconds,
        http.rate_limit_wait_seconds,
    )


def test_rendered_blocks_parse_template_text_and_empty_values() -> None:
    """Templates render to text; a setting left empty falls back to the default."""
    http = HttpSpec.from_mapping({"timeout_seconds": "15", "verify_tls": "false", "backoff_base_seconds": ""})
    assert (http.timeout_seconds, http.verify_tls, http.backoff_base_seconds) == (15.0, False, 1.0)
    assert RateLimitSpec.from_mapping({"requests": "3", "per_seconds": "1"}) == RateLimitSpec(3, 1.0)
    with pytest.raises(ConfigError, match="invalid rate budget"):
        RateLimitSpec.from_mapping({"requests": "many"}, "tap-x")
    with pytest.raises(ConfigError, match=r"auth\.rate_limit needs requests"):
        OAuth2Config.from_mapping({"token_url": "u", "rate_limit": {"requests": 0}})
    with pytest.raises(ConfigError, match="token_store needs a key"):
        OAuth2Config.from_mapping({"token_url": "u", "token_store": {"kind": "file", "key": " "}})
