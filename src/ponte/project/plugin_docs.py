"""The generated parts of the plugin guides in docs/plugins/: settings tables from meltano.yml, stream tables
from taps/*.yml, entity tables from targets/*.yml, mapping lists from the mapper's definition.

A guide is hand-written prose with blocks between `<!-- ponte docs: KIND ARG -->` and `<!-- /ponte docs -->`
that `ponte docs` rewrites, so a table can never disagree with the definitions it describes (a test runs
`ponte docs --check`):

    settings <plugin>          every setting Meltano knows for the plugin: env variable, kind, default, meaning
    streams <taps/x.yml>       every stream: primary key, replication, parent
    entities <targets/x.yml>   every entity of an API target: endpoint, key, batch size, what it depends on
    mappings <mapper>          every mapping of a mapper plugin: its file and the streams it reads
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ponte.declaration.shared_settings import HTTP_SETTINGS
from ponte.declaration.vocabulary import REMOVED_IN
from ponte.project.meltano_install import project_files

BLOCK = re.compile(r"(<!-- ponte docs: (?P<kind>\w+) (?P<arg>\S+) -->\n)(?P<body>.*?)(<!-- /ponte docs -->)", re.DOTALL)
GUIDES = "docs/plugins"


def _cell(value: Any) -> str:
    text = " ".join(str(value).split()) if value not in (None, "") else ""
    return text.replace("|", "\\|")


def _table(head: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = list(head)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _plugins(root: Path) -> dict[str, dict[str, Any]]:
    """Every plugin of the Meltano project by name (meltano.yml and its included files)."""
    found: dict[str, dict[str, Any]] = {}
    for path in project_files(root):
        if path.suffix not in (".yml", ".yaml"):
            continue
        for kind in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("plugins") or {}).values():
            for plugin in kind or []:
                found[str(plugin["name"])] = plugin
    return found


def _declared_descriptions(root: Path, plugin: str) -> dict[str, str]:
    """Setting descriptions from the plugin's declarations (taps/<x>.yml and its flavours, targets/<x>.yml)."""
    kind, _, name = plugin.partition("-")
    folder = {"tap": "taps", "target": "targets"}.get(kind)
    if folder is None:
        return {}
    found: dict[str, str] = {}
    for path in [root / folder / f"{name}.yml", *sorted((root / folder).glob(f"{name}-*.yml"))]:
        if path.is_file():
            for setting in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("settings") or []:
                if setting.get("description"):
                    found.setdefault(str(setting["name"]), str(setting["description"]))
    for setting in HTTP_SETTINGS:  # added to every tap and target by code, not written in their YAML
        found.setdefault(setting["name"], setting["description"])
    return found


def _default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict, bool)):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def settings_table(root: Path, plugin: str) -> str:
    """The plugin's settings as Meltano declares them (a missing description taken from its declaration)."""
    definition = _plugins(root)[plugin]
    declared = _declared_descriptions(root, plugin)
    prefix = plugin.upper().replace("-", "_")
    rows = []
    for setting in definition.get("settings") or []:
        name = str(setting["name"])
        kind = str(setting.get("kind", "string")) + (", secret" if setting.get("sensitive") else "")
        meaning = setting.get("description") or declared.get(name) or setting.get("label")
        old = ", ".join(f"`{prefix}_{str(a).upper()}`" for a in setting.get("aliases") or ())
        if old:
            meaning = f"{meaning or ''} Formerly {old}: still read, with a warning, until ponte {REMOVED_IN}.".strip()
        rows.append((f"`{name}`", f"`{prefix}_{name.upper()}`", kind, _default(setting.get("value")), meaning))
    return _table(("setting", "environment variable", "kind", "default", "what it is for"), rows)


def _replication(stream: Mapping[str, Any]) -> str:
    replication = stream.get("replication") or {}
    if replication.get("method") != "incremental":
        return "full table"
    if replication.get("bookmark") == "window_end":
        asked = replication.get("request_param") or "a change filter"
        return f"incremental: `{asked}` from where the last run's window ended"
    return f"incremental on `{replication.get('cursor_field') or replication.get('key')}` (largest value seen)"


def streams_table(root: Path, declaration: str) -> str:
    """The streams of a tap declaration."""
    data = yaml.safe_load((root / declaration).read_text(encoding="utf-8")) or {}
    defaults = data.get("defaults") or {}
    rows = []
    for raw in data.get("streams") or []:
        stream = {**defaults, **raw}
        keys = ", ".join(f"`{k}`" for k in stream.get("primary_key") or [])
        parent = stream.get("parent") or ""
        each = (stream.get("for_each") or {}).get("setting")
        read = f"per `{parent}` record" if parent else f"per value of `{each}`" if each else ""
        rows.append((f"`{stream['name']}`", keys, _replication(stream), read, stream.get("description")))
    return _table(("stream", "primary key", "replication", "read", "what it holds"), rows)


def entities_table(root: Path, declaration: str) -> str:
    """The entities of an API target declaration, in the order they are sent."""
    data = yaml.safe_load((root / declaration).read_text(encoding="utf-8")) or {}
    rows = []
    for raw in data.get("entities") or []:
        entity = {**(data.get("defaults") or {}), **raw}
        key = ", ".join(entity.get("primary_key") or [])
        batch = str(entity.get("batch_size") or "")
        setting = re.fullmatch(r"\{\{\s*config\.(\w+)\s*\}\}", batch)
        batch = f"setting `{setting.group(1)}`" if setting else batch
        if entity.get("max_batch_size"):
            batch += f" (at most {entity['max_batch_size']})"
        after = ", ".join(entity.get("depends_on") or [])
        rows.append((f"`{entity['name']}`", f"`{entity.get('path', '')}`", f"`{key}`" if key else "", batch, after))
    return _table(("entity", "endpoint", "key", "batch size", "sent after"), rows)


def mappings_table(root: Path, mapper: str) -> str:
    """The mappings a mapper plugin offers, with the streams each one reads."""
    rows = []
    for mapping in _plugins(root)[mapper].get("mappings") or []:
        file = str((mapping.get("config") or {}).get("mapping") or "")
        declared = yaml.safe_load((root / file).read_text(encoding="utf-8")) or {}
        sources = sorted({str(m["source"]) for m in declared.get("mappings") or []})
        targets = sorted({str(m["target"]) for m in declared.get("mappings") or []})
        rows.append((f"`{mapping['name']}`", f"`{file}`", ", ".join(sources), ", ".join(targets)))
    return _table(("mapping", "declaration", "streams it reads", "records it writes"), rows)


GENERATORS: dict[str, Callable[[Path, str], str]] = {
    "settings": settings_table,
    "streams": streams_table,
    "entities": entities_table,
    "mappings": mappings_table,
}


def render(text: str, root: Path) -> str:
    """`text` with every generated block rewritten from the current definitions."""

    def block(match: re.Match[str]) -> str:
        generate = GENERATORS[match.group("kind")]
        return match.group(1) + generate(root, match.group("arg")) + match.group(5)

    return BLOCK.sub(block, text)


def stale_guides(root: Path, *, write: bool) -> list[Path]:
    """The guides whose generated blocks are out of date (rewritten when `write`)."""
    stale = []
    for guide in sorted((root / GUIDES).glob("*.md")):
        text = guide.read_text(encoding="utf-8")
        fresh = render(text, root)
        if fresh != text:
            stale.append(guide)
            if write:
                guide.write_text(fresh, encoding="utf-8")
    return stale
