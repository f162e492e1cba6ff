"""The webhook rules (`webhooks/bling.yml`): which event starts which run, how bursts coalesce, how runs retry.

Loaded and checked like every declaration (`ponte validate`, schema `webhooks.schema.json`); the processor
asks `Rules.match(event)` for each stored event. Matching is by event name with `*` wildcards, first rule wins.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ponte.core.errors import SpecError
from ponte.declaration.locate import spec_error
from ponte.declaration.validation import register_semantic_check
from ponte.declaration.yaml_loader import LoadedYaml


@dataclass(frozen=True)
class Rule:
    """One rule: what its events start. Exactly one of `pipeline`, `job`, `ignore` is set."""

    name: str
    events: tuple[str, ...]
    pipeline: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    per_account: bool = True
    job: str | None = None
    ignore: bool = False
    ids: str | None = None
    coalesce_seconds: float = 2.0

    def matches(self, event: str) -> bool:
        return any(fnmatch.fnmatchcase(event, pattern) for pattern in self.events)

    def ids_of(self, envelope: Mapping[str, Any]) -> list[str]:
        """The affected record id the rule's `ids` path points at (none when absent)."""
        if not self.ids:
            return []
        node: Any = envelope
        for part in self.ids.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return []
            node = node[part]
        return [str(node)] if isinstance(node, str | int) and not isinstance(node, bool) else []


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    max_backoff_seconds: float = 900.0

    def delay(self, attempts: int) -> float:
        """Seconds before try number `attempts + 1` (doubling from `backoff_seconds`, capped)."""
        return min(self.backoff_seconds * 2 ** max(attempts - 1, 0), self.max_backoff_seconds)


@dataclass(frozen=True)
class Rules:
    source: str
    rules: tuple[Rule, ...]
    retry: Retry

    def match(self, event: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.matches(event)), None)

    def by_name(self, name: str | None) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Rules:
        window = float(data.get("coalesce_seconds", 2))
        rules = []
        for raw in data["rules"]:
            run = raw.get("run") or {}
            rules.append(
                Rule(
                    name=raw["name"],
                    events=tuple(raw["events"]),
                    pipeline=tuple(run.get("pipeline") or ()),
                    select=tuple(run.get("select") or ()),
                    per_account=bool(run.get("per_account", True)),
                    job=raw.get("job"),
                    ignore=bool(raw.get("ignore", False)),
                    ids=raw.get("ids"),
                    coalesce_seconds=float(raw.get("coalesce_seconds", window)),
                )
            )
        retry = Retry(**(data.get("retry") or {}))
        return cls(source=data["source"], rules=tuple(rules), retry=retry)


def load_rules(path: Path) -> Rules:
    """The validated rules file (a SpecError with file:line:col for the first mistake)."""
    from ponte.declaration import load_declaration

    if not path.is_file():
        raise SpecError(
            f"webhook rules file {path} not found; copy webhooks/bling.yml from Ponte or set PONTE_WEBHOOK_RULES"
        )
    return Rules.from_data(load_declaration(path, "webhooks").data)


def check_rules(data: Mapping[str, Any], loaded: LoadedYaml, base_dir: Path) -> Iterable[SpecError]:
    """Mistakes the schema cannot see: two rules with one name, and rules no event can reach (after a `*`)."""
    seen: set[str] = set()
    catch_all: str | None = None
    for index, rule in enumerate(data.get("rules") or []):
        if rule["name"] in seen:
            yield spec_error(loaded, ("rules", index, "name"), f"rule name '{rule['name']}' is used twice")
        seen.add(rule["name"])
        if catch_all is not None:
            yield spec_error(loaded, ("rules", index), f"rule '{rule['name']}' is never used: rule '{catch_all}' "
                             "before it matches every event (`*`); move it above")  # fmt: skip
        if "*" in rule["events"]:
            catch_all = rule["name"]


def declared_jobs(project: Path) -> set[str]:
    """Job names of meltano.yml and the files its include_paths match (empty when there is no meltano.yml)."""
    root = project / "meltano.yml"
    if not root.is_file():
        return set()
    files = [root]
    main = yaml.safe_load(root.read_text(encoding="utf-8")) or {}
    for pattern in main.get("include_paths") or []:
        files += sorted(project.glob(str(pattern).removeprefix("./")))
    jobs: set[str] = set()
    for file in files:
        data = main if file == root else yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        jobs |= {str(job.get("name")) for job in data.get("jobs") or [] if isinstance(job, dict)}
    return jobs


register_semantic_check("webhooks", check_rules)
