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
    """Plan columns and DDL for `stream` landing in `schema_name.table_name`.

    The steps, in the order their DDL runs: map each schema field to a column (new, adopted, widened or
    replaced), add the metadata columns, create or alter the table and its key, then the comments.
    """
    plan = _Planner(schema_name, table_name, stream, existing)
    properties = plan.with_key_properties(schema, key_properties)
    claimed = _claimed_columns(existing)
    for source, prop in properties.items():
        if source not in METADATA_COLUMNS:  # `_sdc_deleted_at` in records feeds the metadata column of that name
            plan.field(source, prop if isinstance(prop, Mapping) else {}, claimed)
    plan.metadata([m for m in METADATA_COLUMNS if add_record_metadata or m in (DELETED_AT, TABLE_VERSION)])
    wanted_key = [] if append_only else [plan.field_to_column[k] for k in key_properties if k in plan.field_to_column]
    key_columns = plan.create_or_alter(wanted_key)
    plan.comment_table(names.table_comment(stream, schema.get("description")))
    return TablePlan(schema_name, table_name, plan.planned, key_columns, plan.statements, plan.warnings, plan.stamped)


def _claimed_columns(existing: TableInfo) -> dict[str, str]:
    """Source field -> the existing column whose comment says it holds that field (the first one)."""
    claimed: dict[str, str] = {}
    for column_name, column in existing.columns.items():
        source = names.source_field_of(column.comment)
        if source is not None and source not in claimed:
            claimed[source] = column_name
    return claimed


@dataclass
class _Planner:
    """The plan being built: columns in COPY order, DDL in running order, comments, warnings."""

    schema_name: str
    table_name: str
    stream: str
    existing: TableInfo
    statements: list[sql.Composable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    planned: list[PlannedColumn] = field(default_factory=list)
    new_columns: list[tuple[str, Kind]] = field(default_factory=list)
    comments: list[tuple[str, str]] = field(default_factory=list)
    field_to_column: dict[str, str] = field(default_factory=dict)
    stamped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ident = sql.Identifier(self.schema_name, self.table_name)
        self.allocator = names.NameAllocator([*self.existing.columns, *METADATA_COLUMNS])

    def with_key_properties(self, schema: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
        """The schema's properties, plus any key property it lacks (stored as text, with a warning)."""
        properties: dict[str, Any] = dict(schema.get("properties") or {})
        for key in keys:
            if key not in properties:
                self.warnings.append(
                    f"stream '{self.stream}': key property '{key}' is not in the schema; storing it as text"
                )
                properties[key] = {"type": "string"}
        return properties

    def field(self, source: str, prop: Mapping[str, Any], claimed: dict[str, str]) -> None:
        """Give one record field its column: the one that holds it, one to adopt, or a new one."""
        wanted = kind_for(prop)
        comment = names.column_comment(source, prop.get("description"))
        column_name = claimed.get(source) or self._adoptable(source, claimed)
        if column_name is None:
            column_name = self.allocator.allocate(names.column_name(source))
            self._add_column(column_name, wanted, comment)
            self.planned.append(PlannedColumn(column_name, wanted, wanted, source=source))
        else:
            column_name = self._evolve(column_name, source, wanted, comment)
        self.field_to_column[source] = column_name

    def _adoptable(self, source: str, claimed: dict[str, str]) -> str | None:
        """An existing column named like the field, not holding another field: it becomes the field's."""
        columns = self.existing.columns
        base = names.column_name(source)
        adoptable = base if base in columns else source if source in columns else None
        if (
            adoptable
            and adoptable not in claimed.values()
            and names.source_field_of(columns[adoptable].comment) in (None, source)
        ):
            claimed[source] = adoptable
            return adoptable
        return None

    def _evolve(self, column_name: str, source: str, wanted: Kind, comment: str) -> str:
        """Keep, widen or replace an existing column for the kind the schema now declares; the column used."""
        where = f"{self.schema_name}.{self.table_name}"
        current = self.existing.columns[column_name]
        current_kind = kind_of_sql_type(current.sql_type)
        if current.comment != comment and names.source_field_of(current.comment) in (None, source):
            self.comments.append((column_name, comment))
        if current_kind is None:
            self.warnings.append(
                f"{where}.{column_name}: column type {current.sql_type} is not one we create; "
                f"writing {wanted.short} values as text and letting PostgreSQL convert them"
            )
            self.planned.append(PlannedColumn(column_name, Kind.TEXT, wanted, source=source))
        elif current.sql_type in _INTEGER_TYPES and wanted in (Kind.BIGINT, Kind.NUMERIC):
            self.statements.append(_alter_type(self.ident, column_name, wanted, f"{{col}}::{wanted.value}"))
            self.warnings.append(f"{where}.{column_name}: widened {current.sql_type} to {wanted.short}")
            self.planned.append(PlannedColumn(column_name, wanted, wanted, source=source))
        elif holds(current_kind, wanted):
            self.planned.append(PlannedColumn(column_name, current_kind, wanted, source=source))
        elif (using := widening_using(current_kind, wanted)) is not None:
            self.statements.append(_alter_type(self.ident, column_name, wanted, using))
            self.warnings.append(
                f"{where}.{column_name}: widened {current_kind.short} to {wanted.short} "
                f"(field '{source}' changed type; no value lost)"
            )
            self.planned.append(PlannedColumn(column_name, wanted, wanted, source=source))
        else:
            replacement = self.allocator.allocate(names.with_suffix(column_name, f"__{wanted.short}"))
            self._add_column(replacement, wanted, comment)
            self.comments.append(
                (column_name, names.retire_comment(current.comment, source, replacement, wanted.short))
            )
            self.warnings.append(
                f"{where}: field '{source}' changed type from {current_kind.short} to "
                f"{wanted.short}, which cannot be converted safely; column {column_name} keeps the old values "
                f"and new values go to the new column {replacement}"
            )
            self.planned.append(PlannedColumn(replacement, wanted, wanted, source=source))
            return replacement
        return column_name

    def _add_column(self, name: str, kind: Kind, comment: str) -> None:
        self.new_columns.append((name, kind))
        self.comments.append((name, comment))

    def metadata(self, columns: list[str]) -> None:
        """The Singer metadata columns; stamped ones are filled by their DEFAULT now(), not by COPY."""
        for name in columns:
            kind, description = METADATA_COLUMNS[name]
            if name not in self.existing.columns:
                self._add_column(name, kind, description)
            if name not in STAMPED_COLUMNS:
                self.planned.append(PlannedColumn(name, kind, kind, metadata=name))
                continue
            self.stamped.append(name)
            if name in self.existing.columns and self.existing.columns[name].default != STAMP_DEFAULT:
                self.statements.append(
                    sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                        self.ident, sql.Identifier(name), sql.SQL(STAMP_DEFAULT)
                    )
                )

    def create_or_alter(self, wanted_key: list[str]) -> list[str]:
        """CREATE TABLE with its key, or ADD COLUMN and reconcile the key; returns the columns to merge on."""
        if not self.existing.exists:
            elements = [_column_ddl(name, kind) for name, kind in self.new_columns]
            if wanted_key:
                keys = sql.SQL(", ").join(map(sql.Identifier, wanted_key))
                elements.append(sql.SQL("PRIMARY KEY ({})").format(keys))
            self.statements.append(sql.SQL("CREATE TABLE {} ({})").format(self.ident, sql.SQL(", ").join(elements)))
            return wanted_key
        for name, kind in self.new_columns:
            self.statements.append(sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(self.ident, _column_ddl(name, kind)))
        return _reconcile_key(self.ident, self.existing, wanted_key, self.statements, self.warnings, self.stream)

    def comment_table(self, table_text: str) -> None:
        """The table's comment when it changed, then the column comments collected on the way."""
        if table_text != self.existing.comment:
            self.statements.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(self.ident, sql.Literal(table_text)))
        self.statements.extend(_comment_on_column(self.ident, column, text) for column, text in self.comments)


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
