"""`derive:` a step after grouping: records computed from whole groups, once the input has ended.

Grouping (`group_by` + `collect`) brings together what several streams say about one key, e.g. every balance
and every product of one SKU across accounts. Comparing or summing across those rows needs the whole group,
so a derive step reads the records of a grouped output (`from`, then not written itself), optionally fans each
out over a list (`for_each`, each element seen as `item`), computes its `fields` in order (each expression
sees the group's fields, `item`, `params` and the fields computed before it) and keeps the result when
`filter` holds. Several steps may read one group (e.g. postings here, skipped products there).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ponte.declaration.yaml_loader import KeyPath
from ponte.mapper.expressions import Expression
from ponte.mapper.fields import FieldRule


@dataclass
class DeriveRule:
    """One item of `derive:`."""

    index: int
    source: str
    target: str
    key: list[str]
    fields: list[FieldRule]
    for_each: Expression | None = None
    filter: Expression | None = None

    @property
    def key_path(self) -> KeyPath:
        return ("derive", self.index)

    @classmethod
    def from_spec(cls, index: int, spec: Mapping[str, Any]) -> DeriveRule:
        path: KeyPath = ("derive", index)
        return cls(
            index=index,
            source=spec["from"],
            target=spec["target"],
            key=list(spec["primary_key"]),
            fields=[FieldRule.from_spec(n, s, (*path, "fields", n)) for n, s in spec["fields"].items()],
            for_each=Expression(spec["for_each"]) if "for_each" in spec else None,
            filter=Expression(spec["filter"]) if "filter" in spec else None,
        )

    def output_schema(self) -> dict[str, Any]:
        properties = {rule.name: rule.output_schema(None) for rule in self.fields}
        return {"type": "object", "properties": properties, "required": list(self.key)}

    def apply(self, group: Mapping[str, Any], params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """The records one group gives (raises ExpressionError or FieldError naming the problem)."""
        scope: dict[str, Any] = {**group, "params": params}
        items = self.for_each.evaluate(scope, self.source) if self.for_each is not None else [None]
        for item in items or []:
            names = {**scope, "item": item}
            out: dict[str, Any] = {}
            for rule in self.fields:
                out[rule.name] = rule.value(names, self.target)
                names[rule.name] = out[rule.name]
            if self.filter is None or self.filter.evaluate(names, self.target):
                yield out
