"""Turn jsonschema's errors into one message a user can act on, at the right line and column.

jsonschema reports every violation, often several for one mistake, in its own vocabulary ("Additional
properties are not allowed"). Users need the first mistake in the file, said plainly: what is wrong, what was
expected, and the likely fix (`did you mean 'primary_key'?`). Schemas help with two optional keywords:
`title` names what an `anyOf`/`oneOf`/`pattern`/`not` expects ("an integer >= 1 or a template"), and
`x-why` explains a conditional `required`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError

from ponte.core.errors import SpecError
from ponte.declaration.locate import sort_key, spec_error
from ponte.declaration.yaml_loader import KeyPath, LoadedYaml

TYPE_PHRASES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value)",
    "null": "nothing (null)",
}


def first_schema_error(errors: Iterable[ValidationError], loaded: LoadedYaml) -> SpecError | None:
    """The error a reader meets first in the file; at one place, the most specific one."""
    errors = list(errors)
    unknown_at = {tuple(e.absolute_path) for e in errors if e.validator == "additionalProperties"}
    candidates: list[tuple[tuple[int, int], int, SpecError]] = []
    for error in errors:
        if error.validator == "required" and tuple(error.absolute_path) in unknown_at:
            continue  # a misspelt key explains the missing one better (`paht` → `path`)
        spec = to_spec_error(error, loaded)
        candidates.append((sort_key(spec), -len(error.absolute_path), spec))
    if not candidates:
        return None
    candidates.sort(key=lambda item: (item[0], item[1]))
    return candidates[0][2]


def to_spec_error(error: ValidationError, loaded: LoadedYaml) -> SpecError:
    """One jsonschema error as a positioned SpecError with a plain message."""
    path: KeyPath = tuple(error.absolute_path)
    validator = error.validator
    instance = error.instance
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unknown = [key for key in instance if key not in allowed]
        unknown.sort(key=lambda key: loaded.position((*path, key)) or (0, 0))
        key = unknown[0] if unknown else "?"
        return spec_error(loaded, (*path, key), unknown_key_message(key, allowed, _variant(error.schema)), at_key=True)
    if "propertyNames" in error.relative_schema_path:
        # jsonschema checks each key as an instance of the propertyNames subschema, at the mapping's path.
        return spec_error(loaded, (*path, str(instance)), _property_name_message(error), at_key=True)
    if validator in ("required", "dependentRequired"):
        return spec_error(loaded, path, _missing_message(error), at_key=True)
    return spec_error(loaded, path, _value_message(error))


def unknown_key_message(key: str, allowed: Sequence[str], variant: str = "") -> str:
    """`unknown key 'primary_keys' (did you mean 'primary_key'?) — allowed keys: ...`."""
    keys = ", ".join(allowed) or "(none)"
    return f"unknown key '{key}'{variant}{did_you_mean(key, allowed)} — allowed keys: {keys}"


def _variant(schema: dict[str, Any]) -> str:
    """` with type offset` when `schema` is one variant of a `type:`-dispatched block, else empty.

    By convention a variant's title is the value of its discriminator (`title: offset`, `type: {const: offset}`).
    """
    for key, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict) and "const" in sub and str(sub["const"]) == schema.get("title"):
            return f" with {key} {sub['const']}"
    return ""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice a typo most likely meant, if any is close enough."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a close match among `choices`, else an empty string."""
    match = closest(word, choices)
    return f" (did you mean '{match}'?)" if match else ""


def _property_name_message(error: ValidationError) -> str:
    expected = error.schema.get("title") or "a valid key"
    return f"key {short(error.instance)} is not {expected}"


def _missing_message(error: ValidationError) -> str:
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "dependentRequired":
        for key, needs in error.validator_value.items():
            missing = [n for n in needs if key in instance and n not in instance]
            if missing:
                return f"'{key}' needs '{missing[0]}' next to it"
    missing = [key for key in error.validator_value if key not in instance]
    names = ", ".join(f"'{key}'" for key in missing)
    message = f"missing required key{'s' if len(missing) > 1 else ''} {names}{_variant(error.schema)}"
    why = error.schema.get("x-why")
    return f"{message} ({why})" if why else message


def _value_message(error: ValidationError) -> str:
    value = error.instance
    validator = error.validator
    schema = error.schema
    title = schema.get("title")
    if validator == "enum":
        choices = [str(choice) for choice in error.validator_value]
        match = closest(value, choices) if isinstance(value, str) else None
        hint = f" — did you mean '{match}'?" if match else ""
        return f"{short(value)} is not one of {', '.join(choices)}{hint}"
    if validator == "const":
        return f"must be {short(error.validator_value)}, not {short(value)}"
    if validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        phrase = " or ".join(TYPE_PHRASES.get(t, t) for t in expected)
        return f"expected {phrase}, got {describe_value(value)}"
    if validator in ("anyOf", "oneOf"):
        if title:
            return f"expected {title}, got {describe_value(value)}"
        return error.message
    if validator == "not":
        expected = error.validator_value.get("title") if isinstance(error.validator_value, dict) else None
        return f"expected {expected}" if expected else error.message
    if validator == "pattern":
        if title:
            return f"{short(value)} is not {title}"
        return f"{short(value)} does not match the pattern {error.validator_value}"
    if validator in ("minimum", "exclusiveMinimum"):
        bound = "at least" if validator == "minimum" else "greater than"
        return f"{short(value)} is too small: expected {bound} {error.validator_value}"
    if validator == "minItems":
        return f"needs at least {error.validator_value} item{'s' if error.validator_value != 1 else ''}"
    if validator == "minLength":
        return "must not be empty"
    if validator == "uniqueItems":
        return f"items must be unique, got {short(value)}"
    return error.message


def describe_value(value: Any) -> str:
    """`a string ('abc')`, `a list`, `nothing (null)`: what the user wrote, in their words."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({short(value)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return f"a mapping with keys {', '.join(value) or '(none)'}"
    return type(value).__name__


def short(value: Any, limit: int = 60) -> str:
    """A value as it would be quoted in a message, cut to `limit` characters."""
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
