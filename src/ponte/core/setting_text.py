"""Setting values given as text (environment variables, Meltano, hand-written JSON) read as their declared kind.

One reading for every plugin, so `TARGET_X_FAIL_ON_DEAD_LETTERS=maybe` is refused the same way everywhere
instead of silently meaning false in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ponte.core.errors import ConfigError

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def read_setting(kind: str, value: Any, name: str) -> Any:
    """`value` as `kind` (boolean, integer, number, array, object); non-text values and other kinds pass as they are."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if kind == "boolean":
            if text.lower() not in TRUE_WORDS | FALSE_WORDS:
                raise ValueError
            return text.lower() in TRUE_WORDS
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind in ("array", "object"):
            return json.loads(text) if text[:1] in "[{" else [p.strip() for p in text.split(",") if p.strip()]
    except ValueError:
        expected = "true or false" if kind == "boolean" else kind
        raise ConfigError(f"setting {name} must be {expected}, got {value!r}") from None
    return value


def env_number(
    env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0, above: bool = False
) -> float:
    """Environment variable `name` as a finite number ≥ `minimum` (> it with `above`), `default` when unset or empty:
    one reading and one error for every PONTE_* number setting."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    bound = f"more than {minimum:g}" if above else f"{minimum:g} or more"
    if not (value > minimum if above else value >= minimum) or value == float("inf"):
        raise ConfigError(f"{name} must be a number, {bound}; got {text!r}")
    return value
