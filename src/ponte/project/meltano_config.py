"""A plugin's settings as Meltano resolves them, for Ponte commands run outside Meltano.

`ponte follow`, `ponte auth` and `ponte db create` are run from a shell as often as through `meltano invoke`.
Under Meltano the plugin's settings arrive as `TAP_*` / `TARGET_*` variables; from a shell they must be asked
for, in the same environment `meltano run` would use: `--environment`, else `MELTANO_ENVIRONMENT`, else the
project's `default_environment` (which `meltano config` itself ignores, so it is passed explicitly here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ponte.core.console_scripts import console_script
from ponte.core.errors import ConfigError


def under_meltano(environ: Mapping[str, str] | None = None) -> bool:
    """True when Meltano started this process (`meltano invoke`, a plugin command): settings are in the env."""
    return bool((os.environ if environ is None else environ).get("MELTANO_PROJECT_ROOT"))


def find_project(start: Path) -> Path | None:
    """The Meltano project (folder holding meltano.yml) at `start` or above it."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "meltano.yml").is_file():
            return folder
    return None


def active_environment(project: Path, environment: str | None = None) -> str | None:
    """The environment `meltano run` would use: the given one, MELTANO_ENVIRONMENT, then default_environment."""
    if environment:
        return environment
    if os.environ.get("MELTANO_ENVIRONMENT"):
        return os.environ["MELTANO_ENVIRONMENT"]
    try:
        data = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    default = data.get("default_environment")
    return str(default) if default else None


def _meltano(project: Path) -> str:
    found = console_script("meltano")
    if found == "meltano" and not shutil.which("meltano") and (project / ".venv/bin/meltano").exists():
        found = str(project / ".venv/bin/meltano")  # run by `meltano invoke` from a plugin's own venv
    return found


def plugin_config(plugin: str, project: Path, environment: str | None = None, *, who: str = "ponte") -> dict[str, Any]:
    """The plugin's effective config (meltano.yml, its environment, .env, the shell's TAP_*/TARGET_* variables)."""
    command = [_meltano(project)]
    chosen = active_environment(project, environment)
    if chosen:
        command.append(f"--environment={chosen}")
    command += ["config", "--unsafe", "print", plugin]
    try:
        done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"{who}: cannot ask Meltano for {plugin}'s settings ({exc})") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"{who}: `meltano config print {plugin}` failed in {project}: {last}")
    config = json.loads(done.stdout)
    if not isinstance(config, dict):
        raise ConfigError(f"{who}: `meltano config print {plugin}` did not print a JSON object")
    return config


def _declared_extractors(project: Path) -> list[dict[str, Any]] | None:
    """The extractors meltano.yml and its included files declare; None when meltano.yml cannot be read."""
    files = [project / "meltano.yml"]
    try:
        main = yaml.safe_load(files[0].read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    for pattern in main.get("include_paths") or []:
        files += sorted(project.glob(str(pattern).removeprefix("./")))
    found: list[dict[str, Any]] = []
    for path in files:
        try:
            data = main if path == files[0] else yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        found += [p for p in (data.get("plugins") or {}).get("extractors") or [] if isinstance(p, dict)]
    return found


def extractor_extra(project: Path, extractor: str, extra: str) -> Any:
    """An extra (`load_schema`, `select`) of an extractor declared in meltano.yml or its included files."""
    for plugin in _declared_extractors(project) or []:
        if plugin.get("name") == extractor and plugin.get(extra) is not None:
            return plugin[extra]
    return None

