"""Send an entity whose endpoint queues a job (RetailPortal's product batches): submit, poll, read the result.

Each batch becomes a job: POST → 202 with a job id → poll its status until a final state. A POST that timed
out is re-sent as is by the HTTP client (the API upserts on the key, so nothing doubles). Every job is written
to the job log when submitted and when it ends. Items a finished job refused are dead-lettered with their
messages; a job that failed as a whole is submitted again (`resubmit_failed`), then dead-lettered whole.

The docs of such APIs leave open where the status lives, how the final states are named and where a per-item
message goes, so every reasonable answer is accepted (`job_status.py`). A job still without an outcome at
`max_wait_seconds` is *not* a dead letter: the API may well have applied its items. They are reported as
"outcome unknown", the run ends with its own exit code and emits no STATE, and the next run sends them again
(idempotent on the key).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson
import requests

from ponte.core.errors import ApiError, PonteError
from ponte.declaration.records import dig
from ponte.http.client import parsed_body
from ponte.targets.api.job_log import JobLog
from ponte.targets.api.job_status import FAILED, PENDING, JobReading, int_count, read_status, status_url
from ponte.targets.api.record_errors import message_in
from ponte.targets.api.sending import Item, SendContext, post

NOT_RETRYABLE = (401, 403, 404, 405)
UNKNOWN = "unknown"


class Interrupted(PonteError):
    """The run is stopping (another batch failed, or a signal): polls end early."""


class JobSender:
    """Sends batches of one asynchronous entity, each as one job."""

    def __init__(self, context: SendContext, job_log: JobLog, run_id: str, logger: logging.Logger) -> None:
        self.context = context
        self.job = context.entity.job
        assert self.job is not None
        self.job_log = job_log
        self.run_id = run_id
        self.logger = logger
        self._warned: set[tuple[str, bool]] = set()
        self._warn_lock = threading.Lock()

    def send(self, batch: list[Item]) -> None:
        entity, job = self.context.entity, self.job
        for attempt in range(job.resubmit_failed + 1):
            submitted = self._submit(batch)
            if submitted is None:
                return
            job_id, url = submitted
            reading = self._wait(job_id, url, len(batch))
            if reading.outcome == PENDING:
                self._unknown(job_id, batch, reading)
                return
            if reading.outcome == FAILED:
                error = message_in(reading.body, job.error_fields) or f"the job ended {reading.state} without a message"
                self.job_log.finished(job_id=job_id, state=reading.state, succeeded=0, failed=len(batch), error=error,
                                      plugin=self.context.target.plugin)  # fmt: skip
                self.context.outcome.add(jobs_failed=1)
                if attempt < job.resubmit_failed:
                    self.logger.warning("%s: job %s failed as a whole (%s); submitting its %d item(s) again",
                                        entity.name, job_id, error, len(batch))  # fmt: skip
                    continue
                for item in batch:
                    self.context.reject(entity, item, error, {"jobId": job_id, "state": reading.state, "error": error},
                                        context=f"job {job_id} ended {reading.state}")  # fmt: skip
                return
            self._finished(job_id, reading, batch)
            return

    # -- submit -------------------------------------------------------------------------------------------
    def _submit(self, batch: list[Item]) -> tuple[str, str] | None:
        entity, job = self.context.entity, self.job
        try:
            response = post(self.context, batch, f"{entity.name}: batch of {len(batch)}")
        except ApiError as error:
            if error.status is None or error.status in NOT_RETRYABLE or error.status >= 500:
                raise
            if len(batch) > 1:  # the batch as a whole was refused: find the culprits by halves
                middle = len(batch) // 2
                self.send(batch[:middle])
                self.send(batch[middle:])
            else:
                said = [message_in(error.body, ("message", "error", "detail")), message_in(error.body, ("errors",))]
                message = " — ".join(text for text in said if text) or str(error)
                self.context.reject(entity, batch[0], message, error.body,
                                    context=f"the API refused it (HTTP {error.status})")  # fmt: skip
            return None
        body = parsed_body(response)
        job_id = dig(body, job.id_field)
        if not job_id:
            raise ApiError(f"{self.context.target.plugin}: {entity.name}: the answer to the batch has no job id at "
                           f"`{job.id_field}` (HTTP {response.status_code}); check job.id_field in the declaration")  # fmt: skip
        job_id = str(job_id)
        url = status_url(response, body, job, job_id, self.context.target.url,
                         lambda text: self.logger.warning("%s: %s", entity.name, text))  # fmt: skip
        if url is None:
            raise ApiError(f"{self.context.target.plugin}: {entity.name}: the answer to job {job_id} names no status "
                           f"URL (no Location header, nothing at `{job.status_url_field}`) and job.status_path is not "
                           f"declared; declare it in targets/{self.context.target.name}.yml")  # fmt: skip
        self.job_log.submitted(run_id=self.run_id, plugin=self.context.target.plugin, job_id=job_id, entity=entity.name,
                               items=len(batch), path=entity.path)  # fmt: skip
        self.context.outcome.add(jobs=1)
        self.logger.info("%s: job %s submitted with %d item(s)", entity.name, job_id, len(batch))
        return job_id, url

    # -- wait ---------------------------------------------------------------------------------------------
    def _wait(self, job_id: str, url: str, size: int) -> JobReading:
        """Poll until the job has an outcome; the last reading (still pending) after max_wait_seconds.

        Polls count against the rate budget (RetailPortal: 100/min, polls included), so after the first one the
        wait follows the job's own progress: the items left at the rate observed so far, but never less than
        poll_seconds nor more than a minute. Three 500-item jobs then cost a handful of polls each, not dozens.
        """
        job = self.job
        submitted = time.monotonic()
        deadline = submitted + job.max_wait_seconds
        wait = job.poll_seconds
        while True:
            if self.context.stop.wait(wait):
                raise Interrupted(f"{self.context.entity.name}: stopped while waiting for job {job_id}")
            request = requests.Request("GET", url, headers={"Accept": "application/json"}).prepare()
            self.context.outcome.add(requests=1)
            response = self.context.client.send(request, label=f"{self.context.entity.name}: job {job_id} status")
            reading = read_status(parsed_body(response), job, size)
            if reading.undeclared:
                self._warn_undeclared(job_id, reading, size)
            if reading.outcome != PENDING:
                return reading
            now = time.monotonic()
            if now > deadline:
                return reading
            wait = self._next_wait(reading.done, size, now - submitted)

    def _next_wait(self, done: int, size: int, elapsed: float) -> float:
        job = self.job
        if done <= 0 or elapsed <= 0:
            return job.poll_seconds
        remaining = (size - done) / (done / elapsed)
        return min(max(remaining, job.poll_seconds), 60.0)

    def _warn_undeclared(self, job_id: str, reading: JobReading, size: int) -> None:
        """Once per state (and per verdict): the server named a state the declaration does not list."""
        final = reading.outcome != PENDING
        with self._warn_lock:
            if (reading.state, final) in self._warned:
                return
            self._warned.add((reading.state, final))
        job, where = self.job, f"targets/{self.context.target.name}.yml"
        if final:
            self.logger.warning(
                "%s: job %s reports state '%s', which %s lists in neither job.success_states (%s) nor "
                "job.failure_states (%s); its counts show all %d item(s) processed, so it is taken as finished by "
                "its counts (this warning is shown once) — add '%s' to job.success_states to confirm",
                self.context.entity.name, job_id, reading.state, where, ", ".join(job.success_states),
                ", ".join(job.failure_states), size, reading.state,
            )  # fmt: skip
        else:
            self.logger.warning(
                "%s: job %s reports state '%s', which %s does not list (success, failure or pending states); still "
                "polling until its counts show every item processed or job.max_wait_seconds passes",
                self.context.entity.name, job_id, reading.state, where,
            )  # fmt: skip

    # -- result -------------------------------------------------------------------------------------------
    def _unknown(self, job_id: str, batch: list[Item], reading: JobReading) -> None:
        """No outcome by the deadline: no dead letter (the API may have applied them), no STATE past them."""
        entity, key = self.context.entity, self.context.entity.key
        keys = [item.payload.get(key) for item in batch]
        shown = ", ".join(map(str, keys[:5])) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        error = (f"no outcome after {self.job.max_wait_seconds:g} s (last state {reading.state}, "
                 f"{reading.done} of {len(batch)} item(s) processed)")  # fmt: skip
        self.job_log.finished(job_id=job_id, state=UNKNOWN, succeeded=0, failed=0, error=error,
                              plugin=self.context.target.plugin)  # fmt: skip
        self.context.outcome.add(unknown=len(batch), jobs_unknown=1)
        self.logger.error(
            "%s: job %s: outcome unknown for its %d item(s) (%s %s): %s; they are not dead-lettered and no STATE is "
            "emitted past them — run again to re-send them (the API upserts on %s), or raise "
            "TARGET_%s_MAX_JOB_WAIT_SECONDS if jobs take longer",
            entity.name, job_id, len(batch), key, shown, error, key, self.context.target.name.upper(),
        )  # fmt: skip

    def _finished(self, job_id: str, reading: JobReading, batch: list[Item]) -> None:
        entity, job, status, state = self.context.entity, self.job, reading.body, reading.state
        failures = self._item_failures(status, batch)
        for index, reason, detail in failures:
            self.context.reject(entity, batch[index], reason, {"jobId": job_id, **detail},
                                context=f"job {job_id} refused it")  # fmt: skip
        unnamed = int_count(dig(status, job.failed_field) if job.failed_field else None) - len(failures)
        if unnamed > 0:
            self.logger.error("%s: job %s reports %d failure(s) that name no item; see the integration history",
                              entity.name, job_id, unnamed)  # fmt: skip
        succeeded = dig(status, job.succeeded_field) if job.succeeded_field else None
        succeeded = int_count(succeeded) if succeeded is not None else len(batch) - len(failures)
        self.job_log.finished(job_id=job_id, state=state, succeeded=succeeded, failed=len(failures) + max(unnamed, 0),
                              plugin=self.context.target.plugin)  # fmt: skip
        self.context.outcome.add(
            delivered=len(batch) - len(failures), jobs_with_failures=1 if failures or unnamed > 0 else 0
        )
        self.logger.info("%s: job %s %s: %d applied, %d refused", entity.name, job_id, state, succeeded, len(failures))

    def _item_failures(self, status: Any, batch: list[Item]) -> list[tuple[int, str, dict[str, Any]]]:
        job, key = self.job, self.context.entity.key
        errors = dig(status, job.item_errors_field) if job.item_errors_field else None
        if not isinstance(errors, list):
            return []
        by_key = {item.payload.get(key): index for index, item in enumerate(batch)}
        found: dict[int, tuple[int, str, dict[str, Any]]] = {}
        for entry in errors:
            if not isinstance(entry, dict):
                continue
            index = entry.get(job.item_index_field) if job.item_index_field else None
            if not (isinstance(index, int) and 0 <= index < len(batch)):
                index = by_key.get(entry.get(job.item_key_field)) if job.item_key_field else None
            if index is None:
                continue
            text = message_in(entry, job.item_message_fields)
            if text is None:
                rest = {k: v for k, v in entry.items() if k not in (job.item_index_field, job.item_key_field)}
                text = "refused without a message" + (f"; the job's entry: {_compact(rest)}" if rest else "")
            found[index] = (index, text, entry)
        return sorted(found.values())


def _compact(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
