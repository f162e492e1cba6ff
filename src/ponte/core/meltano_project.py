"""What Ponte needs to know of the Meltano project: its plugins, jobs and schedules (meltano.yml plus the
files its `include_paths` match), read fresh whenever asked so an edit shows up without a restart of Meltano,
and where Meltano keeps its system files. Here, below both, because `ponte run` (which locks the extractors a
job runs) and the service (which checks, selects and schedules pipelines) resolve jobs the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ponte.core.errors import ConfigError

# libyaml when PyYAML has it: meltano.yml takes 0.3 s with the pure-Python loader, 0.05 s with this one (the
# panel reads it on every overview and pipeline page).
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SYS_DIR_ENV = "MELTANO_SYS_DIR_ROOT"
PLUGIN_TYPES = ("extractors", "loaders", "mappers", "utilities", "transformers", "orchestrators", "files")


@dataclass
class MeltanoProject:
    """Names declared in the project: jobs (name → tasks), plugins by type, mapping names, raw schedules."""

    root: Path
    jobs: dict[str, list[Any]] = field(default_factory=dict)
    plugins: dict[str, set[str]] = field(default_factory=dict)
    mappings: set[str] = field(default_factory=set)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    # each plugin's entry as written (`type` added: extractors, mappers, ...), and each mapping's plugin
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    mapping_plugins: dict[str, str] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_environment: str | None = None
    # the files read (meltano.yml and what its include_paths matched): what a cached resolution depends on
    files: list[Path] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path) -> MeltanoProject:
        main = root / "meltano.yml"
        try:
            data = yaml.load(main.read_text(encoding="utf-8"), Loader=LOADER) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read {main}: {exc}") from None
        found = cls(root, files=[main], default_environment=data.get("default_environment"))
        documents = [data]
        for pattern in data.get("include_paths") or []:
            for path in sorted(root.glob(str(pattern).removeprefix("./"))):
                try:
                    documents.append(yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER) or {})
                except (OSError, yaml.YAMLError) as exc:
                    raise ConfigError(f"cannot read {path}: {exc}") from None
                found.files.append(path)
        for document in documents:
            for job in document.get("jobs") or []:
                found.jobs[str(job["name"])] = list(job.get("tasks") or [])
            for kind, entries in (document.get("plugins") or {}).items():
                for entry in entries or []:
                    found.plugins.setdefault(kind, set()).add(str(entry["name"]))
                    found.mappings.update(str(m["name"]) for m in entry.get("mappings") or [] if m.get("name"))
                    found.definitions[str(entry["name"])] = {**entry, "type": kind}
                    for mapping in entry.get("mappings") or []:
                        if mapping.get("name"):
                            found.mapping_plugins[str(mapping["name"])] = str(entry["name"])
            for environment in document.get("environments") or []:
                found.environments[str(environment.get("name"))] = dict(environment)
            found.schedules += [dict(s) for s in document.get("schedules") or []]
        return found

    def blocks(self, pipeline: list[str]) -> list[str]:
        """Every plugin (or `plugin:command`) a pipeline of job names and plugin names runs, in order."""
        found: list[str] = []
        for name in pipeline:
            if name in self.jobs:
                for task in self.jobs[name]:
                    for text in task if isinstance(task, list) else [task]:
                        found += str(text).split()
            else:
                found.append(name)
        return found

    def extractors(self, pipeline: list[str]) -> list[str]:
        """The extractors a pipeline runs (a `plugin:command` block counts as its plugin), each once, in order."""
        known = self.plugins.get("extractors", set())
        names = (block.split(":")[0] for block in self.blocks(pipeline))
        return list(dict.fromkeys(name for name in names if name in known))

    def unknown(self, pipeline: list[str]) -> list[str]:
        """Names in `pipeline` that are neither a job, a plugin (`plugin:command` too) nor a mapping."""
        plugins = set().union(*self.plugins.values()) if self.plugins else set()
        return [
            name
            for name in pipeline
            if name not in self.jobs and name.split(":")[0] not in plugins and name not in self.mappings
        ]


def meltano_sys_dir(root: Path, env: Mapping[str, str] | None = None) -> Path:
    """Meltano's system folder for the project at `root`: `MELTANO_SYS_DIR_ROOT` (relative to the project, where
    Ponte starts Meltano), else `<root>/.meltano`. Each extractor's catalog and state files live in its `run/`."""
    configured = ((os.environ if env is None else env).get(SYS_DIR_ENV) or "").strip()
    folder = Path(configured) if configured else root / ".meltano"
    return (folder if folder.is_absolute() else root / folder).resolve()
