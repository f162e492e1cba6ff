"""Stream schemas from a JSON Schema file, an inline schema, or a definition in an official Swagger/OpenAPI file.

Official API documents describe what the server *should* send; real responses send nulls and values outside
the documented enums. So a converted schema makes every property nullable, turns enums into descriptions,
drops integer width formats, and keeps descriptions (they become column comments in Postgres).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ponte.core.errors import SpecError

MAX_DEPTH = 12
KEEP_FORMATS = {"date", "date-time", "time", "email", "uri", "uuid"}


class _OpenApiLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader (Swagger files are large: the pure-Python parser cost seconds per tap start),
    with timestamps kept as strings so the schemas stay JSON."""


_OpenApiLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


@lru_cache(maxsize=32)
def _load_document(path: str) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        return json.loads(text)
    try:
        return yaml.load(text, Loader=_OpenApiLoader)
    except yaml.YAMLError as exc:  # callers report ValueErrors with the file name; the parser is our detail
        raise ValueError(f"invalid YAML: {exc}") from None


def resolve_schema(source: dict[str, Any], base_dir: Path, record_selector: str | None, where: str) -> dict[str, Any]:
    """Build the Singer JSON Schema a stream's `schema:` block declares."""
    if "file" in source:
        path = base_dir / source["file"]
        if not path.is_file():
            raise SpecError(f"schema file {path} does not exist", key_path=where)
        schema = json.loads(path.read_text(encoding="utf-8"))
    elif "inline" in source:
        schema = copy.deepcopy(source["inline"])
    elif "openapi" in source:
        schema = _from_openapi(source, base_dir, record_selector, where)
    else:
        raise SpecError("a schema needs one of: file, inline, openapi", key_path=where)
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    for name, override in (source.get("overrides") or {}).items():
        schema["properties"][name] = copy.deepcopy(override)
    return schema


def _from_openapi(source: dict[str, Any], base_dir: Path, selector: str | None, where: str) -> dict[str, Any]:
    path = base_dir / source["openapi"]
    if not path.is_file():
        raise SpecError(f"OpenAPI file {path} does not exist", key_path=f"{where}.openapi")
    doc = _load_document(str(path))
    if "definition" in source:
        name = source["definition"]
        defs = doc.get("definitions") or doc.get("components", {}).get("schemas", {})
        if name not in defs:
            raise SpecError(
                f"definition '{name}' is not in {path.name}; it has: {', '.join(sorted(defs))}",
                key_path=f"{where}.definition",
            )
        node = defs[name]
    else:
        responses = source["response"] if isinstance(source["response"], list) else [source["response"]]
        converted = {"type": "object", "properties": {}}
        for response in responses:  # a list and its detail endpoint: the detail's properties win
            if isinstance(response, str):
                api_path, own = response, selector
            else:
                api_path, own = response["path"], response.get("selector", selector)
            node = _response_items(doc, api_path, own, path.name, where)
            converted["properties"].update(to_singer_schema(node, doc).get("properties", {}))
        return converted
    converted = to_singer_schema(node, doc)
    converted["type"] = "object"
    return converted


def _response_items(doc: dict[str, Any], api_path: str, selector: str | None, file: str, where: str) -> Any:
    operation = (doc.get("paths", {}).get(api_path) or {}).get("get")
    if not operation:
        paths = ", ".join(p for p, ops in doc.get("paths", {}).items() if "get" in ops)
        raise SpecError(f"{file} has no GET {api_path}; GET paths there: {paths}", key_path=f"{where}.response")
    response = operation.get("responses", {}).get("200") or operation.get("responses", {}).get(200) or {}
    node = response.get("schema") or response.get("content", {}).get("application/json", {}).get("schema")
    if node is None:
        raise SpecError(f"GET {api_path} in {file} documents no 200 body", key_path=f"{where}.response")
    node = _deref(node, doc)
    if node.get("type") != "array" and selector not in (None, "", "$"):
        for part in selector.split("."):
            node = _deref(node, doc)
            node = (node.get("properties") or {}).get(part)
            if node is None:
                raise SpecError(
                    f"GET {api_path} in {file}: the response has no '{part}' (record_selector '{selector}')",
                    key_path=f"{where}.response",
                )
    node = _deref(node, doc)
    if node.get("type") == "array":
        node = _deref(node.get("items", {}), doc)
    return node


def _deref(node: Any, doc: dict[str, Any]) -> Any:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < MAX_DEPTH:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return {}
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
        seen += 1
    return node


def to_singer_schema(node: Any, doc: dict[str, Any], depth: int = 0, refs: tuple[str, ...] = ()) -> dict[str, Any]:
    """Convert one Swagger/OpenAPI schema node into a permissive JSON Schema for Singer."""
    if not isinstance(node, dict):
        return {}
    if "$ref" in node:
        ref = node["$ref"]
        if ref in refs or depth > MAX_DEPTH:
            return {"description": f"recursive {ref.rsplit('/', 1)[-1]} (kept as JSON)"}
        return to_singer_schema(_deref(node, doc), doc, depth + 1, (*refs, ref))
    if "allOf" in node:
        merged: dict[str, Any] = {"type": ["object", "null"], "properties": {}}
        for part in node["allOf"]:
            sub = to_singer_schema(part, doc, depth + 1, refs)
            merged["properties"].update(sub.get("properties", {}))
        return merged
    kind = node.get("type")
    out: dict[str, Any] = {}
    description = _description(node)
    if description:
        out["description"] = description
    if kind == "object" or "properties" in node:
        out["type"] = ["object", "null"]
        out["properties"] = {
            name: to_singer_schema(sub, doc, depth + 1, refs) for name, sub in (node.get("properties") or {}).items()
        }
    elif kind == "array":
        out["type"] = ["array", "null"]
        out["items"] = to_singer_schema(node.get("items", {}), doc, depth + 1, refs)
    elif kind in ("integer", "number", "boolean", "string"):
        out["type"] = [kind, "null"]
        fmt = node.get("format")
        if kind == "string" and fmt in KEEP_FORMATS:
            out["format"] = fmt
    return out


def _description(node: dict[str, Any]) -> str | None:
    text = " ".join(str(node.get("description") or "").split())
    if node.get("enum"):
        values = ", ".join(str(v) for v in node["enum"])
        text = f"{text} (documented values: {values})".strip()
    return text or None
