"""A mapping declaration (`transforms/<source>-to-<target>.yml`) loaded, checked and compiled into rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponte.core.errors import SpecError
from ponte.declaration.locate import sort_key
from ponte.declaration.validation import Declaration, load_declaration
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml
from ponte.mapper.checks import check_references, source_schemas
from ponte.mapper.derive import DeriveRule
from ponte.mapper.expressions import Expression
from ponte.mapper.fields import CollectRule, FieldRule
from ponte.mapper.lookup_files import read_lookup_file


@dataclass
class MappingRule:
    """One item of `mappings:`: a source stream's records → records of an output stream."""

    index: int
    source: str
    target: str
    key: list[str]
    fields: list[FieldRule]
    filter: Expression | None = None
    group_by: list[str] = field(default_factory=list)
    collect: list[CollectRule] = field(default_factory=list)

    @property
    def key_path(self) -> KeyPath:
        return ("mappings", self.index)

    @property
    def grouped(self) -> bool:
        """Held until the input ends (one record per group), rather than streamed through."""
        return bool(self.group_by)

    def output_schema(self, source_schema: Mapping[str, Any] | None) -> dict[str, Any]:
        """The JSON Schema of the output stream (key fields are not nullable)."""
        properties = {rule.name: rule.output_schema(source_schema) for rule in self.fields}
        properties |= {rule.name: rule.output_schema(source_schema) for rule in self.collect}
        for name in self.key:
            types = properties[name].get("type")
            if isinstance(types, list) and len(types) > 1:
                properties[name]["type"] = [t for t in types if t != "null"]
        return {"type": "object", "properties": properties, "required": list(self.key)}


@dataclass
class MappingFile:
    """A whole mapping declaration, compiled."""

    name: str
    file: str
    loaded: LoadedYaml
    mappings: list[MappingRule]
    source_schemas: dict[str, dict[str, Any]] | None = None
    derive: list[DeriveRule] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # declared defaults; the mapper config may override

    @property
    def consumed(self) -> set[str]:
        """Grouped outputs read by a derive step: only the derived records are written."""
        return {rule.source for rule in self.derive}

    @property
    def data(self) -> dict[str, Any]:
        return self.loaded.data  # type: ignore[no-any-return]

    def for_stream(self, stream: str) -> list[MappingRule]:
        return [m for m in self.mappings if m.source == stream]

    @property
    def targets(self) -> list[str]:
        """Output streams in the order of their first mapping (the order groups are flushed in)."""
        return list(dict.fromkeys(m.target for m in self.mappings))

    def check_stream_schema(self, stream: str, schema: Mapping[str, Any]) -> None:
        """Raise the first field reference missing from a SCHEMA message's schema (file:line:col)."""
        problems = sorted(check_references(self.data, self.loaded, {stream: schema}, streams_known=False), key=sort_key)
        if problems:
            raise problems[0]


def compile_mappings(declaration: Declaration) -> MappingFile:
    """Rules from a validated declaration; the tap's stream schemas are attached when `source.tap` is set."""
    data = declaration.data
    rules = []
    for index, item in enumerate(data["mappings"]):
        path: KeyPath = ("mappings", index)
        rules.append(
            MappingRule(
                index=index,
                source=item["source"],
                target=item["target"],
                key=list(item["primary_key"]),
                fields=[_field_rule(declaration, n, s, (*path, "fields", n)) for n, s in item["fields"].items()],
                filter=Expression(item["filter"]) if "filter" in item else None,
                group_by=list(item.get("group_by") or []),
                collect=[
                    CollectRule.from_spec(n, s, (*path, "collect", n)) for n, s in (item.get("collect") or {}).items()
                ],
            )
        )
    schemas = source_schemas(data, declaration.loaded, declaration.base_dir)
    derive = [DeriveRule.from_spec(index, item) for index, item in enumerate(data.get("derive") or [])]
    params = {name: spec.get("default") for name, spec in (data.get("params") or {}).items()}
    return MappingFile(data["name"], declaration.file, declaration.loaded, rules, schemas, derive, params)


def _field_rule(declaration: Declaration, name: str, spec: Mapping[str, Any], key_path: KeyPath) -> FieldRule:
    table = None
    if "lookup_file" in spec:
        table = read_lookup_file(spec["lookup_file"], declaration.base_dir, declaration.loaded, key_path)
    return FieldRule.from_spec(name, spec, key_path, lookup_table=table)


def load_mapping(path: str | Path, *, display_name: str | None = None) -> MappingFile:
    """Load, validate (schema + field references) and compile a mapping declaration; SpecError on a mistake."""
    declaration = load_declaration(path, "mapping", display_name=display_name)
    if not isinstance(declaration.data.get("mappings"), list):
        raise SpecError("expected a list of mappings", file=declaration.file)
    return compile_mappings(declaration)
