"""Resolve each stream's schema as the engine will, and check the fields the declaration names exist in it.

A primary key or cursor field missing from the schema has no declared type (the tap would only infer one from
the values it sees, see `ponte.tap.undeclared_fields`), so the table's key or the bookmark rests on a guess; a
parent field missing from the parent's schema makes every child request hit `/things//items`. Both are cheaper
to catch at `ponte validate` than on the first sync.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from ponte.core.errors import SpecError
from ponte.declaration.locate import dotted, parse_dotted, spec_error
from ponte.declaration.schema_errors import did_you_mean
from ponte.declaration.stream_defaults import effective_record_selector
from ponte.declaration.stream_schemas import resolve_schema
from ponte.declaration.templates import references
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml

MAX_LISTED = 15


def check_fields(
    data: Mapping[str, Any], loaded: LoadedYaml, base_dir: Path, *, check_parents: bool = True
) -> Iterator[SpecError]:
    """Schema sources resolve, and primary keys, cursor fields and parent fields exist in the schemas."""
    properties: dict[str, dict[str, Any]] = {}
    for index, stream in enumerate(data.get("streams") or []):
        path: KeyPath = ("streams", index)
        schema, problems = _resolve(data, stream, path, loaded, base_dir)
        yield from problems
        if schema is None:
            continue
        props = schema["properties"]
        each_field = [stream["for_each"]["field"]] if stream.get("for_each") else []
        added_names = [*(stream.get("parent_keys") or {}), *(stream.get("copy_fields") or {}), *each_field]
        properties.setdefault(stream["name"], {**{k: {} for k in added_names}, **props})
        source = _source_name(stream["schema"])
        added = set(added_names)
        account_field = (data.get("accounts") or {}).get("field")
        if account_field:
            added.add(account_field)
            if stream.get("primary_key") and account_field not in stream["primary_key"]:
                yield spec_error(
                    loaded,
                    (*path, "primary_key"),
                    f"records of different accounts would share keys: add '{account_field}' (accounts.field) "
                    "to the primary key",
                )
        for position, key in enumerate(stream.get("primary_key") or []):
            if key not in props and key not in added:
                yield spec_error(
                    loaded, (*path, "primary_key", position), _missing_field("primary key field", key, props, source)
                )
        cursor = (stream.get("replication") or {}).get("cursor_field")
        if cursor and cursor not in props:
            yield spec_error(
                loaded, (*path, "replication", "cursor_field"), _missing_field("cursor field", cursor, props, source)
            )
        parent = stream.get("parent")
        if check_parents and parent in properties:
            yield from _check_parent_fields(stream, path, properties[parent], loaded)


def _resolve(
    data: Mapping[str, Any], stream: Mapping[str, Any], path: KeyPath, loaded: LoadedYaml, base_dir: Path
) -> tuple[dict[str, Any] | None, list[SpecError]]:

    source = stream["schema"]
    where = (*path, "schema")
    try:
        schema = resolve_schema(source, base_dir, effective_record_selector(data, stream), dotted(where))
    except SpecError as exc:
        at = parse_dotted(exc.key_path or dotted(where))
        message = exc.reason
        if at == where and "file" in source:
            at = (*where, "file")
            message += " (schema paths are relative to the folder of the YAML file)"
        return None, [spec_error(loaded, at, message)]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        key = "file" if "file" in source else "openapi"
        reason = " ".join(str(exc).split())
        return None, [spec_error(loaded, (*where, key), f"cannot read {source[key]}: {reason}")]
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        inside = "/".join(str(part) for part in exc.path) or "the top"
        return None, [spec_error(loaded, where, f"not a valid JSON Schema at {inside}: {exc.message}")]
    if not isinstance(schema.get("properties"), dict):
        return None, [spec_error(loaded, where, "the schema needs `properties` (the record's fields)")]
    return schema, []


def _check_parent_fields(
    stream: Mapping[str, Any], path: KeyPath, parent_props: Mapping[str, Any], loaded: LoadedYaml
) -> Iterator[SpecError]:

    parent = stream["parent"]
    source = f"the schema of parent stream '{parent}'"
    for child_field, parent_field in (stream.get("parent_keys") or {}).items():
        if parent_field not in parent_props:
            yield spec_error(
                loaded,
                (*path, "parent_keys", child_field),
                _missing_field("parent field", parent_field, parent_props, source),
            )
    for key in ("path", "params"):
        for name in sorted(references(stream.get(key), "parent")):
            if name not in parent_props:
                yield spec_error(loaded, (*path, key), _missing_field("parent field", name, parent_props, source))


def _missing_field(what: str, name: str, props: Mapping[str, Any], source: str) -> str:
    names = list(props)
    listed = ", ".join(names[:MAX_LISTED]) + (f", … ({len(names)} in all)" if len(names) > MAX_LISTED else "")
    return f"{what} '{name}' is not in {source}{did_you_mean(name, names)}; its fields: {listed or '(none)'}"


def _source_name(source: Mapping[str, Any]) -> str:
    if "file" in source:
        return f"the schema file {source['file']}"
    if "inline" in source:
        return "the inline schema"
    target = source.get("definition") or f"GET {source.get('response')}"
    return f"{target} in {source['openapi']}"
