"""`{{ config.x }}`, `{{ parent.x }}`, `{{ account.x }}`, `{{ record.x }}`, `{{ each.x }}`, `{{ job.id }}`: the one template syntax."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*(config|parent|account|record|each|job)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(value: Any, scope: Mapping[str, Mapping[str, Any]]) -> Any:
    """Render templates in strings, lists and dicts.

    A string that is exactly one template keeps the referenced value's type (so `requests: "{{ config.n }}"`
    stays an int, and a missing setting becomes None); templates inside longer strings are interpolated.
    """
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value.strip())
        if whole:
            return scope.get(whole.group(1), {}).get(whole.group(2))

        def substitute(match: re.Match[str]) -> str:
            found = scope.get(match.group(1), {}).get(match.group(2))
            return "" if found is None else str(found)

        return TEMPLATE.sub(substitute, value)
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    return value


def references(value: Any, kind: str) -> set[str]:
    """Names referenced as `{{ kind.name }}` anywhere in value."""
    found: set[str] = set()
    if isinstance(value, str):
        found.update(m.group(2) for m in TEMPLATE.finditer(value) if m.group(1) == kind)
    elif isinstance(value, list):
        for v in value:
            found |= references(v, kind)
    elif isinstance(value, dict):
        for v in value.values():
            found |= references(v, kind)
    return found
