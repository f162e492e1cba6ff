"""Meltano plugin definition files, `plugins/<type>/<name>--ponte.yml`, written from meltano.yml.

Another Meltano project adds a Ponte plugin with `meltano add --from-ref plugins/extractors/tap-sienge--ponte.yml
tap-sienge` (Meltano Hub does not list them). meltano.yml stays the one place a plugin's settings and
capabilities are declared: there its `pip_url` is `-e .` (this checkout), while a definition points at the
published distribution (`ponte-elt==<version>`) and adds what the Hub would show (variant, label, docs, repo).
Commands that need this project's jobs are left out. After changing a plugin in meltano.yml, run
`python -m ponte.project.plugin_definitions` (or `make plugins`); tests/unit/test_plugin_definitions.py fails until then.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

VARIANT = "ponte"
PLUGIN_TYPES = ("extractors", "loaders", "mappers")
LABELS = {
    "tap-sienge": "Sienge",
    "tap-bling": "Bling",
    "tap-totvs": "TOTVS (Protheus, plant API, RM Educacional)",
    "tap-keyence": "KEYENCE line counters (SICFAR gateway files)",
    "target-postgres": "PostgreSQL (Ponte)",
    "target-bling": "Bling (stock postings)",
    "target-proextend": "ProExtend",
    "target-retailportal": "RetailPortal",
    "target-totvs": "TOTVS (SicFar write-back: production appointments, lot status)",
    "ponte-mapper": "Ponte declarative mapper",
}
# Commands that run this project's jobs (`ponte follow keyence-to-postgres`) mean nothing elsewhere.
PROJECT_COMMANDS = {("tap-keyence", "setup-db")}
KEYS = ("name", "namespace", "variant", "label", "description", "docs", "repo", "pip_url", "executable",
        "capabilities", "settings_group_validation", "settings", "commands")  # fmt: skip
DOCS_PAGE = "docs/plugins.md"


def definition_path(root: Path, plugin_type: str, name: str) -> Path:
    """Where the definition of one plugin lives."""
    return root / "plugins" / plugin_type / f"{name}--{VARIANT}.yml"


def definitions(root: Path) -> dict[Path, dict[str, Any]]:
    """Every Ponte plugin of `root`/meltano.yml (those installed from this checkout) as a definition."""
    project = yaml.safe_load((root / "meltano.yml").read_text(encoding="utf-8"))
    package = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    repository = package["urls"]["Repository"].rstrip("/")
    found = {}
    for plugin_type in PLUGIN_TYPES:
        for entry in project["plugins"].get(plugin_type) or []:
            if entry.get("pip_url") != "-e .":
                continue
            name = entry["name"]
            commands = {k: v for k, v in (entry.get("commands") or {}).items() if (name, k) not in PROJECT_COMMANDS}
            values = {
                **entry,
                "variant": VARIANT,
                "label": LABELS[name],
                "docs": f"{repository}/blob/main/{DOCS_PAGE}#{name}",
                "repo": repository,
                "pip_url": f"{package['name']}=={package['version']}",
                "commands": commands or None,
            }
            found[definition_path(root, plugin_type, name)] = {k: values[k] for k in KEYS if values.get(k)}
    return found


def render(definition: dict[str, Any]) -> str:
    """The YAML of one definition, with a header saying where it comes from and how to use it."""
    header = (
        "# Generated from meltano.yml by `python -m ponte.project.plugin_definitions`: edit meltano.yml, not this file.\n"
        f"# Add it to a Meltano project: meltano add --from-ref <this file> {definition['name']}\n"
    )
    body = yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)
    return header + body


def main(argv: list[str] | None = None) -> int:
    """Write every definition (`--check`: only report the stale ones, exit 1 if any)."""
    args = sys.argv[1:] if argv is None else argv
    root = Path.cwd()
    stale = []
    for path, definition in definitions(root).items():
        text = render(definition)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if "--check" not in args:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if '--check' in args else 'wrote'}: {path.relative_to(root)}")
    return 1 if stale and "--check" in args else 0


if __name__ == "__main__":
    sys.exit(main())
