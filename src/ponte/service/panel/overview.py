"""What the overview shows: one card per pipeline of meltano.yml (each job, and each extractor/loader pair a
schedule names), with its last run and its next scheduled one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from ponte.core.meltano_project import MeltanoProject

FAILED = ("failed", "stopped-quota")


@dataclass
class PipelineCard:
    name: str
    last: dict[str, Any] | None = None
    next_fire_at: str | None = None
    schedules: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        """Rows the last run inserted or updated, over every stream."""
        streams = (self.last or {}).get("streams") or []
        return sum(int(s.get("inserted") or 0) + int(s.get("updated") or 0) for s in streams)

    @property
    def failed(self) -> bool:
        return bool(self.last and self.last["status"] in FAILED)

    @property
    def tone(self) -> str:
        status = (self.last or {}).get("status")
        if status == "succeeded":
            return "ok"
        if status in FAILED:
            return "erro"
        return "neutro" if status is None else "aviso"


def pipelines(project: MeltanoProject) -> list[str]:
    """Job names, then `extractor loader` of schedules that name plugins instead of a job, without repeats."""
    found = list(project.jobs)
    for schedule in project.schedules:
        if not schedule.get("job") and schedule.get("extractor") and schedule.get("loader"):
            found.append(f"{schedule['extractor']} {schedule['loader']}")
    return list(dict.fromkeys(found))


async def cards(service: Any) -> list[PipelineCard]:
    project = MeltanoProject.load(service.settings.project)
    names = pipelines(project)
    found = {name: PipelineCard(name) for name in names}
    async with service.connections.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            # One index probe per pipeline (pipeline_runs_pipeline_started), not a sort of every run: the
            # overview stays fast with 10,000s of runs (bench/panel_pages.py).
            service.tables.q(
                "SELECT r.* FROM unnest(%s::text[]) AS p(name) CROSS JOIN LATERAL (SELECT * FROM {runs} "
                "WHERE pipeline = p.name ORDER BY started_at DESC, run_id DESC LIMIT 1) r"
            ),
            (names,),
        )
        for row in await cur.fetchall():
            found[row["pipeline"]].last = row
    for described in (await service.scheduler.describe()).values():
        card = found.get(" ".join(described["pipeline"]))
        if card is None:
            continue
        card.schedules.append(described["name"])
        if described["paused"]:
            card.paused.append(described["name"])
        nxt = described.get("next_fire_at")
        if nxt and (
            card.next_fire_at is None or datetime.fromisoformat(nxt) < datetime.fromisoformat(card.next_fire_at)
        ):
            card.next_fire_at = nxt
    for run in service.runs.active.values():  # started here, not yet recorded by `ponte run`
        card = found.get(" ".join(run.start.pipeline))
        if card is not None and (card.last is None or card.last["started_at"] < run.started_at):
            card.last = {"run_id": run.run_id, "status": "running", "started_at": run.started_at,
                         "finished_at": None, "streams": [], "error": None, "trigger": run.start.trigger}  # fmt: skip
    return [found[name] for name in names]
