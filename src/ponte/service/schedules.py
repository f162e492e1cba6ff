"""Meltano schedules as the service runs them: `interval` is a cron expression (5 fields; a 6th, seconds, last as
croniter and Meltano's schema have it) or a preset (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`);
`@once`, `@manual` and `@none` mean "only when started by hand". Times are in PONTE_SERVE_TIMEZONE
(America/Sao_Paulo) unless the schedule's `annotations.ponte.timezone` says otherwise; `annotations.ponte` may
also set `jitter_seconds` and `catch_up` for that schedule. APScheduler parses the fields and computes the fire
times; the nominal times are the same on every instance, which is what lets them share a schedule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from ponte.core.errors import ConfigError
from ponte.core.meltano_project import MeltanoProject
from ponte.service.runs import RunStart
from ponte.service.settings import ServeSettings

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
MANUAL = frozenset({"@once", "@manual", "@none"})
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
EPSILON = timedelta(microseconds=1)


def _weekdays(text: str) -> str:
    """Crontab's day-of-week numbers (0 or 7 = Sunday) as names: APScheduler 3 counts 0 as Monday."""
    if not re.search(r"\d", text.replace("/", " /")) or text == "*":
        return text
    days: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            low_text, high_text = base.split("-", 1)
            low, high = _day(low_text), _day(high_text)
            high = 7 if high == 0 and low > 0 else high
        else:
            low = high = _day(base)
        days.update(d % 7 for d in range(low, high + 1, int(step) if step else 1))
    return ",".join(WEEKDAYS[d] for d in sorted(days))


def _day(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text.lower()[:3] in WEEKDAYS:
        return WEEKDAYS.index(text.lower()[:3])
    raise ValueError(f"not a day of the week: {text!r}")


def cron_trigger(expression: str, timezone: str) -> CronTrigger | None:
    """The trigger of a Meltano `interval`; None for manual-only schedules."""
    text = PRESETS.get(expression.strip(), expression.strip())
    if text in MANUAL:
        return None
    fields = text.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 cron fields (6 with seconds last) or a preset, got {len(fields)} field(s)")
    second = fields[5] if len(fields) == 6 else "0"
    return CronTrigger(
        second=second, minute=fields[0], hour=fields[1], day=fields[2], month=fields[3],
        day_of_week=_weekdays(fields[4]), timezone=timezone,
    )  # fmt: skip


@dataclass
class Schedule:
    """One schedule the service fires."""

    name: str
    interval: str
    pipeline: list[str]
    trigger: CronTrigger | None
    timezone: str
    jitter_seconds: float = 0.0
    catch_up: bool = True
    env: dict[str, str] = field(default_factory=dict)

    def following(self, moment: datetime) -> datetime | None:
        """The first nominal fire time strictly after `moment` (None: manual only)."""
        if self.trigger is None:
            return None
        return self.trigger.get_next_fire_time(None, moment + EPSILON)

    def upcoming(self, first: datetime | None, count: int) -> list[datetime]:
        """`first` (the scheduler's next fire time) and the `count - 1` nominal times after it."""
        found: list[datetime] = []
        moment = first
        while moment is not None and len(found) < count:
            found.append(moment)
            moment = self.following(moment)
        return found

    def latest_until(self, first: datetime, now: datetime) -> tuple[datetime, int]:
        """The last nominal fire time ≤ `now`, counting from `first` (≤ now), and how many there were."""
        latest, count = first, 1
        while (after := self.following(latest)) is not None and after <= now and count < 1_000_000:
            latest, count = after, count + 1
        return latest, count

    def run_start(self, trigger: str) -> RunStart:
        return RunStart(self.pipeline, trigger, extra_env=self.env)


def _options(raw: dict[str, Any]) -> dict[str, Any]:
    annotations = raw.get("annotations") or {}
    options = annotations.get("ponte") if isinstance(annotations, dict) else None
    return options if isinstance(options, dict) else {}


def load_schedules(project: MeltanoProject, settings: ServeSettings) -> list[Schedule]:
    """Every schedule of the project, checked: a bad one fails the start with its name and what is wrong."""
    schedules = []
    for raw in project.schedules:
        name = str(raw.get("name") or "")
        options = _options(raw)
        if raw.get("job"):
            pipeline = [str(raw["job"])]
        elif raw.get("extractor") and raw.get("loader"):
            pipeline = [str(raw["extractor"]), str(raw["loader"])]
        else:
            raise ConfigError(f"schedule {name!r}: name a job (or an extractor and a loader)")
        zone = str(options.get("timezone") or settings.timezone)
        try:
            trigger = cron_trigger(str(raw.get("interval") or ""), zone)
        except (ValueError, LookupError) as exc:
            raise ConfigError(f"schedule {name!r}: interval {raw.get('interval')!r} is not valid: {exc}") from None
        schedules.append(
            Schedule(
                name=name,
                interval=str(raw.get("interval")),
                pipeline=pipeline,
                trigger=trigger,
                timezone=zone,
                jitter_seconds=float(options.get("jitter_seconds", settings.jitter_seconds)),
                catch_up=bool(options.get("catch_up", settings.catch_up)),
                env={str(k): str(v) for k, v in (raw.get("env") or {}).items()},
            )
        )
    return schedules
