"""Creation and modification dates of a lazily generated id space, and date filters over it without scans.

Ids 1..count are created in id order between `start` and `end` (so `createdAfter` is a binary search). Some
records were modified later, by at most `max_lag_days`, so `modifiedAfter=D` matches every record created on
or after D (a contiguous id range) plus a scan of only the ids created in the `max_lag_days` before D. Admin
changes (touched ids, inserted ids) are kept in small dicts and merged in. A filtered result is a `Pieces`
sequence (ranges plus small arrays), cached per filter, so paging a million rows never copies them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import threading
from array import array
from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import accumulate
from typing import overload

from ponte.sandbox.brdata import mix

BRT = dt.timezone(dt.timedelta(hours=-3))
Part = range | array


class Pieces(Sequence[int]):
    """A concatenation of descending id ranges and arrays, sliced without materialising the whole."""

    def __init__(self, parts: Iterable[Part]) -> None:
        self.parts = [part for part in parts if len(part)]
        self._ends = list(accumulate(len(part) for part in self.parts))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("Pieces supports contiguous slices only")
            return self.window(start, stop - start)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.window(index, 1)[0]

    def window(self, offset: int, limit: int) -> list[int]:
        """Up to `limit` ids from position `offset`."""
        out: list[int] = []
        part_no = bisect.bisect_right(self._ends, offset)
        while part_no < len(self.parts) and len(out) < limit:
            begin = self._ends[part_no] - len(self.parts[part_no])
            local = max(0, offset - begin)
            out.extend(self.parts[part_no][local : local + limit - len(out)])
            part_no += 1
        return out


class Timeline:
    """Dates of ids 1..total, newest-first selections by day bounds (inclusive ordinals)."""

    def __init__(
        self,
        seed: int,
        salt: int,
        count: int,
        start: dt.date,
        end: dt.date,
        modified_share: float = 0.35,
        max_lag_days: int = 400,
    ) -> None:
        self.seed, self.salt, self.count = seed, salt, count
        self._start, self._end = start.toordinal(), end.toordinal()
        self._span = self._end - self._start + 1
        self._share = int(modified_share * 1024)
        self.max_lag = max_lag_days
        self.overrides: dict[int, dt.datetime] = {}
        self.inserted: list[dt.datetime] = []
        self.version = 0
        self._cache: dict[Hashable, Pieces] = {}
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Number of ids, inserted ones included."""
        return self.count + len(self.inserted)

    # --- dates of one id ------------------------------------------------------------------------------------
    def _created_base(self, i: int) -> int:
        return self._start + (i - 1) * self._span // self.count

    def _modified_base(self, i: int) -> int:
        created = self._start + (i - 1) * self._span // self.count
        h = mix(self.seed, i, self.salt)
        if h & 1023 >= self._share:
            return created
        return created + (h >> 10) % (min(self.max_lag, self._end - created) + 1)

    def created_ord(self, i: int) -> int:
        """Day (proleptic ordinal) the id was created."""
        if i > self.count:
            return self.inserted[i - self.count - 1].toordinal()
        return self._created_base(i)

    def modified_ord(self, i: int) -> int:
        """Day the id was last modified (touches included)."""
        moment = self.overrides.get(i)
        if moment is not None:
            return moment.toordinal()
        if i > self.count:
            return self.inserted[i - self.count - 1].toordinal()
        return self._modified_base(i)

    def created(self, i: int) -> dt.datetime:
        """Creation moment (Brasília time); the time of day is derived from the id."""
        if i > self.count:
            return self.inserted[i - self.count - 1]
        return self._moment(self._created_base(i), i, 1)

    def modified(self, i: int) -> dt.datetime:
        """Last modification moment; equals `created` for records never modified."""
        moment = self.overrides.get(i)
        if moment is not None:
            return moment
        if i > self.count:
            return self.inserted[i - self.count - 1]
        day = self._modified_base(i)
        if day == self._created_base(i):
            return self.created(i)
        return self._moment(day, i, 2)

    def created_text(self, i: int, style: str = "date") -> str:
        """`created` as 'yyyy-MM-dd' (fast path, no datetime built) or ISO date-time with offset."""
        if style == "date" and i <= self.count:
            return _day_text(self._created_base(i))
        return _stamp(self.created(i), style)

    def modified_text(self, i: int, style: str = "date") -> str:
        """`modified` formatted like `created_text`."""
        if style == "date" and i <= self.count and i not in self.overrides:
            return _day_text(self._modified_base(i))
        return _stamp(self.modified(i), style)

    def _moment(self, ordinal: int, i: int, salt: int) -> dt.datetime:
        seconds = 8 * 3600 + mix(self.seed, i, self.salt + salt) % (10 * 3600)
        day = dt.datetime.fromordinal(ordinal).replace(tzinfo=BRT)
        return day + dt.timedelta(seconds=seconds)

    # --- admin changes --------------------------------------------------------------------------------------
    def touch(self, ids: Iterable[int], moment: dt.datetime) -> list[int]:
        """Set the modification moment of existing ids; returns the ids that do not exist (left alone)."""
        ids = list(ids)
        missing = [i for i in ids if not 1 <= i <= self.total]
        with self._lock:
            for i in ids:
                if 1 <= i <= self.total:
                    self.overrides[i] = moment
            self.version += 1
            self._cache.clear()
        return missing

    def insert(self, n: int, moment: dt.datetime) -> list[int]:
        """Append n new ids (the newest) created and modified at `moment`."""
        with self._lock:
            first = self.total + 1
            self.inserted.extend([moment] * n)
            self.version += 1
            self._cache.clear()
        return list(range(first, first + n))

    # --- selections -----------------------------------------------------------------------------------------
    def matches(
        self,
        i: int,
        created: tuple[int | None, int | None] = (None, None),
        modified: tuple[int | None, int | None] = (None, None),
    ) -> bool:
        """Whether one existing id falls inside inclusive day bounds (for lookups by document)."""
        if not 1 <= i <= self.total:
            return False
        c, m = self.created_ord(i), self.modified_ord(i)
        (c_lo, c_hi), (m_lo, m_hi) = created, modified
        return (
            (c_lo is None or c >= c_lo)
            and (c_hi is None or c <= c_hi)
            and (m_lo is None or m >= m_lo)
            and (m_hi is None or m <= m_hi)
        )

    def select(
        self,
        created: tuple[int | None, int | None] = (None, None),
        modified: tuple[int | None, int | None] = (None, None),
        extra: Callable[[int], bool] | None = None,
        extra_key: Hashable = None,
    ) -> Sequence[int]:
        """Ids matching inclusive day bounds (and `extra`), newest (highest id) first."""
        (c_lo, c_hi), (m_lo, m_hi) = created, modified
        if extra is None and created == (None, None) and modified == (None, None):
            return range(self.total, 0, -1)
        key = (created, modified, extra_key, self.version) if extra is None or extra_key is not None else None
        if key is not None and key in self._cache:
            return self._cache[key]
        result = self._compute(c_lo, c_hi, m_lo, m_hi, extra)
        if key is not None:
            with self._lock:
                if len(self._cache) >= 16:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = result
        return result

    def _first_created_on_or_after(self, ordinal: int) -> int:
        return bisect.bisect_left(range(1, self.count + 1), ordinal, key=self._created_base) + 1

    def _compute(
        self,
        c_lo: int | None,
        c_hi: int | None,
        m_lo: int | None,
        m_hi: int | None,
        extra: Callable[[int], bool] | None,
    ) -> Pieces:
        def matches(i: int) -> bool:
            return self.matches(i, (c_lo, c_hi), (m_lo, m_hi)) and (extra is None or extra(i))

        head = array("i", (i for i in range(self.total, self.count, -1) if matches(i)))
        lo = 1 if c_lo is None else self._first_created_on_or_after(c_lo)
        hi = self.count if c_hi is None else self._first_created_on_or_after(c_hi + 1) - 1
        singles_hi = hi  # touched ids may have been moved back in time: only the creation bounds apply
        if m_hi is not None:  # an untouched record is modified after its creation: none created after m_hi
            hi = min(hi, self._first_created_on_or_after(m_hi + 1) - 1)
        full_lo, scan_lo = lo, lo
        if m_lo is not None:
            full_lo = max(lo, self._first_created_on_or_after(m_lo))
            scan_lo = max(lo, self._first_created_on_or_after(m_lo - self.max_lag))
        if m_hi is not None or extra is not None:
            full_lo = hi + 1
        touched = sorted((i for i in self.overrides if i <= self.count), reverse=True)
        skip = set(touched)
        parts: list[Part] = [head]
        top = hi
        for i in (t for t in touched if full_lo <= t <= hi):  # full ranges, split around touched ids
            parts.append(range(top, i, -1))
            top = i - 1
        parts.append(range(top, full_lo - 1, -1))
        scanned = array("i")
        for i in range(min(hi, full_lo - 1), scan_lo - 1, -1):
            if i in skip:
                continue
            m = self._modified_base(i)
            if (m_lo is None or m >= m_lo) and (m_hi is None or m <= m_hi) and (extra is None or extra(i)):
                scanned.append(i)
        singles = [i for i in touched if lo <= i <= singles_hi and matches(i)]
        inside = [i for i in singles if scan_lo <= i < full_lo]
        if inside:  # touched ids between scanned ones: merge them into the scanned array itself
            scanned = array("i", sorted([*scanned, *inside], reverse=True))
        parts.append(scanned)
        return _merge(parts, [i for i in singles if not scan_lo <= i < full_lo])


@functools.lru_cache(maxsize=8192)
def _day_text(ordinal: int) -> str:
    return dt.date.fromordinal(ordinal).isoformat()


def _stamp(moment: dt.datetime, style: str) -> str:
    return moment.date().isoformat() if style == "date" else moment.isoformat(timespec="milliseconds")


def _merge(parts: list[Part], singles: list[int]) -> Pieces:
    """Put descending single ids between the disjoint descending parts (none falls inside a part's span)."""
    if not singles:
        return Pieces(parts)
    merged: list[Part] = []
    pending = iter(singles)
    nxt = next(pending, None)
    for part in parts:
        if len(part):
            while nxt is not None and nxt > part[0]:
                merged.append(array("i", [nxt]))
                nxt = next(pending, None)
        merged.append(part)
    while nxt is not None:
        merged.append(array("i", [nxt]))
        nxt = next(pending, None)
    return Pieces(merged)
