"""`meltano install`, only when something it depends on changed.

`meltano install` takes ~13 s even with nothing to do, and it deletes every plugin's run files (a running
tap's catalog among them). The demo and the tests call this instead: it installs when the plugin
declarations (meltano.yml and its included files), the distribution's dependencies (pyproject.toml) or
Meltano's version changed since the last successful install, or when a plugin's virtualenv is missing.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

import yaml

from ponte.core.console_scripts import console_script

STAMP = "ponte-install.stamp"
PLUGIN_FOLDERS = {"extractors": "extractors", "loaders": "loaders", "mappers": "mappers", "utilities": "utilities"}


def project_files(project: Path) -> list[Path]:
    """meltano.yml, the files its `include_paths` match, and pyproject.toml when there is one."""
    main = project / "meltano.yml"
    files = [main]
    data = yaml.safe_load(main.read_text(encoding="utf-8")) or {}
    for pattern in data.get("include_paths") or []:
        files += sorted(project.glob(str(pattern).removeprefix("./")))
    if (project / "pyproject.toml").exists():
        files.append(project / "pyproject.toml")
    return files


def fingerprint(project: Path) -> str:
    """A digest of everything an install depends on."""
    digest = hashlib.sha256(f"meltano {version('meltano')}\n".encode())
    for path in project_files(project):
        digest.update(f"{path.relative_to(project)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def missing_venvs(project: Path) -> list[str]:
    """Plugins with a `pip_url` whose virtualenv is not under .meltano/ (deleted, or never installed)."""
    missing = []
    for path in project_files(project):
        if path.suffix not in (".yml", ".yaml"):
            continue
        plugins = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("plugins") or {}
        for kind, folder in PLUGIN_FOLDERS.items():
            for plugin in plugins.get(kind) or []:
                if plugin.get("pip_url") and not (project / ".meltano" / folder / plugin["name"] / "venv").is_dir():
                    missing.append(plugin["name"])
    return missing


def is_installed(project: Path) -> bool:
    """True when the last successful install matches the project's files and every plugin's virtualenv is there."""
    stamp = project / ".meltano" / STAMP
    return (
        stamp.exists()
        and stamp.read_text(encoding="utf-8").strip() == fingerprint(project)
        and not missing_venvs(project)
    )


def ensure_installed(project: Path, env: Mapping[str, str] | None = None) -> bool:
    """Run `meltano install` in `project` if needed; True when it ran. Raises CalledProcessError on failure."""
    if is_installed(project):
        return False
    stamp = project / ".meltano" / STAMP
    wanted = fingerprint(project)
    subprocess.run([console_script("meltano"), "install"], cwd=project, env=dict(env) if env is not None else None,
                   check=True, capture_output=True)  # fmt: skip
    stamp.parent.mkdir(exist_ok=True)
    stamp.write_text(wanted + "\n", encoding="utf-8")
    return True
