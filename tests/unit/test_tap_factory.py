"""The generated tap: config schema from the declared settings, defaults merged into streams, children linked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from ponte.core.errors import AuthError, QuotaExhausted, SpecError
from ponte.declaration.models import PaginatorSpec
from ponte.declaration.streams import stream_specs
from ponte.tap.factory import build_tap_class, config_jsonschema

SETTINGS = [
    {"name": "token", "kind": "string", "required": True, "secret": True},
    {"name": "start_date", "kind": "date", "default": "2000-01-01"},
    {"name": "base_url", "kind": "string", "default": "https://x/{{ config.tenant }}"},
]


def spec(**overrides: object) -> dict:
    base = {
        "name": "demo",
        "settings": SETTINGS,
        "base_url": "{{ config.base_url }}",
        "auth": {"type": "bearer", "token": "{{ config.token }}"},
        "defaults": {
            "paginator": {"type": "offset", "page_size": 50, "total_field": "meta.count"},
            "record_selector": "data",
        },
        "streams": [
            {
                "name": "orders",
                "path": "/orders",
                "primary_key": ["id"],
                "paginator": {"type": "offset", "inserts_at": "head"},
                "schema": {
                    "inline": {
                        "properties": {"id": {"type": ["integer", "null"]}, "total": {"type": ["number", "null"]}}
                    }
                },
            },
            {
                "name": "order_items",
                "parent": "orders",
                "path": "/orders/{{ parent.id }}/items",
                "parent_keys": {"orderId": "id"},
                "primary_key": ["orderId", "line"],
                "paginator": {"type": "none"},
                "record_selector": "$",
                "schema": {"inline": {"properties": {"line": {"type": "integer"}}}},
            },
        ],
    }
    base.update(overrides)
    return base


def test_config_schema_marks_secrets_and_keeps_plain_defaults() -> None:
    schema = config_jsonschema(SETTINGS)
    assert schema["required"] == ["token"]
    assert schema["properties"]["token"]["secret"] is True
    assert schema["properties"]["token"]["writeOnly"] is True
    assert schema["properties"]["start_date"] == {"type": ["string", "null"], "format": "date", "default": "2000-01-01"}
    # a templated default is rendered at run time, so it must not be offered as a literal default
    assert "default" not in schema["properties"]["base_url"]
    assert schema["properties"]["emit_activate_version_messages"]["default"] is True


def test_stream_specs_merge_defaults_and_make_keys_non_null(tmp_path: Path) -> None:
    orders, items = stream_specs(spec(), tmp_path, "demo.yml")
    assert orders.paginator == PaginatorSpec(type="offset", page_size=50, total_field="meta.count", inserts_at="head")
    assert orders.record_selector == "data"
    assert orders.schema["properties"]["id"]["type"] == ["integer"]
    assert items.record_selector == "$"
    assert "orderId" in items.schema["properties"]  # parent key copied into the child's records
    assert items.parent_fields() == {"id"}


def test_primary_key_missing_from_schema_is_a_spec_error(tmp_path: Path) -> None:
    bad = spec()
    bad["streams"][0]["primary_key"] = ["code"]
    with pytest.raises(
        SpecError, match=r"streams\.0\.primary_key: primary key field 'code' is not in the stream's schema"
    ):
        stream_specs(bad, tmp_path, "demo.yml")


def test_generated_tap_links_children_and_discovers_without_credentials(tmp_path: Path) -> None:
    tap_class = build_tap_class(spec(), tmp_path, "demo.yml")
    assert tap_class.name == "tap-demo"
    tap = tap_class(config={}, validate_config=False, setup_mapper=False)
    streams = tap.streams
    assert set(streams) == {"orders", "order_items"}
    assert streams["order_items"].parent_stream_type is type(streams["orders"])
    assert streams["orders"].child_parent_fields == {"id"}
    catalog = {s["tap_stream_id"]: s for s in tap.catalog_dict["streams"]}
    assert catalog["order_items"]["key_properties"] == ["orderId", "line"]


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (AuthError("stream 'orders': 401 Unauthorized from /orders"), logging.DEBUG),
        (QuotaExhausted("daily request quota spent"), logging.DEBUG),
        (KeyError("a bug"), logging.ERROR),
    ],
)
def test_the_sdk_unhandled_error_line_is_an_error_only_for_real_bugs(
    error: Exception, level: int, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tap = build_tap_class(spec(), tmp_path, "demo.yml")(config={"token": "t"}, parse_env_config=False)
    stream = tap.streams["orders"]

    def fail(context: object) -> Iterator[dict]:
        raise error

    monkeypatch.setattr(stream, "get_records", fail)
    with caplog.at_level(logging.DEBUG), pytest.raises(type(error)):
        stream.sync()
    lines = [r for r in caplog.records if r.getMessage().startswith("An unhandled error occurred while syncing")]
    assert [r.levelno for r in lines] == [level]


def test_page_params_come_from_the_token_singer_sdk_passes(tmp_path: Path) -> None:
    """get_url_params builds the paging parameters from `next_page_token`, not from a paginator kept aside."""
    tap = build_tap_class(spec(), tmp_path, "demo.yml")(
        config={"token": "t", "base_url": "https://api.example"}, parse_env_config=False
    )
    orders, items = tap.streams["orders"], tap.streams["order_items"]
    assert orders.get_url_params(None, 150) == {"limit": 50, "offset": 150}
    assert orders.get_url_params(None, 0) == {"limit": 50, "offset": 0}
    assert items.get_url_params({"id": 7}, None) == {}
