"""The settings each plugin of meltano.yml declares (extractors and loaders with a `settings:` list), and where each
one's value comes from for a run: the panel, the environment or `.env`, the active meltano.yml environment's
`config:`, the plugin's own `config:`, or the declared default — Meltano's order, with the panel on top.

The panel builds its forms from these definitions and shows each setting's source without its value when it is
sensitive; "Testar conexão" hands the resolved values to the plugin as environment variables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ponte.core.errors import ConfigError
from ponte.service.connection_settings import env_name

PLUGIN_KINDS = ("extractors", "loaders")
# Where a value comes from, most important first; the keys are what `Resolved.source` holds.
SOURCES = {
    "panel": "painel",
    "env": ".env ou ambiente",
    "environment": "meltano.yml (ambiente {environment})",
    "plugin": "meltano.yml",
    "default": "padrão",
    "unset": "não definido",
}


@dataclass(frozen=True)
class SettingDefinition:
    """One entry of a plugin's `settings:` in meltano.yml."""

    name: str
    kind: str = "string"
    sensitive: bool = False
    label: str = ""
    description: str = ""
    default: Any = None
    options: tuple[tuple[str, str], ...] = ()  # (value, label) of a `kind: options` setting

    @property
    def input_type(self) -> str:
        """The form control: text, password, number, checkbox, select or json (a textarea checked on save)."""
        if self.sensitive or self.kind == "password":
            return "password"
        return {"integer": "number", "boolean": "checkbox", "options": "select", "object": "json",
                "array": "json"}.get(self.kind, "text")  # fmt: skip


@dataclass
class PluginDefinition:
    """An extractor or loader with the settings it declares."""

    name: str
    kind: str  # extractors | loaders
    executable: str
    description: str = ""
    settings: list[SettingDefinition] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # the plugin's `config:` in meltano.yml

    def setting(self, name: str) -> SettingDefinition | None:
        return next((s for s in self.settings if s.name == name), None)

    @property
    def is_extractor(self) -> bool:
        return self.kind == "extractors"


@dataclass(frozen=True)
class Resolved:
    """A setting's value for a run and where it came from (`SOURCES`)."""

    value: Any
    source: str


def _load(path: Path) -> dict[str, Any]:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 20 times faster on a 400-line meltano.yml
_CACHE: dict[Path, tuple[tuple[tuple[str, int], ...], list[dict[str, Any]]]] = {}


def _stamp(path: Path) -> tuple[str, int]:
    try:
        return str(path), path.stat().st_mtime_ns
    except OSError:
        return str(path), -1


def _documents(root: Path) -> list[dict[str, Any]]:
    """meltano.yml and the files its include_paths match, parsed again only when one of them changed, appeared or
    went away (pages render it several times per request)."""
    main = root / "meltano.yml"
    cached = _CACHE.get(root)
    if cached is not None and cached[0][0] == _stamp(main):
        paths = [main, *_included(root, cached[1][0])]
        if tuple(_stamp(p) for p in paths) == cached[0]:
            return cached[1]
    data = _load(main)
    paths = [main, *_included(root, data)]
    documents = [data, *(_load(path) for path in paths[1:])]
    _CACHE[root] = (tuple(_stamp(p) for p in paths), documents)
    return documents


def _included(root: Path, main: dict[str, Any]) -> list[Path]:
    return [
        path
        for pattern in main.get("include_paths") or []
        for path in sorted(root.glob(str(pattern).removeprefix("./")))
    ]


def _definition(entry: Mapping[str, Any]) -> SettingDefinition:
    options = tuple(
        (str(o.get("value")), str(o.get("label") or o.get("value"))) if isinstance(o, Mapping) else (str(o), str(o))
        for o in entry.get("options") or []
    )
    return SettingDefinition(
        name=str(entry["name"]), kind=str(entry.get("kind") or "string"), sensitive=bool(entry.get("sensitive")),
        label=str(entry.get("label") or ""), description=str(entry.get("description") or ""),
        default=entry.get("value"), options=options,
    )  # fmt: skip


def plugins(root: Path) -> dict[str, PluginDefinition]:
    """Every extractor and loader of the project that declares settings, by name, in meltano.yml's order."""
    found: dict[str, PluginDefinition] = {}
    for document in _documents(root):
        for kind in PLUGIN_KINDS:
            for entry in (document.get("plugins") or {}).get(kind) or []:
                if not entry.get("settings"):
                    continue  # inheriting plugins share their parent's settings (and its variables)
                name = str(entry["name"])
                found[name] = PluginDefinition(
                    name=name, kind=kind, executable=str(entry.get("executable") or name),
                    description=str(entry.get("description") or ""),
                    settings=[_definition(s) for s in entry["settings"]], config=dict(entry.get("config") or {}),
                )  # fmt: skip
    return found


def environment_config(root: Path, environment: str | None, plugin: str) -> dict[str, Any]:
    """The `config:` an environment of meltano.yml gives `plugin`."""
    if not environment:
        return {}
    for document in _documents(root):
        for env in document.get("environments") or []:
            if env.get("name") != environment:
                continue
            for kind in PLUGIN_KINDS:
                for entry in ((env.get("config") or {}).get("plugins") or {}).get(kind) or []:
                    if entry.get("name") == plugin:
                        return dict(entry.get("config") or {})
    return {}


def active_environment(root: Path, env: Mapping[str, str]) -> str | None:
    """MELTANO_ENVIRONMENT, else meltano.yml's default_environment (what `ponte run` uses)."""
    chosen = (env.get("MELTANO_ENVIRONMENT") or "").strip()
    if chosen:
        return chosen
    default = _documents(root)[0].get("default_environment")
    return str(default) if default else None


def as_text(value: Any) -> str:
    """A value as its environment variable holds it: JSON for lists and objects, true/false for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def resolve(
    root: Path, plugin: PluginDefinition, env: Mapping[str, str], panel: Mapping[str, str], environment: str | None
) -> dict[str, Resolved]:
    """Each setting's value and source, Meltano's order with the panel's saved values (`panel`) on top."""
    in_environment = environment_config(root, environment, plugin.name)
    found: dict[str, Resolved] = {}
    for setting in plugin.settings:
        variable = env_name(plugin.name, setting.name)
        if setting.name in panel:
            found[setting.name] = Resolved(panel[setting.name], "panel")
        elif env.get(variable) not in (None, ""):
            found[setting.name] = Resolved(env[variable], "env")
        elif setting.name in in_environment:
            found[setting.name] = Resolved(in_environment[setting.name], "environment")
        elif setting.name in plugin.config:
            found[setting.name] = Resolved(plugin.config[setting.name], "plugin")
        elif setting.default is not None:
            found[setting.name] = Resolved(setting.default, "default")
        else:
            found[setting.name] = Resolved(None, "unset")
    return found


def source_text(source: str, environment: str | None) -> str:
    """A source in the panel's words."""
    return SOURCES[source].format(environment=environment or "?")
