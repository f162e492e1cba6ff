"""target-postgres: value conversion and settings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ponte.core.errors import ConfigError
from ponte.targets.postgres.column_types import Kind
from ponte.targets.postgres.json_depth import truncate_depth
from ponte.targets.postgres.settings import LoaderSettings, build_conninfo
from ponte.targets.postgres.values import (
    ConversionError,
    decode_json,
    encode_json_any,
    strict_convert,
    strip_nul,
    to_json_text,
    to_text,
)


def test_decoding_keeps_numbers_exact() -> None:
    decoded = decode_json(b'{"big": 123456789012345678901234567890, "money": 12345678901234567.89}')
    assert decoded["big"] == 123456789012345678901234567890
    assert decoded["money"] == Decimal("12345678901234567.89")
    assert to_json_text({"money": decoded["money"]}) == '{"money":12345678901234567.89}'


def test_text_and_nul_handling() -> None:
    assert to_text(True) == "true" and to_text(Decimal("1.50")) == "1.50" and to_text({"a": 1}) == '{"a":1}'
    assert strip_nul({"a\x00": ["x\x00y", {"b": "\x00"}], "n": 1}) == {"a": ["xy", {"b": ""}], "n": 1}


def test_truncate_depth_cuts_deep_values_and_leaves_strings_alone() -> None:
    deep = b'{"s": "\\\\\\"{[", "t": [[[{"x": "]}"}]], 1], "u": ' + b"[" * 5000 + b"]" * 5000 + b', "v": "}"}'
    assert decode_json(truncate_depth(deep, keep=2)) == {
        "s": '\\"{[',
        "t": ["<nested too deep: cut here>", 1],
        "u": ["<nested too deep: cut here>"],
        "v": "}",
    }
    assert truncate_depth(b'{"a": [1]}', keep=2) == b'{"a": [1]}'


def test_records_with_lone_surrogates_can_be_spilled_and_read_back_exactly() -> None:
    record = {"a": "x\ud800", "n": Decimal("12345678901234567.890"), "e": [Decimal("1E+2"), None, True]}
    assert decode_json(encode_json_any(record)) == record
    assert encode_json_any({"n": Decimal("1.50")}) == b'{"n":1.50}'  # the usual path: msgspec


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (Kind.BIGINT, 5, 5),
        (Kind.BIGINT, Decimal("5.0"), 5),
        (Kind.BIGINT, " 42 ", 42),
        (Kind.BIGINT, "", None),
        (Kind.NUMERIC, "1.25", Decimal("1.25")),
        (Kind.BOOLEAN, "yes", True),
        (Kind.BOOLEAN, 0, False),
        (Kind.DATE, "2024-02-29", "2024-02-29"),
        (Kind.DATE, "2024-02-29T10:00:00Z", "2024-02-29"),
        (Kind.TIMESTAMPTZ, "2024-02-29T10:00:00Z", "2024-02-29T10:00:00+00:00"),
        (Kind.TIMESTAMPTZ, "2024-02-29 10:00:00", "2024-02-29T10:00:00+00:00"),
        (Kind.TIME, "10:30", "10:30:00"),
        (Kind.TEXT, "", ""),
        (Kind.JSONB, "text", '"text"'),
    ],
)
def test_strict_conversion(kind: Kind, value: object, expected: object) -> None:
    assert strict_convert(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (Kind.BIGINT, "abc", "not an integer"),
        (Kind.BIGINT, Decimal("1.5"), "not a whole number"),
        (Kind.BIGINT, 2**63, "does not fit in bigint"),
        (Kind.BIGINT, True, "not an integer"),
        (Kind.NUMERIC, "1,5", "not a number"),
        (Kind.BOOLEAN, "maybe", "not a boolean"),
        (Kind.DATE, "31/12/2024", "not an ISO 8601 date"),
        (Kind.TIMESTAMPTZ, "yesterday", "not an ISO 8601 date-time"),
        (Kind.TIMESTAMPTZ, 1700000000, "not a date-time"),
        (Kind.JSONB, {"a": ["x\ud800"]}, "lone UTF-16 surrogate"),
        (Kind.TEXT, {"a": "\udc00"}, "lone UTF-16 surrogate"),
    ],
)
def test_strict_conversion_rejects_with_a_reason(kind: Kind, value: object, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        strict_convert(kind, value)


def test_settings_defaults_and_destinations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MELTANO_EXTRACT__LOAD_SCHEMA", raising=False)
    monkeypatch.setenv("MELTANO_EXTRACTOR_NAME", "tap-sienge")
    monkeypatch.setenv("MELTANO_LOADER_NAME", "target-postgres")
    monkeypatch.setenv("MELTANO_ENVIRONMENT", "dev")
    settings = LoaderSettings.from_config(
        {"host": "db", "user": "loader", "schema_mapping": {"orders": "vendas", "bills": "finance.contas"}}
    )
    assert settings.default_schema == "public" and settings.load_method == "upsert"
    assert settings.batch_size_rows == 50_000 and not settings.validate_records and settings.add_record_metadata
    assert settings.pipeline_name == "dev:tap-sienge-to-target-postgres"
    assert (settings.reconnect_attempts, settings.reconnect_backoff_seconds) == (6, 1.0)
    assert LoaderSettings.from_config({"reconnect_backoff_seconds": " 0.5 "}).reconnect_backoff_seconds == 0.5
    assert settings.destination("customers") == ("public", None)
    assert settings.destination("orders") == ("vendas", None)
    assert settings.destination("bills") == ("finance", "contas")
    monkeypatch.setenv("MELTANO_EXTRACT__LOAD_SCHEMA", "sienge")
    assert LoaderSettings.from_config({}).default_schema == "sienge"
    with pytest.raises(ConfigError, match="load_method"):
        LoaderSettings.from_config({"load_method": "merge"})


def test_conninfo() -> None:
    assert "host=db" in build_conninfo({"host": "db", "port": 5433, "database": "dw"})
    assert "dbname=dw" in build_conninfo({"host": "db", "port": 5433, "database": "dw"})
    converted = build_conninfo({"sqlalchemy_url": "postgresql+psycopg://u:p@h:5432/d", "host": "ignored"})
    assert "host=h" in converted and "ignored" not in converted
    with pytest.raises(ConfigError, match="dsn"):
        build_conninfo({"dsn": "not a dsn at all =="})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@h:5432/d",
        "postgres://u:p@h:5432/d",
        "postgresql+psycopg://u:p@h:5432/d",
        "postgresql+psycopg2://u:p@h:5432/d",
        "postgresql+asyncpg://u:p@h:5432/d",
        "POSTGRESQL+PG8000://u:p@h:5432/d",
    ],
)
def test_sqlalchemy_url_as_meltanolabs_users_write_it(url: str) -> None:
    """Whatever driver suffix the URL names, the loader connects to its host and database, not the defaults."""
    conninfo = build_conninfo({"sqlalchemy_url": url, "host": "127.0.0.1", "database": "ponte"})
    assert "host=h" in conninfo and "dbname=d" in conninfo and "ponte" not in conninfo.replace("ponte target", "")


def test_a_url_of_another_database_or_two_disagreeing_urls_are_refused() -> None:
    with pytest.raises(ConfigError, match="'sqlalchemy_url' is a mysql URL; it must point at PostgreSQL") as refused:
        build_conninfo({"sqlalchemy_url": "mysql+pymysql://u:secret@h/d"})
    assert "secret" not in str(refused.value)
    with pytest.raises(ConfigError, match="'dsn' and 'sqlalchemy_url' are both set and differ"):
        build_conninfo({"dsn": "postgresql://u@h/a", "sqlalchemy_url": "postgresql+psycopg://u@h/b"})
    same = build_conninfo({"dsn": "postgresql://u@h/a", "sqlalchemy_url": "postgresql+psycopg2://u@h/a"})
    assert "dbname=a" in same
    with pytest.raises(ConfigError, match="setting 'sqlalchemy_url' is not a valid"):
        build_conninfo({"sqlalchemy_url": "postgresql://u@h:5432/d?sslmode"})
