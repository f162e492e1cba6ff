"""Find the records in a response body: a dotted path (`results`, `data.items`) or `$` for the body itself."""

from __future__ import annotations

from typing import Any


def dig(body: Any, path: str | None) -> Any:
    """Follow a dotted path; None when any step is missing."""
    if path in (None, "", "$"):
        return body
    current = body
    for part in str(path).split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def select_records(body: Any, selector: str | None) -> list[dict[str, Any]]:
    """The records of one page. A bare array body is accepted whatever the selector (APIs differ per endpoint)."""
    if isinstance(body, list):
        return body
    found = dig(body, selector)
    if found is None:
        return []
    if isinstance(found, dict):
        return [found]
    return list(found)
