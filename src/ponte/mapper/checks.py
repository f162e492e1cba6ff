"""Checks of a mapping declaration beyond its JSON Schema: expressions parse, keys exist, and every field a
mapping reads is in the source stream's schema.

The source schemas come from the tap declaration named by `source.tap` (when the mapping is validated or
the mapper starts) and again from the SCHEMA messages the tap sends (when the mapper runs), so a typo in a
field name is reported as `file:line:col` before any record is read, never as a null in the target.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ponte.core.errors import PonteError, SpecError
from ponte.declaration.locate import spec_error
from ponte.declaration.schema_errors import did_you_mean
from ponte.declaration.streams import stream_specs
from ponte.declaration.validation import load_tap_spec, register_semantic_check
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml
from ponte.mapper.expressions import field_references
from ponte.mapper.fields import schema_at
from ponte.mapper.lookup_files import check_lookup_files


def tap_path(data: Mapping[str, Any], base_dir: Path) -> Path | None:
    """The source tap declaration's path: `source.tap` relative to the project root (above transforms/)."""
    declared = (data.get("source") or {}).get("tap")
    if not declared:
        return None
    path = Path(declared)
    return path if path.is_absolute() else base_dir.parent / path


def source_schemas(data: Mapping[str, Any], loaded: LoadedYaml, base_dir: Path) -> dict[str, dict[str, Any]] | None:
    """Each stream's JSON Schema as the source tap declares it; None when the mapping names no tap."""
    path = tap_path(data, base_dir)
    if path is None:
        return None
    try:
        spec = load_tap_spec(path)
        defs = stream_specs(spec.data, spec.base_dir, spec.file)
    except PonteError as exc:
        raise spec_error(loaded, ("source", "tap"), f"cannot read the source tap declaration: {exc}") from None
    return {d.name: d.schema for d in defs}


def check_mapping(data: Mapping[str, Any], loaded: LoadedYaml, base_dir: Path) -> Iterator[SpecError]:
    """Every semantic problem of a schema-valid mapping declaration (used by `ponte validate`).

    Expressions and keys, each `lookup_file` (readable, with its columns) and the source field references.
    """
    yield from check_structure(data, loaded)
    yield from check_lookup_files(data, loaded, base_dir)
    try:
        schemas = source_schemas(data, loaded, base_dir)
    except SpecError as exc:
        yield exc
        return
    if schemas is not None:
        yield from check_references(data, loaded, schemas, streams_known=True)


def check_structure(data: Mapping[str, Any], loaded: LoadedYaml) -> Iterator[SpecError]:
    """Expressions parse; key, group_by and collect name output fields consistently."""
    for index, item in enumerate(data.get("mappings") or []):
        path: KeyPath = ("mappings", index)
        for where, text in _expressions(item, path):
            try:
                list(field_references(text))
            except SyntaxError as exc:
                yield spec_error(loaded, where, f"invalid expression: {exc.msg} (singer-sdk stream-map syntax)")
        fields = item.get("fields") or {}
        collect = item.get("collect") or {}
        for name in collect:
            if name in fields:
                yield spec_error(
                    loaded, (*path, "collect", name), f"'{name}' is both a field and a collect list", at_key=True
                )
        outputs = [*fields, *collect]
        for k, name in enumerate(item.get("primary_key") or []):
            if name not in outputs:
                yield spec_error(
                    loaded,
                    (*path, "primary_key", k),
                    f"key field '{name}' is not an output field{did_you_mean(name, outputs)}",
                )
        for k, name in enumerate(item.get("group_by") or []):
            if name not in fields:
                yield spec_error(
                    loaded,
                    (*path, "group_by", k),
                    f"group_by field '{name}' is not in `fields`{did_you_mean(name, list(fields))}",
                )


def check_references(
    data: Mapping[str, Any],
    loaded: LoadedYaml,
    schemas: Mapping[str, Mapping[str, Any]],
    *,
    streams_known: bool,
) -> Iterator[SpecError]:
    """Every source field the mappings read exists in its stream's schema.

    With `streams_known` (the tap's whole list of streams) a mapping of an unknown stream is an error too;
    otherwise only the mappings of the streams in `schemas` are checked (a SCHEMA message just arrived).
    """
    for index, item in enumerate(data.get("mappings") or []):
        path: KeyPath = ("mappings", index)
        stream = item["source"]
        schema = schemas.get(stream)
        if schema is None:
            if streams_known:
                names = list(schemas)
                yield spec_error(
                    loaded,
                    (*path, "source"),
                    f"the source tap has no stream '{stream}'{did_you_mean(stream, names)}; "
                    f"its streams: {', '.join(names)}",
                )
            continue
        for where, reference in _references(item, path):
            if schema_at(schema, reference) is None:
                dotted = ".".join(reference)
                top = list((schema.get("properties") or {}).keys())
                yield spec_error(
                    loaded,
                    where,
                    f"field '{dotted}' is not in the schema of source stream '{stream}'"
                    f"{did_you_mean(reference[0], top)} — fix the name, or add the field to the tap's schema",
                )


def _expressions(item: Mapping[str, Any], path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if "filter" in item:
        yield (*path, "filter"), item["filter"]
    for section in ("fields", "collect"):
        for name, spec in (item.get(section) or {}).items():
            if "expr" in spec:
                yield (*path, section, name, "expr"), spec["expr"]


def _references(item: Mapping[str, Any], path: KeyPath) -> Iterator[tuple[KeyPath, tuple[str, ...]]]:
    for section in ("fields", "collect"):
        for name, spec in (item.get(section) or {}).items():
            if "from" in spec:
                yield (*path, section, name, "from"), tuple(spec["from"].split("."))
    for where, text in _expressions(item, path):
        try:
            references = list(field_references(text))
        except SyntaxError:
            continue  # reported by check_structure
        for reference in references:
            yield where, reference


register_semantic_check("mapping", check_mapping)
