"""When an ACTIVATE_VERSION takes effect.

A full-table sync stamps its records with a version and ends with ACTIVATE_VERSION; rows of older versions
are then gone from the source. Some taps also send ACTIVATE_VERSION *before* the records. Acting on that
first one would mark the whole table deleted until the sync's records arrive, so an ACTIVATE_VERSION for a
version this run has not loaded waits: a later one (after the records) replaces it, and if the input ends
with no record having followed it, the source really was empty and it applies then.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class ActivationTracker:
    """Per stream: the ACTIVATE_VERSION to apply at the next commit, and one waiting for the end."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.pending: int | None = None
        self._waiting: tuple[int, int] | None = None  # (version, records seen when it arrived)

    def activate(self, version: int, *, last_version: object, records_seen: int) -> None:
        """Apply at the next commit if the last record loaded carried this version, else wait."""
        if last_version == version:
            self.pending, self._waiting = version, None
        else:
            self._waiting = (version, records_seen)

    def settle(self, records_seen: int) -> None:
        """End of input: a waiting ACTIVATE_VERSION applies only if no record followed it."""
        if self._waiting is None:
            return
        version, seen = self._waiting
        self._waiting = None
        if seen == records_seen:
            self.pending = version
        else:
            logger.warning(
                "stream '%s': ACTIVATE_VERSION %s was followed by records but not repeated at the end; "
                "not marking missing rows deleted (the sync may not have finished)",
                self.stream,
                version,
            )

    def applied(self) -> None:
        """The pending version was applied in a committed batch."""
        self.pending = None
