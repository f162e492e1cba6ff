"""`ponte validate --explain <kind>`: the reference of a declaration format, generated from its JSON Schema.

The schema's descriptions are the user documentation, so the reference can never drift from what the
validator accepts: every key, its type, allowed values and whether it is required, in file order. Each block
carries an example (the schema's `examples`, checked against the schema by a test), and the reference ends
with the deprecated spellings `vocabulary.normalise` still accepts and what to write instead.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from typing import Any

import yaml

from ponte.declaration.validation import load_schema
from ponte.declaration.vocabulary import REMOVED_IN, deprecated_spellings

WIDTH = 100
CODE_SPAN = re.compile(r"`[^`]*`")


def explain(kind: str) -> str:
    """A plain-text reference of the `kind` format (e.g. `tap`)."""
    schema = load_schema(kind)
    title = schema.get("title", kind)
    lines = [title, "=" * len(title), ""]
    lines += _wrap(schema.get("description", ""), 0)
    lines += ["", *VOCABULARY, ""]
    lines += ["Keys marked * are required. Nested keys are written with their full path.", ""]
    _object(schema, schema, "", 0, lines, skip=())
    lines += _deprecated(kind)
    return "\n".join(lines).rstrip() + "\n"


VOCABULARY = (
    "Vocabulary shared by taps, targets, mappings and line files:",
    "  rate_limit: {requests: N, per_seconds: S, per_day: D}  one way to declare a rate, also in auth.",
    "  *_url / *_path  a URL / a URL path; *_field  a dotted JSON path into a body (`data.items`).",
    "  {{ config.x }}, {{ parent.x }}, {{ record.x }}, {{ job.id }}  the one template syntax.",
    "  $  the whole body; primary_key: [..]  the fields that identify a record.",
)


def _deprecated(kind: str) -> list[str]:
    rows = deprecated_spellings(kind)
    if not rows:
        return []
    lines = ["", f"Deprecated spellings (still read, with a warning, until ponte {REMOVED_IN}):"]
    for old, new, why in rows:
        lines.append(f"  {old}  →  {new}")
        lines += _wrap(why, 3)
    return lines


def _example(node: Mapping[str, Any], key: str, depth: int) -> list[str]:
    """The block's first `examples` entry as YAML, under its own key, indented like the block."""
    examples = node.get("examples")
    if not examples:
        return []
    text = yaml.safe_dump({key: examples[0]}, sort_keys=False, allow_unicode=True, width=WIDTH)
    indent = "  " * (depth + 2)
    return [f"{'  ' * (depth + 1)}example:", *(f"{indent}{line}" for line in text.splitlines())]


def _object(
    node: Mapping[str, Any], root: Mapping[str, Any], prefix: str, depth: int, lines: list[str], skip: tuple[str, ...]
) -> None:
    required = set(node.get("required", ()))
    for key, raw in (node.get("properties") or {}).items():
        if key in skip:
            continue
        sub = _resolve(raw, root)
        mark = "*" if key in required else ""
        lines.append(f"{'  ' * depth}{prefix}{key}{mark}  ({_phrase(sub, root)})")
        lines += _wrap(sub.get("description", ""), depth + 2)
        lines += _example(sub, key, depth)
        _children(sub, root, f"{prefix}{key}", depth + 1, lines)


def _children(sub: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int, lines: list[str]) -> None:
    variants = _variants(sub, root)
    if variants:
        discriminator = next(iter(sub.get("properties", {})))
        for value, variant in variants:
            lines.append(f"{'  ' * depth}when {path}.{discriminator} is {value}:")
            lines += _wrap(variant.get("description", ""), depth + 2)
            _object(variant, root, f"{path}.", depth + 1, lines, skip=(discriminator,))
        return
    if sub.get("properties"):
        _object(sub, root, f"{path}.", depth, lines, skip=())
    items = _resolve(sub.get("items") or {}, root)
    if items.get("properties"):
        _object(items, root, f"{path}[].", depth, lines, skip=())
    extra = sub.get("additionalProperties")
    if isinstance(extra, dict) and not sub.get("properties"):
        values = _resolve(extra, root)
        if values.get("properties") and not _variants(values, root):  # names → objects: their keys, once
            _object(values, root, f"{path}.<name>.", depth, lines, skip=())


def _variants(node: Mapping[str, Any], root: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """`allOf: [{if: {properties: {type: {const: X}}}, then: {$ref}}]` dispatch, as (X, variant) pairs."""
    found = []
    for part in node.get("allOf", ()):
        condition = part.get("if", {}).get("properties", {})
        then = part.get("then", {})
        if len(condition) == 1 and "$ref" in then:
            const = next(iter(condition.values())).get("const")
            if const is not None:
                found.append((str(const), _resolve(then, root)))
    return found


def _phrase(node: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """`one of: offset, page, none`, `list of strings`, `integer >= 1` …: the type in a few words."""
    if "const" in node:
        return f"must be {node['const']}"
    if "enum" in node:
        return "one of: " + ", ".join(str(v) for v in node["enum"])
    variants = _variants(node, root)
    if variants:
        key = next(iter(node.get("properties", {})))
        return f"mapping chosen by {key}: " + ", ".join(value for value, _ in variants)
    if ("anyOf" in node or "oneOf" in node or "pattern" in node) and node.get("title"):
        return str(node["title"])
    kind = node.get("type")
    if kind == "array":
        items = _resolve(node.get("items") or {}, root)
        item = "mappings" if items.get("properties") else _plural(_phrase(items, root))
        return f"list of {item}" + (f", at least {node['minItems']}" if node.get("minItems") else "")
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not node.get("properties"):
            names = (node.get("propertyNames") or {}).get("title", "names")
            return f"mapping of {names} to {_phrase(_resolve(extra, root), root)}"
        return "mapping"
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind in ("integer", "number"):
        if "minimum" in node:
            return f"{kind} >= {node['minimum']}"
        if "exclusiveMinimum" in node:
            return f"{kind} > {node['exclusiveMinimum']}"
    if kind:
        return str(kind)
    if node.get("title"):
        return str(node["title"])
    return "any value"


def _plural(phrase: str) -> str:
    return phrase + "s" if phrase in ("string", "integer", "number", "mapping") else phrase


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local `$ref`; keys written next to it (a description) win over the target's."""
    if "$ref" not in node:
        return node
    target: Any = root
    for part in node["$ref"].lstrip("#/").split("/"):
        target = target[part]
    merged = dict(_resolve(target, root))
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


def _wrap(text: str, depth: int) -> list[str]:
    if not text:
        return []
    indent = "  " * depth
    # Keep `code spans` (templates, examples) on one line: protect their spaces while wrapping.
    text = CODE_SPAN.sub(lambda m: m.group(0).replace(" ", "\0"), " ".join(text.split()))
    lines = textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent, break_long_words=False)
    return [line.replace("\0", " ") for line in lines]
