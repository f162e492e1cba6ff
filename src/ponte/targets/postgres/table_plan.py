"""Decide what a stream's table must look like, and which DDL gets an existing table there.

Pure functions over a snapshot of the table (`TableInfo`), so every schema-evolution rule is unit-tested
without a database: new properties add columns, safe widenings alter in place, incompatible changes keep the
old column and add `<name>__<type>`, and a column never changes the source field it holds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from ponte.targets.postgres import names
from ponte.targets.postgres.column_types import Kind, holds, kind_for, kind_of_sql_type, widening_using

logger = logging.getLogger(__name__)

EXTRACTED_AT = "_sdc_extracted_at"
RECEIVED_AT = "_sdc_received_at"
DELETED_AT = "_sdc_deleted_at"
TABLE_VERSION = "_sdc_table_version"
METADATA_COLUMNS = {
    EXTRACTED_AT: (Kind.TIMESTAMPTZ, "When the tap extracted the record (Singer time_extracted)."),
    RECEIVED_AT: (Kind.TIMESTAMPTZ, "When the loader received the record (start of its batch's transaction)."),
    DELETED_AT: (Kind.TIMESTAMPTZ, "When the record was found deleted at the source; NULL while it exists."),
    TABLE_VERSION: (Kind.BIGINT, "Full-table sync version that last wrote the row (Singer ACTIVATE_VERSION)."),
}
# Filled by the column's DEFAULT now() instead of being sent with every row: one value per batch anyway,
# and PostgreSQL then has no timestamp to parse per row.
STAMPED_COLUMNS = (RECEIVED_AT,)
STAMP_DEFAULT = "now()"
_INTEGER_TYPES = {"integer", "smallint"}


@dataclass(frozen=True)
class ExistingColumn:
    """One column as the catalog reports it."""

    sql_type: str
    comment: str | None
    default: str | None = None


@dataclass
class TableInfo:
    """What the catalog says about a table (an absent table has `exists=False`)."""

    exists: bool
    columns: dict[str, ExistingColumn] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)
    primary_key_name: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class PlannedColumn:
    """A column we write: `source` is the record field (None for metadata), `kind` the column's own kind,
    `values` the kind the schema declares for the field (they differ when a wider column holds them)."""

    name: str
    kind: Kind
    values: Kind
    source: str | None = None
    metadata: str | None = None


@dataclass
class TablePlan:
    """Columns in COPY order, the key to merge on, and the DDL that makes the table match.

    `stamped` columns are not in `columns`: their DEFAULT now() fills them (the merge selects now()).
    """

    schema: str
    table: str
    columns: list[PlannedColumn]
    key_columns: list[str]
    statements: list[sql.Composable]
    warnings: list[str]
    stamped: list[str] = field(default_factory=list)

    @property
    def ident(self) -> sql.Identifier:
        """The table as a quoted, schema-qualified identifier."""
        return sql.Identifier(self.schema, self.table)


def _column_ddl(name: str, kind: Kind) -> sql.Composable:
    default = sql.SQL(f" DEFAULT {STAMP_DEFAULT}") if name in STAMPED_COLUMNS else sql.SQL("")
    return sql.SQL("{} {}{}").format(sql.Identifier(name), sql.SQL(kind.value), default)


def _comment_on_column(ident: sql.Identifier, column: str, text: str) -> sql.Composable:
    return sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(ident, sql.Identifier(column), sql.Literal(text))


def plan_table(
    *,
    schema_name: str,
    table_name: str,
    stream: str,
    schema: Mapping[str, Any],
    key_properties: Sequence[str],
    existing: TableInfo,
    add_record_metadata: bool = True,
    append_only: bool = False,
) -> TablePlan:
    """Plan columns and DDL for `stream` landing in `schema_name.table_name`."""
    ident = sql.Identifier(schema_name, table_name)
    properties: dict[str, Any] = dict(schema.get("properties") or {})
    warnings: list[str] = []
    for key in key_properties:
        if key not in properties:
            warnings.append(f"stream '{stream}': key property '{key}' is not in the schema; storing it as text")
            properties[key] = {"type": "string"}
    metadata = [m for m in METADATA_COLUMNS if add_record_metadata or m in (DELETED_AT, TABLE_VERSION)]

    claimed: dict[str, str] = {}  # source field -> existing column
    for column_name, column in existing.columns.items():
        source = names.source_field_of(column.comment)
        if source is not None and source not in claimed:
            claimed[source] = column_name
    allocator = names.NameAllocator([*existing.columns, *METADATA_COLUMNS])

    statements: list[sql.Composable] = []
    new_columns: list[tuple[str, Kind]] = []
    comments: list[tuple[str, str]] = []
    planned: list[PlannedColumn] = []
    field_to_column: dict[str, str] = {}

    for source, prop in properties.items():
        if source in METADATA_COLUMNS:
            continue  # `_sdc_deleted_at` in records feeds the metadata column of the same name
        wanted = kind_for(prop if isinstance(prop, Mapping) else {})
        description = prop.get("description") if isinstance(prop, Mapping) else None
        comment = names.column_comment(source, description)
        column_name = claimed.get(source)
        if column_name is None:
            base = names.column_name(source)
            adoptable = base if base in existing.columns else source if source in existing.columns else None
            if (
                adoptable
                and adoptable not in claimed.values()
                and names.source_field_of(existing.columns[adoptable].comment) in (None, source)
            ):
                column_name = adoptable
                claimed[source] = adoptable
        if column_name is None:
            column_name = allocator.allocate(names.column_name(source))
            new_columns.append((column_name, wanted))
            comments.append((column_name, comment))
            planned.append(PlannedColumn(column_name, wanted, wanted, source=source))
            field_to_column[source] = column_name
            continue

        current = existing.columns[column_name]
        current_kind = kind_of_sql_type(current.sql_type)
        if current.comment != comment and names.source_field_of(current.comment) in (None, source):
            comments.append((column_name, comment))
        if current_kind is None:
            warnings.append(
                f"{schema_name}.{table_name}.{column_name}: column type {current.sql_type} is not one we create; "
                f"writing {wanted.short} values as text and letting PostgreSQL convert them"
            )
            planned.append(PlannedColumn(column_name, Kind.TEXT, wanted, source=source))
        elif current.sql_type in _INTEGER_TYPES and wanted in (Kind.BIGINT, Kind.NUMERIC):
            statements.append(_alter_type(ident, column_name, wanted, f"{{col}}::{wanted.value}"))
            warnings.append(f"{schema_name}.{table_name}.{column_name}: widened {current.sql_type} to {wanted.short}")
            planned.append(PlannedColumn(column_name, wanted, wanted, source=source))
        elif holds(current_kind, wanted):
            planned.append(PlannedColumn(column_name, current_kind, wanted, source=source))
        elif (using := widening_using(current_kind, wanted)) is not None:
            statements.append(_alter_type(ident, column_name, wanted, using))
            warnings.append(
                f"{schema_name}.{table_name}.{column_name}: widened {current_kind.short} to {wanted.short} "
                f"(field '{source}' changed type; no value lost)"
            )
            planned.append(PlannedColumn(column_name, wanted, wanted, source=source))
        else:
            replacement = allocator.allocate(names.with_suffix(column_name, f"__{wanted.short}"))
            new_columns.append((replacement, wanted))
            comments.append((replacement, comment))
            comments.append((column_name, names.retire_comment(current.comment, source, replacement, wanted.short)))
            warnings.append(
                f"{schema_name}.{table_name}: field '{source}' changed type from {current_kind.short} to "
                f"{wanted.short}, which cannot be converted safely; column {column_name} keeps the old values "
                f"and new values go to the new column {replacement}"
            )
            planned.append(PlannedColumn(replacement, wanted, wanted, source=source))
            column_name = replacement
        field_to_column[source] = column_name

    stamped: list[str] = []
    for name in metadata:
        kind, description = METADATA_COLUMNS[name]
        if name not in existing.columns:
            new_columns.append((name, kind))
            comments.append((name, description))
        if name in STAMPED_COLUMNS:
            stamped.append(name)
            if name in existing.columns and existing.columns[name].default != STAMP_DEFAULT:
                statements.append(
                    sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                        ident, sql.Identifier(name), sql.SQL(STAMP_DEFAULT)
                    )
                )
        else:
            planned.append(PlannedColumn(name, kind, kind, metadata=name))

    wanted_key = [] if append_only else [field_to_column[k] for k in key_properties if k in field_to_column]
    key_columns = wanted_key

    if not existing.exists:
        elements = [_column_ddl(name, kind) for name, kind in new_columns]
        if wanted_key:
            elements.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, wanted_key))))
        statements.append(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(elements)))
    else:
        for name, kind in new_columns:
            statements.append(sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(ident, _column_ddl(name, kind)))
        key_columns = _reconcile_key(ident, existing, wanted_key, statements, warnings, stream)

    table_text = names.table_comment(stream, schema.get("description"))
    if table_text != existing.comment:
        statements.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(ident, sql.Literal(table_text)))
    statements.extend(_comment_on_column(ident, column, text) for column, text in comments)
    return TablePlan(schema_name, table_name, planned, key_columns, statements, warnings, stamped)


def _alter_type(ident: sql.Identifier, column: str, kind: Kind, using: str) -> sql.Composable:
    expression = sql.SQL(using.replace("{col}", "{0}")).format(sql.Identifier(column))
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}").format(
        ident, sql.Identifier(column), sql.SQL(kind.value), expression
    )


def _reconcile_key(
    ident: sql.Identifier,
    existing: TableInfo,
    wanted: list[str],
    statements: list[sql.Composable],
    warnings: list[str],
    stream: str,
) -> list[str]:
    """Keep, replace or adopt the table's primary key; returns the columns to merge on."""
    current = existing.primary_key
    if current == wanted:
        return current
    if current and not wanted:
        warnings.append(
            f"stream '{stream}' declares key {wanted or 'none'} but the table's primary key is {current}; "
            "merging on the table's key"
        )
        return current
    if current and existing.primary_key_name:
        statements.append(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident, sql.Identifier(existing.primary_key_name))
        )
    statements.append(
        sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(ident, sql.SQL(", ").join(map(sql.Identifier, wanted)))
    )
    warnings.append(f"stream '{stream}': primary key changes from {current or 'none'} to {wanted}")
    return wanted
