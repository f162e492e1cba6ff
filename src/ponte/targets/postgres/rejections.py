"""The records of a stream's open batch that go to the dead letters instead of its table.

Two kinds, kept apart because a replay treats them differently: records the strict replay rejected (found
again on every replay, so forgotten when one starts) and records set aside before the batch saw them (too
deep to decode: no replay can find them again, so kept until the batch commits). Both reach
`<log_schema>.dead_letters` in the batch's own transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from ponte.targets.postgres.copy_writer import Spill
from ponte.targets.postgres.values import encode_json_lenient, strip_nul


def _letter(reason: str, record: Any) -> bytes:
    return encode_json_lenient([reason, strip_nul(record)]) + b"\n"


class Rejections:
    """Dead letters of one stream's open batch, as `[reason, record]` JSON lines in temporary files."""

    def __init__(self) -> None:
        self._rejected = Spill("ponte-rejects-")
        self._set_aside: Spill | None = None  # rare: its file is created on first use
        self.rejected = self.set_aside_count = 0

    def reject(self, reason: str, record: Any) -> None:
        """A record the strict replay refused."""
        self._rejected.write(_letter(reason, record))
        self.rejected += 1

    def set_aside(self, reason: str, record: Any) -> None:
        """A record that never made it into the batch (see the module docstring)."""
        if self._set_aside is None:
            self._set_aside = Spill("ponte-set-aside-")
        self._set_aside.write(_letter(reason, record))
        self.set_aside_count += 1

    def __len__(self) -> int:
        return self.rejected + self.set_aside_count

    def lines(self) -> Iterator[bytes]:
        """Every dead letter of the batch."""
        return itertools.chain(self._rejected.lines(), self._set_aside.lines() if self._set_aside else ())

    def replaying(self) -> None:
        """A replay starts: it rejects its records again."""
        self._rejected.reset()
        self.rejected = 0

    def committed(self) -> None:
        """The batch (and its dead letters) committed."""
        self.replaying()
        if self._set_aside is not None:
            self._set_aside.close()
            self._set_aside, self.set_aside_count = None, 0

    def close(self) -> None:
        """Release the temporary files."""
        self._rejected.close()
        if self._set_aside is not None:
            self._set_aside.close()
