"""The webhook rules (`webhooks/bling.yml`): which event starts which run, how bursts coalesce, how runs retry.

Loaded and checked like every declaration (`ponte validate`, schema `webhooks.schema.json`); the processor
asks `Rules.match(event)` for each stored event. Matching is by event name with `*` wildcards, first rule wins.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ponte.core.errors import SpecError
from ponte.declaration.locate import spec_error
from ponte.declaration.validation import register_semantic_check
from ponte.declaration.yaml_loader import LoadedYaml


def dig_path(envelope: Any, path: str) -> Any:
    """The value at a dotted path of the event (None when absent)."""
    node = envelope
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@dataclass(frozen=True)
class Condition:
    """`when:` the event's value at `path` equals `equals`, or is the `field` of an entry of the JSON list in the
    variable `in_env` (whose `account_field`, when named, must be the event's account)."""

    path: str
    equals: Any = None
    in_env: str | None = None
    field: str | None = None
    account_field: str | None = None

    def holds(self, envelope: Mapping[str, Any], account: str | None, env: Mapping[str, str]) -> bool:
        value = dig_path(envelope, self.path)
        if self.in_env is None:
            return value == self.equals
        try:
            entries = json.loads(env.get(self.in_env) or "[]")
        except ValueError:
            return False
        for entry in entries if isinstance(entries, list) else []:
            found = entry.get(self.field) if isinstance(entry, Mapping) and self.field else entry
            if str(found) == str(value) and (
                not self.account_field or not account or entry.get(self.account_field) == account
            ):
                return True
        return False


@dataclass(frozen=True)
class Echo:
    """`echo:` the event only repeats what a run of ours wrote: the newest row of `table` (in the run-record
    schema) whose columns equal the event's values at `match` (and the constants of `where`) has `column` equal
    to the event's value at `value`. Such events are stored `ignored` and start nothing."""

    table: str
    match: Mapping[str, str]
    column: str
    value: str
    where: Mapping[str, Any] = field(default_factory=dict)


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
    when: Condition | None = None
    echo: Echo | None = None
    busy_retry_seconds: float | None = None
    direct: bool = False

    def matches(self, event: str, envelope: Mapping[str, Any] | None = None, account: str | None = None,
                env: Mapping[str, str] | None = None) -> bool:  # fmt: skip
        """The name matches, and the `when` condition holds (checked only when the envelope is given)."""
        if not any(fnmatch.fnmatchcase(event, pattern) for pattern in self.events):
            return False
        return self.when is None or envelope is None or self.when.holds(envelope, account, env or {})

    def ids_of(self, envelope: Mapping[str, Any]) -> list[str]:
        """The affected record id the rule's `ids` path points at (none when absent)."""
        if not self.ids:
            return []
        node = dig_path(envelope, self.ids)
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

    def match(self, event: str, envelope: Mapping[str, Any] | None = None, account: str | None = None,
              env: Mapping[str, str] | None = None) -> Rule | None:  # fmt: skip
        """The first rule whose events match and whose `when` holds for this event (of this account)."""
        return next((rule for rule in self.rules if rule.matches(event, envelope, account, env)), None)

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
                    when=Condition(**raw["when"]) if raw.get("when") else None,
                    echo=Echo(**raw["echo"]) if raw.get("echo") else None,
                    busy_retry_seconds=float(raw["busy_retry_seconds"]) if "busy_retry_seconds" in raw else None,
                    direct=bool(raw.get("direct", False)),
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
