"""How one partition of a stream ends (read to the end, or stopped by a spent daily quota), and what follows.

Mixed into DeclarativeStream. A partition is one account's share of a root stream (and one `for_each` value's;
the whole stream without either). Its state carries `ponte_completed_at` (run start when it was last read to the end) and, while
its account's pass is unfinished, `ponte_interrupted_run` (the pass's name, see ponte.tap.lifecycle).

A spent quota is per account: it stops that account's streams (each marks itself interrupted and keeps its
position), while the other accounts are read to the end. A record whose child streams were cut short is held
back and goes out with them on the next run, so nothing is written twice. Without accounts the run stops.

Full-table streams keep one table version (`ponte_version`) for a whole pass, so records written on several
days carry the same version, and send ACTIVATE_VERSION only once every partition was read to the end: a
target never retires the rows that a stopped run has not reached yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ponte.core.errors import QuotaExhausted
from ponte.tap.sdk_private import set_table_version, write_activate_version

COMPLETED_KEY = "ponte_completed_at"
INTERRUPTED_KEY = "ponte_interrupted_run"
VERSION_KEY = "ponte_version"


class CompletionMixin:
    """Partition bookkeeping of a DeclarativeStream (which provides the attributes used here)."""

    _pass_version: int | None = None
    _read_to_end_in_run: bool = False

    def record_held_back(self, record: Mapping[str, Any]) -> bool:
        """Whether the record belongs to an account whose quota ran out while its child streams were read: it is
        not written now (ponte.tap.sdk_private) and must not count as written; it goes out with them later."""
        runtime = self.runtime  # type: ignore[attr-defined]
        field_name = runtime.account_field
        return (record.get(field_name) if field_name else None) in runtime.spent

    def _starts_stopped(self, context: Mapping[str, Any] | None) -> bool:
        """True when this partition is not read in this run (finished in its pass, or its account is spent)."""
        account = self._account(context)  # type: ignore[attr-defined]
        root = not self.sdef.parent  # type: ignore[attr-defined]
        if root and self.ponte_tap.finished_in_pass(self.name, context):  # type: ignore[attr-defined]
            self.logger.info(  # type: ignore[attr-defined]
                "stream=%s%s was read to the end before the daily quota stopped this pass; not read again",
                self.name,  # type: ignore[attr-defined]
                self._for(context),  # type: ignore[attr-defined]
            )
            self._after_partition(context)
            return True
        if account in self.runtime.spent:  # type: ignore[attr-defined]
            self._stop_for_quota(context)
            return True
        if root:
            self._use_pass_version()
        return False

    def _note_spent(self, context: Mapping[str, Any] | None, exc: QuotaExhausted) -> None:
        """The account's daily quota ran out while this partition was read."""
        runtime = self.runtime  # type: ignore[attr-defined]
        account = self._account(context)  # type: ignore[attr-defined]
        if runtime.accounts and account not in runtime.spent:
            self.logger.warning(  # type: ignore[attr-defined]
                "stream=%s account '%s': daily quota spent; this account's streams stop here and resume on the next "
                "run, the other accounts go on",
                self.name,  # type: ignore[attr-defined]
                account,
            )
        runtime.note_spent(account, exc)

    def _stop_for_quota(self, context: Mapping[str, Any] | None) -> None:
        """Mark the partition interrupted (its position stays in the state); without accounts, end the run."""
        if self.sdef.parent:  # type: ignore[attr-defined]
            return  # the parent record is held back and its stream stops too
        account = self._account(context)  # type: ignore[attr-defined]
        self.get_context_state(context)[INTERRUPTED_KEY] = self.ponte_tap.pass_name(account)  # type: ignore[attr-defined]
        if not self.runtime.accounts:  # type: ignore[attr-defined]
            raise self.runtime.spent[account]  # type: ignore[attr-defined]
        self._after_partition(context)

    def _mark_completed(self, context: Mapping[str, Any] | None, bookmark_end: dt.datetime) -> None:
        """The partition was read to the end: bookmark, completion marker, then ACTIVATE_VERSION if all are done.

        A window_end bookmark is the end of the last window read; for an open-ended or unfiltered listing that
        is when the listing began (on the first day of a pass that took several), so what changed while the
        pass ran is read by the next incremental run.
        """
        state = self.get_context_state(context)  # type: ignore[attr-defined]
        if self.sdef.incremental and self.sdef.bookmark_mode == "window_end":  # type: ignore[attr-defined]
            self._set_window_bookmark(context, bookmark_end)  # type: ignore[attr-defined]
        state[COMPLETED_KEY] = self.runtime.started_iso  # type: ignore[attr-defined]
        if INTERRUPTED_KEY in state:
            state[INTERRUPTED_KEY] = None  # null, not absent: Meltano's state merge would bring a deleted key back
        top = self.stream_state  # type: ignore[attr-defined]
        if top is not state and top.get(INTERRUPTED_KEY):
            top[INTERRUPTED_KEY] = None  # a whole-stream marker of earlier versions
        self._read_to_end_in_run = True
        self._after_partition(context)

    def _after_partition(self, context: Mapping[str, Any] | None) -> None:
        """After the last partition: ACTIVATE_VERSION, if one was read to the end now and none is unfinished."""
        partitions = self.partitions  # type: ignore[attr-defined]
        if partitions and dict(context or {}) != partitions[-1]:
            return
        if not self._read_to_end_in_run or self._pass_version is None:
            return
        states = [self.get_context_state(p) for p in partitions or [None]]  # type: ignore[attr-defined]
        if any(state.get(INTERRUPTED_KEY) for state in states):
            return
        for stream in self._versioned_streams():
            write_activate_version(stream, self._pass_version)
        self.stream_state[VERSION_KEY] = None  # type: ignore[attr-defined]

    def _use_pass_version(self) -> None:
        """The table version of this pass (kept in the state until ACTIVATE_VERSION), set on every full-table
        stream of this tree before its first record."""
        streams = self._versioned_streams()
        if self._pass_version is not None or not streams:
            return
        state = self.stream_state  # type: ignore[attr-defined]
        stored = state.get(VERSION_KEY)
        version = stored if isinstance(stored, int) and not isinstance(stored, bool) else self.ponte_tap.run_version  # type: ignore[attr-defined]
        state[VERSION_KEY] = version
        self._pass_version = version
        for stream in streams:
            set_table_version(stream, version)

    def _versioned_streams(self) -> list[Any]:
        """This stream and its descendants that are full table, selected and announce their versions."""
        return [
            stream
            for stream in [self, *self._descendants()]
            if stream.selected and not stream.sdef.incremental and stream.activate_version
        ]

    def _descendants(self) -> list[Any]:
        found: list[Any] = []
        for child in self.child_streams or []:  # type: ignore[attr-defined]
            found.append(child)
            found.extend(child._descendants())
        return found
