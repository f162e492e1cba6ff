"""The streams of a tap declaration as typed `StreamSpec`s: defaults merged, schema resolved, keys checked.

This is the language layer's reading of `streams:`; the tap (ponte.tap.factory) turns each spec into a
singer-sdk stream class and mappings (ponte.mapper.checks) read the schemas the tap will emit, neither importing
the other and without importing singer-sdk.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponte.core.errors import SpecError
from ponte.declaration.models import (
    DeletedWhenSpec,
    DetailSpec,
    ForEachSpec,
    IdsFromSpec,
    OnlyParentsSpec,
    PaginatorSpec,
    ReplicationSpec,
)
from ponte.declaration.stream_defaults import effective_paginator, effective_record_selector
from ponte.declaration.stream_schemas import resolve_schema
from ponte.declaration.templates import references

# The replication key of a `window_end` stream whose records carry no change time: the end of the window each
# record was read in (the bookmark is the largest such value), stamped on the record by the tap. `_sdc_` marks
# it as Singer metadata (the ingest-API targets drop such fields from their payloads).
WINDOW_END_FIELD = "_sdc_window_end"


@dataclass(frozen=True)
class StreamSpec:
    """A stream declaration with defaults merged and its schema resolved."""

    name: str
    path: str
    primary_key: list[str]
    schema: dict[str, Any]
    paginator: PaginatorSpec = field(default_factory=PaginatorSpec)
    record_selector: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    replication: ReplicationSpec = field(default_factory=ReplicationSpec)
    parent: str | None = None
    parent_keys: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    selected: bool = True
    ids_from: IdsFromSpec | None = None
    detail: DetailSpec | None = None
    copy_fields: dict[str, str] = field(default_factory=dict)
    deleted_when: DeletedWhenSpec | None = None
    for_each: ForEachSpec | None = None
    only_parents: OnlyParentsSpec | None = None

    @property
    def incremental(self) -> bool:
        """True when the stream asks the server only for changes."""
        return self.replication.incremental

    @property
    def bookmark_mode(self) -> str:
        """`max_value` (largest cursor seen) or `window_end` (end of the window asked for)."""
        return self.replication.bookmark

    @property
    def catalog_replication_key(self) -> str | None:
        """The record field the catalog names as replication key: the cursor field when the records carry one,
        else the window end stamped on each record (WINDOW_END_FIELD); None for full-table streams."""
        if not self.incremental:
            return None
        return self.replication.cursor_field or WINDOW_END_FIELD

    @property
    def stamps_window_end(self) -> bool:
        """True when the tap adds WINDOW_END_FIELD to each record."""
        return self.catalog_replication_key == WINDOW_END_FIELD

    def parent_fields(self) -> set[str]:
        """Fields of the parent record this stream needs (path/params templates and parent_keys)."""
        return references([self.path, self.params], "parent") | set(self.parent_keys.values())

    @property
    def first_run_unfiltered(self) -> bool:
        """The first run lists everything without the window filter."""
        return self.replication.first_run == "unfiltered"


def stream_specs(spec: Mapping[str, Any], base_dir: Path, file: str) -> list[StreamSpec]:
    """Every declared stream with defaults merged, schema resolved and primary keys checked."""
    defaults = spec.get("defaults") or {}
    specs: list[StreamSpec] = []
    for index, raw in enumerate(spec.get("streams") or []):
        where = f"streams.{index}"
        selector = effective_record_selector(spec, raw)
        schema = resolve_schema(raw["schema"], base_dir, selector, f"{where}.schema")
        replication = ReplicationSpec.from_mapping(raw.get("replication"))
        _add_engine_fields(schema, spec, raw, replication, specs)
        _check_primary_key(schema, raw.get("primary_key") or [], file, where)
        specs.append(
            StreamSpec(
                name=raw["name"],
                path=raw["path"],
                primary_key=list(raw.get("primary_key") or []),
                schema=schema,
                paginator=PaginatorSpec.from_mapping(effective_paginator(spec, raw)),
                record_selector=selector,
                params=dict(defaults.get("params") or {}) | dict(raw.get("params") or {}),
                headers=dict(defaults.get("headers") or {}) | dict(raw.get("headers") or {}),
                replication=replication,
                parent=raw.get("parent"),
                parent_keys=dict(raw.get("parent_keys") or {}),
                description=raw.get("description"),
                selected=raw.get("selected", True),
                ids_from=_ids_from(spec, raw.get("ids_from")),
                detail=_detail(raw.get("detail"), selector),
                copy_fields=dict(raw.get("copy_fields") or {}),
                deleted_when=DeletedWhenSpec(**raw["deleted_when"]) if raw.get("deleted_when") else None,
                for_each=ForEachSpec(**raw["for_each"]) if raw.get("for_each") else None,
                only_parents=OnlyParentsSpec.from_mapping(raw["only_parents"]) if raw.get("only_parents") else None,
            )
        )
    return specs


def _add_engine_fields(
    schema: dict[str, Any],
    spec: Mapping[str, Any],
    raw: Mapping[str, Any],
    replication: ReplicationSpec,
    earlier: list[StreamSpec],
) -> None:
    """Declare the fields the tap adds to records: parent keys, copied fields, deletion, account, window end."""
    properties = schema.setdefault("properties", {})
    parent_props = next((s.schema.get("properties", {}) for s in earlier if s.name == raw.get("parent")), {})
    for child_field, parent_field in (raw.get("parent_keys") or {}).items():
        declared = copy.deepcopy(parent_props.get(parent_field) or {"type": ["integer", "string"]})
        declared["description"] = f"{parent_field} of the parent {raw.get('parent')} record."
        properties.setdefault(child_field, declared)
    for target, source in (raw.get("copy_fields") or {}).items():
        properties.setdefault(target, _nested_property(schema, source))
    if raw.get("deleted_when"):
        properties["_sdc_deleted_at"] = {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "Set when the source marks the record deleted.",
        }
    account_field = (spec.get("accounts") or {}).get("field")
    if account_field:
        properties[account_field] = {"type": ["string"], "description": "Account the record was read from."}
    each = raw.get("for_each")
    if each:
        properties[each["field"]] = {
            "type": ["string"],
            "description": f"The value of setting {each['setting']} this record was read for.",
        }
    if replication.incremental and not replication.cursor_field:
        properties[WINDOW_END_FIELD] = _window_end_property(replication)


def _check_primary_key(schema: dict[str, Any], keys: list[str], file: str, where: str) -> None:
    """Every key field is in the schema, and not nullable there (it becomes the table's primary key)."""
    properties = schema["properties"]
    for key in keys:
        if key not in properties:
            raise SpecError(
                f"primary key field '{key}' is not in the stream's schema; add it to the schema or fix the key",
                file=file,
                key_path=f"{where}.primary_key",
            )
        prop = properties[key]
        if isinstance(prop.get("type"), list) and "null" in prop["type"]:
            prop["type"] = [t for t in prop["type"] if t != "null"]


def _window_end_property(replication: ReplicationSpec) -> dict[str, Any]:
    """The schema of the window end stamped on records that carry no change time (their replication key)."""
    return {
        "type": ["string", "null"],
        "format": "date" if replication.day_filter else "date-time",
        "description": "End of the change window this record was read in (the stream's replication key: the API "
        "filters on a change time the records do not carry).",
    }


def _ids_from(spec: Mapping[str, Any], raw: Mapping[str, Any] | None) -> IdsFromSpec | None:
    """The id listing with the tap's default paginator and record selector filled in."""
    if not raw:
        return None
    return IdsFromSpec.from_mapping(
        {
            **raw,
            "paginator": effective_paginator(spec, raw),
            "record_selector": effective_record_selector(spec, raw),
        }
    )


def _detail(raw: Mapping[str, Any] | None, selector: str | None) -> DetailSpec | None:
    """The detail endpoint; without its own record selector it picks the record as the list does."""
    if not raw:
        return None
    return DetailSpec(path=str(raw["path"]), record_selector=raw.get("record_selector", selector))


def _nested_property(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    """The JSON Schema of `a.b.c` inside an object schema (any type when it is not declared)."""
    node: Any = schema
    for part in dotted.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return {}
    return copy.deepcopy(node)
