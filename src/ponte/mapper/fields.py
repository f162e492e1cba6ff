"""How one output field gets its value (copy, expression, constant → lookup → default → type) and its schema.

A rule never sees more than one source record, so mapping stays streamed; `group_store` does the rest.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ponte.declaration.yaml_loader import KeyPath
from ponte.mapper.expressions import Expression

COERCE_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "date-time-z")
_TRUE = {"true", "t", "1", "yes", "y", "sim", "s"}
_FALSE = {"false", "f", "0", "no", "n", "nao", "não"}
_MISSING = object()


class FieldError(Exception):
    """A value could not be made; the message names the problem, the caller names file, stream and record."""


def get_path(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path (`estoque.saldoVirtualTotal`), None when any step is missing or null."""
    node: Any = record
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def schema_at(schema: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The JSON Schema of a dotted path in an object schema: None when the path is not declared there.

    An object declared without `properties` accepts any path below it (its schema is then `{}`).
    """
    node: Mapping[str, Any] = schema
    for part in path:
        properties = node.get("properties")
        if properties is None:
            types = node.get("type")
            types = [types] if isinstance(types, str) else (types or [])
            return {} if (not types or "object" in types) and node is not schema else None
        if part not in properties:
            return None
        node = properties[part]
    return dict(node)


def coerce(value: Any, kind: str | None) -> Any:
    """`value` as `kind` (see COERCE_TYPES); None stays None and so does "" for non-string kinds."""
    if value is None or kind is None:
        return value
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)
    if isinstance(value, str) and not value.strip():
        return None
    if kind == "integer":
        return _integer(value)
    if kind == "number":
        if isinstance(value, bool):
            raise FieldError(f"{value!r} is not a number")
        if isinstance(value, int | float):
            return value
        try:
            return float(str(value).strip().replace(",", "."))
        except ValueError:
            raise FieldError(f"{value!r} is not a number") from None
    if kind == "boolean":
        return _boolean(value)
    if kind == "date-time-z":
        return _date_time_z(value)
    raise FieldError(f"unknown type {kind!r}; use one of {', '.join(COERCE_TYPES)}")


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise FieldError(f"{value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise FieldError(f"{value!r} is not an integer") from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FieldError(f"{value!r} is not a boolean (true/false, 1/0, sim/não)")


def _date_time_z(value: Any) -> str:
    """An ISO 8601 UTC date-time ending in Z; a date alone is midnight, a time without offset is taken as UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise FieldError(f"{value!r} is not an ISO date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def type_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a declared `type` (nullable)."""
    if kind == "date-time-z":
        return {"type": ["string", "null"], "format": "date-time"}
    return {"type": [kind, "null"]}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def schema_of_values(values: list[Any]) -> dict[str, Any]:
    """The JSON Schema of constants (lookup results, `const`, `default`): their JSON types plus null."""
    types = sorted({_json_type(v) for v in values} | {"null"})
    if "integer" in types and "number" in types:
        types.remove("integer")
    return {"type": types}


@dataclass
class FieldRule:
    """One entry of `fields:` compiled: where the value comes from and what happens to it."""

    name: str
    key_path: KeyPath
    source: tuple[str, ...] | None = None
    expr: Expression | None = None
    const: Any = _MISSING
    lookup: dict[str, Any] | None = None
    lookup_source: str | None = None  # the `lookup_file` the table was read from, for messages
    default: Any = _MISSING
    type: str | None = None
    description: str | None = None

    @classmethod
    def from_spec(
        cls, name: str, spec: Mapping[str, Any], key_path: KeyPath, *, lookup_table: Mapping[str, Any] | None = None
    ) -> FieldRule:
        """Compile one field; `lookup_table` is the table of its `lookup_file`, read by the caller."""
        lookup = dict(spec["lookup"]) if "lookup" in spec else None
        source = None
        if "lookup_file" in spec:
            if lookup_table is None:
                raise ValueError(f"field {name!r}: a lookup_file needs its table (see lookup_files.read_lookup_file)")
            lookup = dict(lookup_table)
            source = f"{spec['lookup_file']['path']} (column {spec['lookup_file']['key']})"
        return cls(
            name=name,
            key_path=key_path,
            source=tuple(spec["from"].split(".")) if "from" in spec else None,
            expr=Expression(spec["expr"]) if "expr" in spec else None,
            const=spec.get("const", _MISSING),
            lookup=lookup,
            lookup_source=source,
            default=spec.get("default", _MISSING),
            type=spec.get("type"),
            description=spec.get("description"),
        )

    def value(self, record: Mapping[str, Any], stream: str) -> Any:
        """This field's value for one source record (raises FieldError or ExpressionError)."""
        if self.source is not None:
            raw = get_path(record, self.source)
        elif self.expr is not None:
            raw = self.expr.evaluate(record, stream)
        else:
            raw = copy.deepcopy(self.const)
        has_default = self.default is not _MISSING
        if self.lookup is not None and raw is not None:
            key = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
            if key in self.lookup:
                raw = self.lookup[key]
            elif has_default:
                raw = self.default
            elif self.lookup_source is not None:
                raise FieldError(f"value {key!r} is not in {self.lookup_source} and the field has no default")
            else:
                known = ", ".join(repr(k) for k in self.lookup)
                raise FieldError(f"value {key!r} is not in the lookup table ({known}) and the field has no default")
        if raw is None and has_default:
            raw = self.default
        return coerce(raw, self.type)

    def output_schema(self, source_schema: Mapping[str, Any] | None) -> dict[str, Any]:
        """The field's JSON Schema in the output SCHEMA message."""
        if self.type is not None:
            schema = type_schema(self.type)
        elif self.lookup is not None:
            values = list(self.lookup.values()) + ([self.default] if self.default is not _MISSING else [])
            schema = schema_of_values(values)
        elif self.source is not None:
            found = schema_at(source_schema or {}, self.source) if source_schema else None
            schema = copy.deepcopy(found) if found else {}
            types = schema.get("type")
            if isinstance(types, list) and "null" not in types:
                schema["type"] = [*types, "null"]
            elif isinstance(types, str) and types != "null":
                schema["type"] = [types, "null"]
        elif self.const is not _MISSING:
            schema = schema_of_values([self.const])
        else:
            schema = {}
        if self.description:
            schema["description"] = self.description
        return schema


@dataclass
class CollectRule:
    """One entry of `collect:`: a value taken from every row of a group, gathered into a list."""

    name: str
    key_path: KeyPath
    item: FieldRule
    distinct: bool = False
    sort: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any], key_path: KeyPath) -> CollectRule:
        item = FieldRule.from_spec(name, {k: v for k, v in spec.items() if k in ("from", "expr", "type")}, key_path)
        return cls(name, key_path, item, bool(spec.get("distinct")), bool(spec.get("sort")))

    def finish(self, values: list[Any]) -> list[Any]:
        """The group's list: duplicates dropped if `distinct`, nulls dropped and sorted if `sort`."""
        if self.distinct:
            seen: set[str] = set()
            unique = []
            for value in values:
                marker = repr(value)
                if marker not in seen:
                    seen.add(marker)
                    unique.append(value)
            values = unique
        if self.sort:
            values = sorted((v for v in values if v is not None), key=lambda v: (str(type(v)), v))
        return values

    def output_schema(self, source_schema: Mapping[str, Any] | None) -> dict[str, Any]:
        items = self.item.output_schema(source_schema)
        return {"type": ["array"], "items": items}
