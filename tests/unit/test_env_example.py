""".env.example names every variable that does something, and nothing that does not.

A setting meltano.yml declares is the variable `<PLUGIN>_<SETTING>`; `<PLUGIN>_LOGLEVEL` is singer-sdk's log
level; `MELTANO_*` are Meltano's own settings; `PONTE_*` are read by Ponte's commands. The file once taught
`TAP_SIENGE_LOG_LEVEL`, which nothing reads, and left `TARGET_POSTGRES_*` and tap-keyence out.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
LINE = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
MELTANO_ONLY_IN_ENV = {"MELTANO_ENVIRONMENT", "MELTANO_PROJECT_ROOT"}


def variables() -> dict[str, tuple[bool, str]]:
    """name → (set, not commented; its value)."""
    found = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = LINE.match(line.strip())
        if match:
            found[match["name"]] = (not match["comment"], match["value"])
    return found


def prefix(plugin: str) -> str:
    return plugin.upper().replace("-", "_") + "_"


def plugins() -> dict[str, set[str]]:
    """Every plugin in meltano.yml → its setting names."""
    return {
        entry["name"]: {s["name"] for s in entry.get("settings") or []}
        for kind in PROJECT["plugins"].values()
        for entry in kind
    }


def test_every_setting_of_every_plugin_is_there_with_its_log_level() -> None:
    names = set(variables())
    for plugin, settings in plugins().items():
        wanted = {prefix(plugin) + s.upper() for s in settings}
        assert not wanted - names, f"{plugin}: .env.example lacks {sorted(wanted - names)}"
        if plugin != "target-jsonl":  # not ours: its level variable is its own business
            assert prefix(plugin) + "LOGLEVEL" in names, plugin


def test_every_plugin_variable_is_a_declared_setting_or_the_log_level() -> None:
    owners = sorted(plugins().items(), key=lambda item: -len(item[0]))  # ponte-mapper before any PONTE_ name
    for name in variables():
        owner = next(((p, s) for p, s in owners if name.startswith(prefix(p))), None)
        if owner is None:
            continue
        plugin, settings = owner
        setting = name.removeprefix(prefix(plugin)).lower()
        assert setting in settings or setting == "loglevel", f"{name}: {plugin} has no setting '{setting}'"


def test_meltano_and_ponte_variables_exist() -> None:
    bundle = yaml.safe_load((resources.files("meltano.core.bundle") / "settings.yml").read_text(encoding="utf-8"))
    meltano = {"MELTANO_" + s["name"].upper().replace(".", "_") for s in bundle["settings"]} | MELTANO_ONLY_IN_ENV
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src" / "ponte").rglob("*.py"))
    plugin_prefixes = tuple(prefix(p) for p in plugins())
    for name in variables():
        if name.startswith("MELTANO_"):
            assert name in meltano, f"{name} is not a Meltano setting"
        elif name.startswith("PONTE_") and not name.startswith(plugin_prefixes):
            read = name in source or any(name.startswith(p) for p in re.findall(r'"(PONTE_[A-Z_]*_)"', source))
            assert read, f"{name}: nothing in src/ponte reads it"
    deployment = {"MELTANO_ENVIRONMENT", "MELTANO_DATABASE_URI", "MELTANO_STATE_BACKEND_URI"}
    assert deployment <= set(variables())


def test_no_variable_is_set_empty_nor_to_a_value_that_changes_a_plain_copy() -> None:
    """An empty value replaces the default (Meltano refuses an empty number), and a copied .env must not point
    the dev environment's plugins away from the sandboxes: every line is commented until the user fills it."""
    active = {name: value for name, (is_set, value) in variables().items() if is_set}
    assert not active, f"set in .env.example: {sorted(active)}"
