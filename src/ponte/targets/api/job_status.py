"""Read an asynchronous job's status the way its API wrote it, when the docs leave the details open.

Where to poll: the 202's standard `Location` header (RFC 9110 §15.3.3: it points at a status monitor), else
the status URL the body names, else the declared path. What a state means: the declared success, failure and
pending states (case-insensitive); a state in none of them is *undeclared* and, when the counts show every item
processed, final — taken by its counts rather than polled until the deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ponte.declaration.records import dig
from ponte.declaration.templates import render
from ponte.targets.api.definition import JobDef

SUCCEEDED, FAILED, PENDING = "succeeded", "failed", "pending"


@dataclass(frozen=True)
class JobReading:
    """One poll's answer: the body, the state as the API named it, and what it means for the batch."""

    body: Any
    state: str
    outcome: str  # SUCCEEDED (ran to its end; per-item errors apply), FAILED (as a whole) or PENDING
    done: int  # items the counts say were processed (applied + refused)
    undeclared: bool = False  # the state is in none of the declared lists


def int_count(value: Any) -> int:
    """A count from a status body (anything else counts as 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def read_status(body: Any, job: JobDef, size: int) -> JobReading:
    """What one status answer says about a job of `size` items."""
    raw = dig(body, job.state_field)
    state = str(raw) if raw not in (None, "") else f"(none at `{job.state_field}`)"
    done = sum(int_count(dig(body, path)) for path in (job.succeeded_field, job.failed_field) if path)
    folded = state.casefold()
    for outcome, states in ((SUCCEEDED, job.success_states), (FAILED, job.failure_states),
                            (PENDING, job.pending_states)):  # fmt: skip
        if folded in {s.casefold() for s in states}:
            return JobReading(body, state, outcome, done)
    complete = size > 0 and done >= size
    return JobReading(body, state, SUCCEEDED if complete else PENDING, done, undeclared=True)


def status_url(
    response: requests.Response,
    body: Any,
    job: JobDef,
    job_id: str,
    url_of: Callable[[str], str],
    warn: Callable[[str], None],
) -> str | None:
    """Where to poll the job: Location (on a 202), else the body's status URL, else the declared path.

    Relative links resolve against the request's URL. A link to another origin is not followed (the API key
    would go with it): `warn` says so and the next candidate is used.
    """
    origin = _origin(url_of("/"))
    given = [("Location header", response.headers.get("Location") if response.status_code == 202 else None)]
    given.append((f"`{job.status_url_field}`", dig(body, job.status_url_field) if job.status_url_field else None))
    for where, link in given:
        if isinstance(link, str) and link.strip():
            url = urljoin(response.url or url_of("/"), link.strip())
            if _origin(url) == origin:
                return url
            warn(f"job {job_id}: the status link in its {where} leads to another host ({_origin(url)[1]}); not "
                 "followed, so the API key stays with the API")  # fmt: skip
    return url_of(render(job.status_path, {"job": {"id": job_id}})) if job.status_path else None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
