"""What happened to one entity in one run: the numbers of the summary, the run log and the alerts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Outcome:
    """Counters of one entity, safe to update from parallel senders."""

    entity: str
    received: int = 0
    duplicates: int = 0
    sent: int = 0
    delivered: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    skipped: int = 0  # records of a `send: false` entity, or not sent because of a dry run
    already: int = 0  # found in the API before posting (find_existing): not posted again
    unknown: int = 0  # sent in jobs that had no outcome by the deadline: neither delivered nor dead-lettered
    requests: int = 0
    jobs: int = 0
    jobs_with_failures: int = 0
    jobs_failed: int = 0
    jobs_unknown: int = 0
    platform_total: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + int(value or 0))
