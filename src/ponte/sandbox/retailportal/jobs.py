"""RetailPortal's product store and its asynchronous batch jobs (Hangfire on the real server).

Jobs advance on a simulated clock: every access first moves it forward by the real time elapsed times the
`time_scale` switch (or by `advance(seconds)` from the admin endpoint), processing `items_per_second` items per
simulated second per running job, at most `max_concurrent_jobs` at once (the others wait, FIFO, in state
Enqueued). No background thread: progress is computed when someone looks, so tests stay deterministic.

Each item is validated when the job reaches it; a valid one is upserted by `erpId` (seed §9.3: an existing
erpId is updated, never duplicated), an invalid one becomes a per-item failure in the job result. When a job
ends it writes ONE summary record to the integration history (seed §9.6: batch items are never logged one by
one); a failed single-item POST/PUT writes an error record, a successful one writes nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ponte.sandbox.switches import Switches

ENTITY = "ErpProduct"
ENQUEUED, PROCESSING, SUCCEEDED, FAILED = "Enqueued", "Processing", "Succeeded", "Failed"  # Hangfire's (guess)
FINAL = (SUCCEEDED, FAILED)
JOB_ID_BASE = 1_234_567_890  # seed §9.10: "jobId": "hangfire-job-1234567890"


def iso_z(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with Z (seed §9.8: 'Datas em formato ISO 8601 com Z')."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def timespan(seconds: float) -> str:
    """A .NET TimeSpan string (hh:mm:ss.fff), as the real (ASP.NET/Hangfire) API would serialise a duration."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _date_field(name: str) -> bool:
    return name.endswith(("At", "Date", "DateTime")) or name in ("date", "dateTime")


def validate(item: Any) -> list[dict[str, str]]:
    """The item's problems (empty: valid). Required: erpId (positive integer) and description (seed §9.3/9.4).

    Guesses: price and stock, when present, are numbers and price is not negative; date fields (names ending
    in At/Date/DateTime) are ISO 8601 strings ending in Z.
    """
    if not isinstance(item, dict):
        return [{"field": "", "message": "O item deve ser um objeto JSON."}]
    errors: list[dict[str, str]] = []
    erp_id = item.get("erpId")
    if erp_id is None:
        errors.append({"field": "erpId", "message": "erpId é obrigatório."})
    elif not isinstance(erp_id, int) or isinstance(erp_id, bool):
        errors.append({"field": "erpId", "message": "erpId deve ser inteiro."})
    elif erp_id <= 0:
        errors.append({"field": "erpId", "message": "erpId deve ser maior que zero."})
    description = item.get("description")
    if not isinstance(description, str) or not description.strip():
        errors.append({"field": "description", "message": "description é obrigatório."})
    for name in ("price", "stock"):
        if name in item and item[name] is not None and not _is_number(item[name]):
            errors.append({"field": name, "message": f"{name} deve ser numérico."})
    if _is_number(item.get("price")) and item["price"] < 0:
        errors.append({"field": "price", "message": "price não pode ser negativo."})
    for name, value in item.items():
        if _date_field(name) and value is not None and not _iso_z(value):
            errors.append({"field": name, "message": f"{name} deve estar em ISO 8601 com Z."})
    return errors


def _iso_z(value: Any) -> bool:
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    try:
        dt.datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return False
    return True


@dataclass
class Job:
    """One batch: its items, progress (fractional items) and outcome."""

    id: str
    key: str
    operation: str
    items: list[Any]
    created: float
    state: str = ENQUEUED
    progress: float = 0.0
    applied: int = 0
    created_count: int = 0
    updated_count: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    started: float | None = None
    finished: float | None = None
    error: str | None = None

    @property
    def total(self) -> int:
        return len(self.items)


class Store:
    """Products by erpId, jobs by id, the integration history; all under one lock."""

    def __init__(self, switches: Switches) -> None:
        self.switches = switches
        self.lock = threading.RLock()
        self.origin = dt.datetime.now(dt.UTC)
        self.sim = 0.0
        self._real = time.monotonic()
        self.products: dict[int, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.history: list[dict[str, Any]] = []
        self.latest: dict[str, Any] | None = None
        self._seq = 0

    # --- clock --------------------------------------------------------------------------------------------
    def moment(self, sim: float | None = None) -> dt.datetime:
        """The wall-clock moment of a simulated instant (the sandbox clock starts at the real start time)."""
        return self.origin + dt.timedelta(seconds=self.sim if sim is None else sim)

    def tick(self, extra: float = 0.0) -> None:
        """Move the simulated clock by the real time elapsed (times time_scale) plus `extra` seconds."""
        with self.lock:
            now = time.monotonic()
            elapsed = (now - self._real) * self.switches["time_scale"]
            self._real = now
            self._run(elapsed + extra)

    def _run(self, budget: float) -> None:
        while True:
            active = [j for j in self.jobs.values() if j.state not in FINAL]
            limit = self.switches["max_concurrent_jobs"] or len(active)
            running = active[:limit]
            restarted = False
            for job in running:
                if job.state == ENQUEUED:
                    self._start(job)
                    restarted = restarted or job.state in FINAL
            if restarted:
                continue
            if not running or budget <= 0:
                self.sim += max(budget, 0.0)
                return
            rate = self.switches["items_per_second"]
            step = min(budget, min((j.total - j.progress) / rate for j in running))
            self.sim += step
            budget -= step
            for job in running:
                job.progress = min(float(job.total), job.progress + step * rate)
                done = job.total if job.total - job.progress < 1e-9 else math.floor(job.progress + 1e-9)
                while job.applied < done:
                    self._apply(job, job.applied)
                    job.applied += 1
                if job.applied >= job.total:
                    self._finish(job, SUCCEEDED)

    def _start(self, job: Job) -> None:
        job.state, job.started = PROCESSING, self.sim
        if self.switches.take_one("job_fail_next"):
            job.error = "Job falhou durante o processamento (falha injetada)."
            self._finish(job, FAILED)

    def _apply(self, job: Job, index: int) -> None:
        item = job.items[index]
        errors = validate(item)
        erp_id = item.get("erpId") if isinstance(item, dict) else None
        if not errors and erp_id in job.seen and self.switches["duplicate_erpid_in_batch"] == "fail":
            errors = [{"field": "erpId", "message": f"erpId {erp_id} duplicado no mesmo lote."}]
        if errors:
            job.failures.append({"index": index, "erpId": erp_id, "errors": errors})
            return
        job.seen.add(erp_id)
        created = self.upsert(item, job.id)
        if created:
            job.created_count += 1
        else:
            job.updated_count += 1

    def upsert(self, item: dict[str, Any], job_id: str | None) -> bool:
        """Create or replace the product with this erpId; True when it was created."""
        stamp = iso_z(self.moment())
        old = self.products.get(item["erpId"])
        record = {
            **item,
            "createdAt": old["createdAt"] if old else stamp,
            "updatedAt": stamp,
            "version": old["version"] + 1 if old else 1,
            "lastJobId": job_id,
        }
        self.products[item["erpId"]] = record
        return old is None

    def _finish(self, job: Job, state: str) -> None:
        job.state, job.finished = state, self.sim
        success = job.applied - len(job.failures) if state == SUCCEEDED else 0
        self.history.append(
            {
                "id": len(self.history) + 1,
                "entityType": ENTITY,
                "operation": job.operation,
                "jobId": job.id,
                "success": state == SUCCEEDED and not job.failures,
                "isBatch": True,
                "state": self.state_name(job),
                "totalItems": job.total,
                "successCount": success,
                "failureCount": job.total - success,
                "errors": self.item_failures(job) if state == SUCCEEDED else [{"message": job.error}],
                "createdAt": iso_z(self.moment(job.created)),
                "finishedAt": iso_z(self.moment(job.finished)),
                "_sim": job.finished,
            }
        )
        if state == SUCCEEDED:
            self.latest = {"lastDateTime": iso_z(self.moment(job.finished)), "jobId": job.id, "entityType": ENTITY}

    # --- requests -----------------------------------------------------------------------------------------
    def submit(self, key: str, operation: str, items: list[Any]) -> Job:
        """Enqueue a batch (the clock is ticked first, so it queues behind the running jobs)."""
        with self.lock:
            self.tick()
            self._seq += 1
            job = Job(f"hangfire-job-{JOB_ID_BASE + self._seq}", key, operation, items, self.sim)
            self.jobs[job.id] = job
            self._run(0.0)
            return job

    def log_error(self, operation: str, erp_id: Any, errors: list[dict[str, Any]]) -> None:
        """A failed single-item operation: one error record in the history (successes are not logged)."""
        with self.lock:
            stamp = iso_z(self.moment())
            self.history.append(
                {
                    "id": len(self.history) + 1,
                    "entityType": ENTITY,
                    "operation": operation,
                    "jobId": None,
                    "success": False,
                    "isBatch": False,
                    "erpId": erp_id,
                    "totalItems": 1,
                    "successCount": 0,
                    "failureCount": 1,
                    "errors": errors,
                    "createdAt": stamp,
                    "finishedAt": stamp,
                    "_sim": self.sim,
                }
            )

    def job_view(self, job: Job, items: bool = False) -> dict[str, Any]:
        """The job status body (seed §9.4/9.6: state, totalItems, successCount, failureCount, duration)."""
        success = job.created_count + job.updated_count
        end = job.finished if job.finished is not None else self.sim
        view: dict[str, Any] = {
            "jobId": job.id,
            "entityType": ENTITY,
            "operation": job.operation,
            "state": self.state_name(job),
            "totalItems": job.total,
            "processedItems": job.applied,
            "successCount": success,
            "failureCount": job.total - success if job.state == FAILED else len(job.failures),
            "createdCount": job.created_count,
            "updatedCount": job.updated_count,
            "createdAt": iso_z(self.moment(job.created)),
            "startedAt": iso_z(self.moment(job.started)) if job.started is not None else None,
            "finishedAt": iso_z(self.moment(job.finished)) if job.finished is not None else None,
            "duration": timespan(end - job.started) if job.started is not None else None,
            "errors": self.item_failures(job),
        }
        if job.error:
            view["message"] = job.error
        if items:
            view["items"] = job.items
        return view

    def state_name(self, job: Job) -> str:
        """The job's state as the API names it: a finished job's name is the `job_success_state` switch (guess)."""
        return self.switches["job_success_state"] if job.state == SUCCEEDED else job.state

    def item_failures(self, job: Job) -> list[dict[str, Any]]:
        """Per-item failures with their problems under the `item_error_field` switch (guess): the list of
        `{field, message}` under `errors`, or one sentence under `message`, `error` or `detail`."""
        name = self.switches["item_error_field"]
        if name == "errors":
            return [dict(failure) for failure in job.failures]
        return [
            {"index": f["index"], "erpId": f["erpId"],
             name: " ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in f["errors"])}
            for f in job.failures
        ]  # fmt: skip

    def history_view(self, entity: str | None, hours: float | None) -> list[dict[str, Any]]:
        """History records, newest first, of one entity type (None: all), within the last `hours` (None: all)."""
        with self.lock:
            since = None if hours is None else self.sim - hours * 3600
            rows = [
                {k: v for k, v in row.items() if k != "_sim"}
                for row in reversed(self.history)
                if (entity is None or row["entityType"].lower() == entity.lower())
                and (since is None or row["_sim"] >= since)
            ]
        return rows

    def reset(self) -> None:
        """Forget products, jobs and history."""
        with self.lock:
            self.products.clear()
            self.jobs.clear()
            self.history.clear()
            self.latest = None
