"""One vocabulary for every declaration: old spellings are rewritten to the new ones as a file is loaded.

Taps, targets, mappings and line files grew their own words for the same things (a rate knob named three
ways, `*_path` meaning a URL in one key and a JSON path in the next, `""` and `$` for the whole body, `key`
next to `primary_key`). The new vocabulary:

- `rate_limit: {requests: N, per_seconds: S, per_day: D}` wherever a rate is declared (also in `auth:`);
- `*_url` / `*_path` name URLs and URL paths, `*_field` names a dotted JSON path into a body;
- `{{ ... }}` is the one template syntax (`{{ job.id }}` in a job's status path);
- `$` selects the whole body;
- `primary_key: [..]` names the fields that identify a record.

`normalise` is the one place that knows the old spellings: it runs right after parsing, before the JSON
Schema, so the schemas, the checks and the engine only ever see the new keys. Every old spelling it meets is
reported as a `Deprecation` at the user's `file:line:col`, naming the new key; old spellings keep working for
one release (until `REMOVED_IN`). Positions move with the renamed keys, and `LoadedYaml.spelled` remembers the
user's own key path, so later messages still name the key as the user wrote it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ponte.declaration.yaml_loader import KeyPath, LoadedYaml

REMOVED_IN = "0.3"
LOGGER = logging.getLogger("ponte.deprecation")
ANY = "*"  # a pattern step matching any mapping key or list index

Transform = Callable[[Any], Any]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _per_minute(value: Any) -> Any:
    return {"requests": value, "per_seconds": 60}


def _whole_body(value: Any) -> Any:
    return "$" if value == "" else value


SINGLE_BRACE_JOB_ID = re.compile(r"(?<!\{)\{job_id\}(?!\})")


def _job_template(value: Any) -> Any:
    return SINGLE_BRACE_JOB_ID.sub("{{ job.id }}", value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Rename:
    """`old` (a key of the mapping at `block`) is now `new`, its value passed through `transform`.

    With `new == old` only the value changes (e.g. `""` → `$`), and only values that `transform` changes are
    deprecated. `why` is shown in `--explain` and in the warning.
    """

    block: tuple[str, ...]
    old: str
    new: str
    why: str
    transform: Transform | None = None
    forms: tuple[str, str] | None = None  # an old value and its new form, for `--explain`

    @property
    def renames_key(self) -> bool:
        return self.old != self.new


def _paginator_blocks() -> list[tuple[str, ...]]:
    return [("defaults", "paginator"), ("streams", ANY, "paginator"), ("streams", ANY, "ids_from", "paginator")]


def _selector_renames() -> list[Rename]:
    why = '`$` is the whole body (`""` is the old spelling)'
    blocks = [("defaults",), ("streams", ANY), ("streams", ANY, "detail"), ("streams", ANY, "ids_from")]
    forms = ('""', "$")
    found = [Rename(b, "record_selector", "record_selector", why, _whole_body, forms) for b in blocks]
    response = ("streams", ANY, "schema", "response", ANY)
    found.append(Rename(response, "selector", "selector", why, _whole_body, forms))
    return found


RATE = "one rate vocabulary: rate_limit: {requests, per_seconds, per_day}"
JSON_FIELD = "`*_field` is a dotted JSON path into a body; `*_path` is a URL path"
TAP_RENAMES: tuple[Rename, ...] = (
    Rename(("rate_limit",), "window_seconds", "per_seconds", RATE),
    Rename(
        ("auth",),
        "max_token_requests_per_minute",
        "rate_limit",
        RATE,
        _per_minute,
        ("5", "{requests: 5, per_seconds: 60}"),
    ),
    *(Rename(b, "total_path", "total_field", JSON_FIELD) for b in _paginator_blocks()),
    *(Rename(b, "total_pages_path", "total_pages_field", JSON_FIELD) for b in _paginator_blocks()),
    *(Rename(b, "has_next_path", "has_next_field", JSON_FIELD) for b in _paginator_blocks()),
    Rename(("errors", "daily_quota_when"), "path", "field", JSON_FIELD),
    *_selector_renames(),
)

ENTITY_BLOCKS: tuple[tuple[str, ...], ...] = (("defaults",), ("entities", ANY))
KEY = "`primary_key: [..]` names the fields that identify a record, in every kind of declaration"


def _entity_renames() -> list[Rename]:
    found: list[Rename] = []
    for block in ENTITY_BLOCKS:
        found += [
            Rename(block, "key", "primary_key", KEY, _as_list, ("code", "[code]")),
            Rename(block, "key_type", "primary_key_type", KEY),
            Rename((*block, "record_errors"), "errors_path", "errors_field", JSON_FIELD),
            Rename((*block, "record_errors"), "partial_path", "partial_field", JSON_FIELD),
        ]
        job = (*block, "job")
        for old in ("id", "state", "status_url", "succeeded", "failed", "item_errors", "error"):
            found.append(Rename(job, f"{old}_path", f"{old}_field", JSON_FIELD))
        why = "one template syntax: `{{ job.id }}` (not `{job_id}`)"
        forms = ("/jobs/{job_id}", "/jobs/{{ job.id }}")
        found.append(Rename(job, "status_path", "status_path", why, _job_template, forms))
    return found


TARGET_RENAMES: tuple[Rename, ...] = (
    Rename(("rate_limit",), "window_seconds", "per_seconds", RATE),
    Rename(("report",), "totals_path", "totals_field", JSON_FIELD),
    *_entity_renames(),
)

MAPPING_RENAMES: tuple[Rename, ...] = (Rename(("mappings", ANY), "key", "primary_key", KEY),)

RENAMES: dict[str, tuple[Rename, ...]] = {
    "tap": TAP_RENAMES,
    "target": TARGET_RENAMES,
    "mapping": MAPPING_RENAMES,
    "line_files": (),
}


@dataclass(frozen=True)
class Deprecation:
    """One old spelling met in a file: where, what the user wrote, and what to write instead."""

    file: str
    line: int
    column: int
    key_path: str
    new_key_path: str
    why: str
    new_value: str | None = None  # for a value that changed form (`""` → `$`), how to write it now

    def __str__(self) -> str:
        instead = f"{self.new_key_path}: {self.new_value}" if self.new_value is not None else self.new_key_path
        return (
            f"{self.file}:{self.line}:{self.column} {self.key_path}: deprecated spelling, write "
            f"`{instead}` ({self.why}); the old one works until ponte {REMOVED_IN}"
        )


def normalise(kind: str, loaded: LoadedYaml) -> tuple[LoadedYaml, tuple[Deprecation, ...]]:
    """The declaration in the new vocabulary (positions and the user's spellings kept) and its deprecations."""
    rules = RENAMES.get(kind, ())
    if not rules or not isinstance(loaded.data, dict):
        return loaded, ()
    keys, values, spelled = dict(loaded.key_positions), dict(loaded.value_positions), dict(loaded.spelled)
    found: list[Deprecation] = []
    data = loaded.data
    for rule in rules:
        for block_path, block in _blocks(data, (), rule.block):
            if rule.old not in block:
                continue
            old_path, new_path = (*block_path, rule.old), (*block_path, rule.new)
            value = block[rule.old]
            new_value = rule.transform(value) if rule.transform else value
            if not rule.renames_key and new_value == value:
                continue
            if rule.renames_key and rule.new in block:
                continue  # both spellings: the schema reports the old key as unknown
            line, column = loaded.position(old_path) or loaded.nearest_position(old_path)
            shown = _flow(new_value) if new_value != value else None
            found.append(
                Deprecation(
                    loaded.file,
                    line,
                    column,
                    _dotted(spelled.get(old_path, old_path)),
                    _dotted(new_path),
                    rule.why,
                    shown,
                )
            )
            _replace_key(block, rule.old, rule.new, new_value)
            if rule.renames_key:
                _move_positions(keys, values, spelled, old_path, new_path, new_value)
    if not found:
        return loaded, ()
    normalised = replace(loaded, data=data, key_positions=keys, value_positions=values, spelled=spelled)
    return normalised, tuple(sorted(found, key=lambda d: (d.line, d.column)))


def _blocks(node: Any, path: KeyPath, pattern: tuple[str, ...]) -> list[tuple[KeyPath, dict[str, Any]]]:
    """Every mapping at a path matching `pattern` (`*` steps match any key or list index)."""
    if not pattern:
        return [(path, node)] if isinstance(node, dict) else []
    step, rest = pattern[0], pattern[1:]
    if isinstance(node, dict):
        children = node.items() if step == ANY else ([(step, node[step])] if step in node else [])
    elif isinstance(node, list) and step == ANY:
        children = enumerate(node)
    else:
        return []
    found = []
    for key, child in children:
        found += _blocks(child, (*path, key), rest)
    return found


def _replace_key(block: dict[str, Any], old: str, new: str, value: Any) -> None:
    """Rename `old` to `new` in place, keeping its place among the block's keys."""
    items = [(new if k == old else k, value if k == old else v) for k, v in block.items()]
    block.clear()
    block.update(items)


def _move_positions(
    keys: dict[KeyPath, Any],
    values: dict[KeyPath, Any],
    spelled: dict[KeyPath, KeyPath],
    old: KeyPath,
    new: KeyPath,
    value: Any,
) -> None:
    """Positions (and the user's spelling) of everything under `old` now live under `new`."""
    size = len(old)
    for table in (keys, values):
        for path in [p for p in table if p[:size] == old]:
            table[(*new, *path[size:])] = table.pop(path)
    for path in [p for p in list(keys) if p[: len(new)] == new]:
        spelled.setdefault(path, (*old, *path[len(new) :]))
    if isinstance(value, dict):  # a value turned into a mapping: its keys point at the old value
        for key in value:
            keys.setdefault((*new, key), keys.get(new, (1, 1)))
            values.setdefault((*new, key), values.get(new, (1, 1)))
            spelled.setdefault((*new, key), old)


def _flow(value: Any) -> str:
    """A value as one would write it in flow-style YAML: `[erpId]`, `{requests: 5, per_seconds: 60}`, `$`."""
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    return str(value)


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)


_warned: set[tuple[str, int, int, str]] = set()


def warn(deprecations: tuple[Deprecation, ...]) -> None:
    """Log each deprecation once per process (a declaration is loaded by several parts of a run)."""
    for item in deprecations:
        marker = (item.file, item.line, item.column, item.key_path)
        if marker not in _warned:
            _warned.add(marker)
            LOGGER.warning("%s", item)


def deprecated_spellings(kind: str) -> list[tuple[str, str, str]]:
    """`(old key path, new key path, why)` of a kind, for `ponte validate --explain` (patterns use `*`)."""
    rows = []
    for rule in RENAMES.get(kind, ()):
        block = ".".join("[]" if step == ANY else step for step in rule.block).replace(".[]", "[]")
        prefix = f"{block}." if block else ""
        old = f"{prefix}{rule.old}"
        new = f"{prefix}{rule.new}"
        if rule.forms:
            old, new = f"{old}: {rule.forms[0]}", f"{new}: {rule.forms[1]}"
        if (old, new, rule.why) not in rows:
            rows.append((old, new, rule.why))
    return rows
