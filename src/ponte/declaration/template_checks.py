"""Check `{{ config.x }}` / `{{ parent.x }}` / `{{ each.x }}` templates in a tap declaration before anything runs.

A misspelt setting renders as an empty string and a template in a place the engine never renders stays
literal text: both fail far from their cause (a 404 on a strange URL). Here they fail at the line they are on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ponte.core.errors import SpecError
from ponte.declaration.locate import dotted, spec_error
from ponte.declaration.schema_errors import did_you_mean, short
from ponte.declaration.templates import TEMPLATE
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml

ANY_BRACES = re.compile(r"\{\{.*?\}\}")
CONFIG_ONLY = frozenset({"config"})
CONFIG_AND_PARENT = frozenset({"config", "parent"})
RENDERED_TOP_LEVEL = ("base_url", "auth", "rate_limit", "http", "circuit_breaker", "connection_check")
RENDERED_WHERE = (
    "base_url, auth, rate_limit, http, circuit_breaker, connection_check, settings defaults, defaults.params and "
    "headers, accounts.defaults, and a stream's path, params, headers, ids_from.params and detail.path"
)


def check_templates(data: Mapping[str, Any], loaded: LoadedYaml) -> Iterator[SpecError]:
    """Every malformed, misplaced or dangling template in the declaration."""
    settings = [s.get("name") for s in data.get("settings") or [] if isinstance(s, dict)]
    for path, text, child in _strings(data, ()):
        if "{{" not in text and "}}" not in text:
            continue
        allowed = _allowed_kinds(path, child)
        if allowed and data.get("accounts") and path[0] != "accounts":
            allowed = allowed | {"account"}
        if len(path) >= 3 and path[0] == "streams" and path[2] in ("path", "params"):
            each = (data["streams"][path[1]] or {}).get("for_each")
            if each:
                allowed = allowed | {"each"}
        yield from check_string(data, loaded, path, text, settings, allowed)


def check_string(
    data: Mapping[str, Any],
    loaded: LoadedYaml,
    path: KeyPath,
    text: str,
    settings: list[Any],
    allowed: frozenset[str],
) -> Iterator[SpecError]:

    rest = ANY_BRACES.sub("", text)
    if "{{" in rest or "}}" in rest:
        yield spec_error(loaded, path, f"unbalanced template braces in {short(text)}; write {{{{ config.<setting> }}}}")
        return
    for candidate in ANY_BRACES.findall(text):
        match = TEMPLATE.fullmatch(candidate)
        if not match:
            yield spec_error(
                loaded,
                path,
                f"{candidate} is not a template the engine understands: use {{{{ config.<setting> }}}} "
                "or {{ parent.<field> }}",
            )
            continue
        kind, name = match.group(1), match.group(2)
        if not allowed:
            yield spec_error(
                loaded,
                path,
                f"templates are not rendered in {dotted(path)}, so {candidate} would stay literal text; "
                f"they work in {RENDERED_WHERE}",
            )
        elif kind == "parent" and kind not in allowed:
            yield spec_error(loaded, path, _parent_misplaced(data, path, candidate))
        elif kind == "account" and kind not in allowed:
            yield spec_error(loaded, path, f"{candidate} needs an `accounts:` block naming the accounts setting")
        elif kind == "each" and kind not in allowed:
            yield spec_error(
                loaded, path, f"{candidate} only works in the path and params of a stream that declares for_each"
            )
        elif kind == "each" and name != data["streams"][path[1]]["for_each"].get("field"):
            field = data["streams"][path[1]]["for_each"].get("field")
            yield spec_error(
                loaded, path, f"{candidate} is not this stream's for_each field; write {{{{ each.{field} }}}}"
            )
        elif kind not in allowed:
            yield spec_error(loaded, path, f"{candidate} is not rendered in {dotted(path)}; use {_kinds(allowed)}")
        elif kind == "config" and name not in settings:
            declared = ", ".join(str(s) for s in settings) or "(none)"
            yield spec_error(
                loaded,
                path,
                f"{candidate} names no declared setting{did_you_mean(name, map(str, settings))}; "
                f"declared settings: {declared}",
            )


def _parent_misplaced(data: Mapping[str, Any], path: KeyPath, candidate: str) -> str:
    if len(path) >= 3 and path[0] == "streams" and path[2] in ("path", "params"):
        return f"{candidate} needs a parent stream: add `parent: <stream name>` to this stream"
    return f"{candidate} only works in a child stream's path and params"


def _kinds(allowed: frozenset[str]) -> str:
    return " or ".join(f"{{{{ {kind}.<name> }}}}" for kind in sorted(allowed))


def _allowed_kinds(path: KeyPath, child: bool) -> frozenset[str]:
    """Which template kinds the engine renders at `path` (empty: none, the text stays literal)."""
    if not path:
        return frozenset()
    if path[0] in RENDERED_TOP_LEVEL:
        return CONFIG_ONLY
    if path[0] == "settings" and len(path) == 3 and path[2] == "default":
        return CONFIG_ONLY
    if path[0] == "defaults" and len(path) >= 2 and path[1] in ("params", "headers"):
        return CONFIG_ONLY
    if path[0] == "accounts" and len(path) >= 2 and path[1] == "defaults":
        return CONFIG_ONLY
    if path[0] == "streams" and len(path) >= 3:
        if path[2] == "path" or path[2] == "params":
            return CONFIG_AND_PARENT if child else CONFIG_ONLY
        if path[2] == "headers" or (path[2] == "ids_from" and len(path) >= 4 and path[3] == "params"):
            return CONFIG_ONLY
        if path[2] == "detail" and len(path) >= 4 and path[3] == "path":
            return CONFIG_AND_PARENT | {"record"} if child else CONFIG_ONLY | {"record"}
    return frozenset()


def _strings(value: Any, path: KeyPath, child: bool = False) -> Iterator[tuple[KeyPath, str, bool]]:
    """Every string value with its key path and whether it is inside a child stream.

    Descriptions and stream schemas are skipped: the engine never renders them, and they may well quote
    the template syntax to explain it.
    """
    if isinstance(value, str):
        yield path, value, child
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index), child)
    elif isinstance(value, dict):
        in_stream = len(path) == 2 and path[0] == "streams"
        is_child = child or (in_stream and bool(value.get("parent")))
        for key, item in value.items():
            if key == "description" or (in_stream and key == "schema"):
                continue
            yield from _strings(item, (*path, key), is_child)
