"""Send an entity whose endpoint queues a job (RetailPortal's product batches): submit, poll, read the result.

Each batch becomes a job: POST → 202 with a job id → poll its status until a final state. A POST that timed
out is re-sent as is by the HTTP client (the API upserts on the key, so nothing doubles). Every job is written
to the job log when submitted and when it ends. Items a finished job refused are dead-lettered with their
messages; a job that failed as a whole is submitted again (`resubmit_failed`), then dead-lettered whole.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urljoin

import requests

from ponte.errors import ApiError, PonteError
from ponte.tap.records import dig
from ponte.targets.api.job_log import JobLog
from ponte.targets.api.record_errors import sentence, texts
from ponte.targets.api.sending import Item, SendContext, post

NOT_RETRYABLE = (401, 403, 404, 405)


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

    def send(self, batch: list[Item]) -> None:
        entity, job = self.context.entity, self.job
        for attempt in range(job.resubmit_failed + 1):
            submitted = self._submit(batch)
            if submitted is None:
                return
            job_id, url = submitted
            status = self._wait(job_id, url, len(batch))
            state = dig(status, job.state_path) if status is not None else "TimedOut"
            if status is None or state in job.failure_states:
                error = (dig(status, job.error_path) if job.error_path else None) or (
                    f"no final state after {job.max_wait_seconds:g} s" if status is None else f"state {state}"
                )
                self.job_log.finished(job_id=job_id, state=str(state), succeeded=0, failed=len(batch), error=str(error),
                                      plugin=self.context.target.plugin)  # fmt: skip
                self.context.outcome.add(jobs_failed=1)
                if status is not None and attempt < job.resubmit_failed:
                    self.logger.warning("%s: job %s failed as a whole (%s); submitting its %d item(s) again",
                                        entity.name, job_id, error, len(batch))  # fmt: skip
                    continue
                for item in batch:
                    self.context.reject(entity, item, f"job {job_id} ended {state}: {error}",
                                        {"jobId": job_id, "state": state, "error": error})  # fmt: skip
                return
            self._finished(job_id, str(state), batch, status)
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
                message = error.body.get("message") if isinstance(error.body, dict) else str(error.body)
                details = error.body.get("errors") if isinstance(error.body, dict) else None
                reason = f"the API refused it (HTTP {error.status}): {message}"
                if isinstance(details, list) and details:
                    reason += " — " + sentence({"": texts(details)})
                self.context.reject(entity, batch[0], reason, error.body)
            return None
        body = getattr(response, "ponte_json", None)
        job_id = dig(body, job.id_path)
        if not job_id:
            raise ApiError(f"{self.context.target.plugin}: {entity.name}: the answer to the batch has no job id at "
                           f"`{job.id_path}` (HTTP {response.status_code}); check job.id_path in the declaration")  # fmt: skip
        job_id = str(job_id)
        url = self._status_url(job_id, dig(body, job.status_url_path) if job.status_url_path else None)
        self.job_log.submitted(run_id=self.run_id, plugin=self.context.target.plugin, job_id=job_id, entity=entity.name,
                               items=len(batch), path=entity.path)  # fmt: skip
        self.context.outcome.add(jobs=1)
        self.logger.info("%s: job %s submitted with %d item(s)", entity.name, job_id, len(batch))
        return job_id, url

    def _status_url(self, job_id: str, given: Any) -> str:
        base = self.context.target.base_url
        if isinstance(given, str) and given:
            return given if given.startswith(("http://", "https://")) else urljoin(base, given)
        return self.context.target.url(self.job.status_path.replace("{job_id}", job_id))

    # -- wait ---------------------------------------------------------------------------------------------
    def _wait(self, job_id: str, url: str, size: int) -> dict[str, Any] | None:
        """Poll until a final state; None after max_wait_seconds.

        Polls count against the rate budget (RetailPortal: 100/min, polls included), so after the first one the
        wait follows the job's own progress: the items left at the rate observed so far, but never less than
        poll_seconds nor more than a minute. Three 500-item jobs then cost a handful of polls each, not dozens.
        """
        job = self.job
        submitted = time.monotonic()
        deadline = submitted + job.max_wait_seconds
        final = (*job.success_states, *job.failure_states)
        wait = job.poll_seconds
        while True:
            if self.context.stop.wait(wait):
                raise Interrupted(f"{self.context.entity.name}: stopped while waiting for job {job_id}")
            request = requests.Request("GET", url, headers={"Accept": "application/json"}).prepare()
            self.context.outcome.add(requests=1)
            response = self.context.client.send(request, label=f"{self.context.entity.name}: job {job_id} status")
            status = getattr(response, "ponte_json", None) or {}
            if dig(status, job.state_path) in final:
                return status
            now = time.monotonic()
            if now > deadline:
                return None
            wait = self._next_wait(status, size, now - submitted)

    def _next_wait(self, status: dict[str, Any], size: int, elapsed: float) -> float:
        job = self.job
        done = sum(_int(dig(status, p)) for p in (job.succeeded_path, job.failed_path) if p)
        if done <= 0 or elapsed <= 0:
            return job.poll_seconds
        remaining = (size - done) / (done / elapsed)
        return min(max(remaining, job.poll_seconds), 60.0)

    # -- result -------------------------------------------------------------------------------------------
    def _finished(self, job_id: str, state: str, batch: list[Item], status: dict[str, Any]) -> None:
        entity, job = self.context.entity, self.job
        failures = self._item_failures(status, batch)
        for index, reason, detail in failures:
            self.context.reject(entity, batch[index], f"job {job_id} refused it: {reason}", {"jobId": job_id, **detail})
        unnamed = _int(dig(status, job.failed_path) if job.failed_path else None) - len(failures)
        if unnamed > 0:
            self.logger.error("%s: job %s reports %d failure(s) that name no item; see the integration history",
                              entity.name, job_id, unnamed)  # fmt: skip
        succeeded = dig(status, job.succeeded_path) if job.succeeded_path else None
        succeeded = _int(succeeded) if succeeded is not None else len(batch) - len(failures)
        self.job_log.finished(job_id=job_id, state=state, succeeded=succeeded, failed=len(failures) + max(unnamed, 0),
                              plugin=self.context.target.plugin)  # fmt: skip
        self.context.outcome.add(
            delivered=len(batch) - len(failures), jobs_with_failures=1 if failures or unnamed > 0 else 0
        )
        self.logger.info("%s: job %s %s: %d applied, %d refused", entity.name, job_id, state, succeeded, len(failures))

    def _item_failures(self, status: dict[str, Any], batch: list[Item]) -> list[tuple[int, str, dict[str, Any]]]:
        job, key = self.job, self.context.entity.key
        errors = dig(status, job.item_errors_path) if job.item_errors_path else None
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
            messages = entry.get(job.item_messages_field) if job.item_messages_field else entry
            text = sentence({"": texts(messages)}) if isinstance(messages, list) else str(messages)
            found[index] = (index, text, entry)
        return sorted(found.values())


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
