"""target-postgres: identifiers, type mapping and schema-evolution planning (no database needed)."""

from __future__ import annotations

import pytest

from ponte.targets.postgres import names
from ponte.targets.postgres.column_types import Kind, holds, kind_for, kind_of_sql_type, widening_using
from ponte.targets.postgres.table_plan import ExistingColumn, TableInfo, plan_table


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("clientName", "client_name"),
        ("Id", "id"),
        ("HTTPServerURL", "http_server_url"),
        ("Situação", "situacao"),
        ("agent:os:version", "agent_os_version"),
        ("test:SpecialChars!in?attributes", "test_special_chars_in_attributes"),
        ("_id", "_id"),
        ("_sdc_extracted_at", "_sdc_extracted_at"),
        ("1stPlace", "_1st_place"),
        ("valor  total (R$)", "valor_total_r"),
    ],
)
def test_snake_case(source: str, expected: str) -> None:
    assert names.snake_case(source) == expected


def test_snake_case_keeps_untransliterable_names_distinct_and_short() -> None:
    chinese = names.snake_case("简单")
    assert chinese.startswith("c_") and chinese != names.snake_case("字串")
    assert len(names.snake_case("x" * 200).encode()) == names.MAX_IDENTIFIER_BYTES


def test_allocator_adds_suffixes_within_63_bytes() -> None:
    allocator = names.NameAllocator(["client_name"])
    assert allocator.allocate("client_name") == "client_name_2"
    assert allocator.allocate("client_name") == "client_name_3"
    long = "a" * 63
    allocator.taken.add(long)
    assert allocator.allocate(long) == "a" * 61 + "_2"


def test_comments_carry_the_source_field() -> None:
    comment = names.column_comment("clientName", "Nome do cliente")
    assert comment == "Nome do cliente\nsource field: clientName"
    assert names.source_field_of(comment) == "clientName"
    retired = names.retire_comment(comment, "clientName", "client_name__bigint", "bigint")
    assert names.source_field_of(retired) is None and "client_name__bigint" in retired
    assert names.source_stream_of(names.table_comment("customers", None)) == "customers"


@pytest.mark.parametrize("source", ['a"b', "c\\d", "e\tf", "g\nh", "i\rj\u2028k", "nul\x00", '"quoted"', "plain"])
def test_any_source_field_reads_back_from_its_comment(source: str) -> None:
    comment = names.column_comment(source, "Descrição\nsource field: not this one")
    assert names.source_field_of(comment) == source
    assert "\x00" not in comment and comment.splitlines()[-1].startswith("source field: ")
    assert names.source_stream_of(names.table_comment(source, None)) == source


@pytest.mark.parametrize("source", ["xmin", "XMAX", "Cmin", "cmax", "ctid", "TABLEOID", "Tableoid"])
def test_system_column_names_are_avoided(source: str) -> None:
    plan = plan_table(
        schema_name="s",
        table_name="t",
        stream="t",
        schema={"properties": {"id": {"type": "integer"}, source: {"type": "string"}}},
        key_properties=["id"],
        existing=TableInfo(exists=False),
    )
    [column] = [c for c in plan.columns if c.source == source]
    assert column.name == source.lower() + "_" and column.name.rstrip("_") in names.SYSTEM_COLUMNS


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "integer"}, Kind.BIGINT),
        ({"type": ["null", "integer"]}, Kind.BIGINT),
        ({"type": "number"}, Kind.NUMERIC),
        ({"type": ["integer", "number"]}, Kind.NUMERIC),
        ({"type": "boolean"}, Kind.BOOLEAN),
        ({"type": "string"}, Kind.TEXT),
        ({"type": ["string", "null"], "format": "date-time"}, Kind.TIMESTAMPTZ),
        ({"type": "string", "format": "date"}, Kind.DATE),
        ({"type": "string", "format": "time"}, Kind.TIME),
        ({"type": "string", "format": "uuid"}, Kind.TEXT),
        ({"type": "object", "properties": {}}, Kind.JSONB),
        ({"type": "array", "items": {"type": "string"}}, Kind.JSONB),
        ({}, Kind.JSONB),
        ({"type": ["string", "integer"]}, Kind.TEXT),
        ({"type": ["object", "string"]}, Kind.JSONB),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": ["string", "null"]}]}, Kind.TEXT),
        ({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}, Kind.DATE),
        ({"anyOf": [{"type": "integer"}, {"type": "number"}]}, Kind.NUMERIC),
    ],
)
def test_kind_for(schema: dict, kind: Kind) -> None:
    assert kind_for(schema) is kind


def test_type_lattice() -> None:
    assert holds(Kind.NUMERIC, Kind.BIGINT) and not holds(Kind.BIGINT, Kind.NUMERIC)
    assert all(holds(Kind.TEXT, k) and holds(Kind.JSONB, k) for k in Kind)
    assert holds(Kind.TIMESTAMPTZ, Kind.DATE)
    assert widening_using(Kind.BIGINT, Kind.NUMERIC) == "{col}::numeric"
    assert widening_using(Kind.BOOLEAN, Kind.TEXT) == "{col}::text"
    assert widening_using(Kind.BIGINT, Kind.BOOLEAN) is None
    assert kind_of_sql_type("character varying(20)") is Kind.TEXT
    assert kind_of_sql_type("numeric(12,2)") is Kind.NUMERIC
    assert kind_of_sql_type("uuid") is None


SCHEMA = {
    "description": "Clientes",
    "properties": {
        "id": {"type": "integer"},
        "clientName": {"type": "string", "description": "Nome"},
        "client_name": {"type": "string"},
        "amount": {"type": "integer"},
    },
}


def _existing(**columns: tuple[str, str | None]) -> TableInfo:
    return TableInfo(
        exists=True,
        columns={name: ExistingColumn(sql_type, comment) for name, (sql_type, comment) in columns.items()},
        primary_key=["id"],
        primary_key_name="customers_pkey",
        comment="Clientes\nsource stream: customers",
    )


def _plan(schema: dict, existing: TableInfo, **kwargs: object):
    return plan_table(
        schema_name="sienge",
        table_name="customers",
        stream="customers",
        schema=schema,
        key_properties=["id"],
        existing=existing,
        **kwargs,
    )


def _sql(plan) -> list[str]:
    return [str(statement.as_string()) for statement in plan.statements]


def test_new_table_gets_typed_columns_key_metadata_and_comments() -> None:
    plan = _plan(SCHEMA, TableInfo(exists=False))
    assert [c.name for c in plan.columns] == [
        "id",
        "client_name",
        "client_name_2",
        "amount",
        "_sdc_extracted_at",
        "_sdc_deleted_at",
        "_sdc_table_version",
    ]
    assert plan.key_columns == ["id"] and plan.stamped == ["_sdc_received_at"]
    statements = _sql(plan)
    assert statements[0].startswith('CREATE TABLE "sienge"."customers" ("id" bigint, "client_name" text')
    assert '"_sdc_received_at" timestamp with time zone DEFAULT now()' in statements[0]
    assert 'PRIMARY KEY ("id")' in statements[0]
    assert any("COMMENT ON TABLE" in s and "source stream: customers" in s for s in statements)
    assert any("\"client_name\" IS 'Nome\nsource field: clientName'" in s for s in statements)
    assert any("\"client_name_2\" IS 'source field: client_name'" in s for s in statements)


def test_existing_mapping_is_kept_and_new_fields_are_added() -> None:
    existing = _existing(
        id=("bigint", "source field: id"),
        client_name=("text", "Nome\nsource field: clientName"),
        client_name_2=("text", "source field: client_name"),
        amount=("bigint", "source field: amount"),
        _sdc_extracted_at=("timestamp with time zone", None),
        _sdc_received_at=("timestamp with time zone", None),  # made by an older version: no default yet
        _sdc_deleted_at=("timestamp with time zone", None),
        _sdc_table_version=("bigint", None),
    )
    schema = {**SCHEMA, "properties": {"clientName": {"type": "string"}, **SCHEMA["properties"], "newField": {}}}
    plan = _plan(schema, existing)
    by_source = {c.source: c.name for c in plan.columns if c.source}
    assert by_source == {
        "clientName": "client_name",
        "id": "id",
        "client_name": "client_name_2",
        "amount": "amount",
        "newField": "new_field",
    }
    assert 'ALTER TABLE "sienge"."customers" ADD COLUMN "new_field" jsonb' in _sql(plan)
    assert 'ALTER TABLE "sienge"."customers" ALTER COLUMN "_sdc_received_at" SET DEFAULT now()' in _sql(plan)


def test_new_fields_whose_names_collide_get_their_own_columns_for_good() -> None:
    """A tap may announce fields mid-run whose snake_case name a column already has (ponte.tap.undeclared_fields)."""
    existing = _existing(id=("bigint", "source field: id"), social_name=("text", "source field: socialName"))
    string = {"type": ["string", "null"]}
    schema = {
        "properties": {"id": {"type": "integer"}, "social_name": string, "SocialName": string, "socialName": string}
    }
    plan = _plan(schema, existing, add_record_metadata=False)
    by_source = {c.source: c.name for c in plan.columns if c.source}
    assert by_source == {
        "id": "id",
        "social_name": "social_name_2",
        "SocialName": "social_name_3",
        "socialName": "social_name",
    }
    after = _existing(
        id=("bigint", "source field: id"),
        **{column: ("text", f"source field: {source}") for source, column in by_source.items() if source != "id"},
        _sdc_deleted_at=("timestamp with time zone", None),
        _sdc_table_version=("bigint", None),
    )
    replanned = _plan({"properties": dict(reversed(schema["properties"].items()))}, after, add_record_metadata=False)
    assert {c.source: c.name for c in replanned.columns if c.source} == by_source
    assert not [s for s in _sql(replanned) if "ALTER" in s]


def test_widening_alters_in_place_and_narrowing_writes_into_the_wider_column() -> None:
    existing = _existing(
        id=("bigint", "source field: id"),
        amount=("bigint", "source field: amount"),
        price=("numeric", "source field: price"),
    )
    schema = {"properties": {"id": {"type": "integer"}, "amount": {"type": "number"}, "price": {"type": "integer"}}}
    plan = _plan(schema, existing, add_record_metadata=False)
    statements = _sql(plan)
    assert 'ALTER TABLE "sienge"."customers" ALTER COLUMN "amount" TYPE numeric USING "amount"::numeric' in statements
    price = next(c for c in plan.columns if c.source == "price")
    assert price.kind is Kind.NUMERIC and price.values is Kind.BIGINT
    assert not any('"price" TYPE' in s for s in statements)


def test_incompatible_change_keeps_the_old_column_and_adds_a_new_one() -> None:
    existing = _existing(id=("bigint", "source field: id"), amount=("bigint", "Valor\nsource field: amount"))
    schema = {"properties": {"id": {"type": "integer"}, "amount": {"type": "boolean"}}}
    plan = _plan(schema, existing, add_record_metadata=False)
    amount = next(c for c in plan.columns if c.source == "amount")
    assert amount.name == "amount__boolean" and amount.kind is Kind.BOOLEAN
    statements = _sql(plan)
    assert 'ALTER TABLE "sienge"."customers" ADD COLUMN "amount__boolean" boolean' in statements
    assert any('"amount" IS \'Valor\nretired source field: amount' in s for s in statements)
    assert any("cannot be converted safely" in w for w in plan.warnings)


def test_key_change_replaces_the_primary_key() -> None:
    existing = _existing(id=("bigint", "source field: id"), email=("text", "source field: email"))
    schema = {"properties": {"id": {"type": "integer"}, "email": {"type": "string"}}}
    plan = plan_table(
        schema_name="s",
        table_name="t",
        stream="t",
        schema=schema,
        key_properties=["email"],
        existing=existing,
        add_record_metadata=False,
    )
    statements = _sql(plan)
    assert 'ALTER TABLE "s"."t" DROP CONSTRAINT "customers_pkey"' in statements
    assert 'ALTER TABLE "s"."t" ADD PRIMARY KEY ("email")' in statements
    assert plan.key_columns == ["email"]


def test_append_only_tables_get_no_primary_key() -> None:
    plan = _plan(SCHEMA, TableInfo(exists=False), append_only=True)
    assert plan.key_columns == []
    assert "PRIMARY KEY" not in _sql(plan)[0]
