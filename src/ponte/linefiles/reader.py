"""Read a folder of growing text files incrementally: every complete line once, in order, across restarts.

A file is known by its **fingerprint** — a hash of its bytes up to the end of its first data line — not by its
name: the first line carries a millisecond timestamp, so it is unique to the file and survives renames. The
state keeps, per fingerprint, the byte offset of the first unread line and the number of lines read. Hence:

* **Half-written last line**: only bytes up to the last newline are read; the rest waits for its newline and
  is read once complete. A new file whose first line is not complete yet is not read at all.
* **Rotation** (file renamed, a new one created under the old name): the renamed file has the same
  fingerprint and is finished from its offset; the new one has a new fingerprint and is read from byte 0.
  Files are visited oldest first (modification time), so the old file's last lines come before the new ones.
* **Truncation / rewrite**: new content has a new first line, so a new fingerprint and is read from 0. A file
  that keeps its first line but became shorter than the offset read (cut in place, or a shorter copy) has had
  no new line yet: reading resumes at its last line boundary, under a new *generation* of its id, so lines
  written after the cut can never overwrite rows of the lines that were there before. Both are logged.
* **Record keys**: `_file_id` (fingerprint and generation) + `_file_offset` (byte offset of the line) are the
  same whoever reads the line and under whatever name, so replaying from an older state upserts the same rows.

`poll` is the whole API: it scans the folder and returns up to `max_lines` new lines, advancing the state as it
goes; `state` is what to put in the Singer STATE after those lines were emitted.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_VERSION = 1
FINGERPRINT_MAX_BYTES = 4096
READ_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20
FORGET_MISSING_AFTER = dt.timedelta(days=1)
ID_LENGTH = 20


@dataclass(frozen=True, slots=True)
class RawLine:
    """A complete line, without its newline, and where it is."""

    file_id: str
    file_name: str
    offset: int
    number: int
    data: bytes
    too_long: bool = False


@dataclass
class FileEntry:
    """What the state remembers of one file (by fingerprint)."""

    name: str
    offset: int = 0
    line: int = 0
    size: int = 0
    generation: int = 0
    missing_since: str | None = None

    def file_id(self, fingerprint: str) -> str:
        """The `_file_id` of the file's lines."""
        return fingerprint if not self.generation else f"{fingerprint}~{self.generation}"


class FolderReader:
    """Incremental reader of the files matching `glob` in `folder`."""

    def __init__(
        self,
        folder: str | Path,
        glob: str,
        *,
        header_lines: int = 0,
        state: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.glob = glob
        self.header_lines = header_lines
        self.logger = logger or logging.getLogger("ponte.linefiles.reader")
        self.files: dict[str, FileEntry] = {}
        for fingerprint, entry in ((state or {}).get("files") or {}).items():
            known = {k: v for k, v in entry.items() if k in FileEntry.__dataclass_fields__}
            self.files[fingerprint] = FileEntry(**known)
        # name → (inode, size, mtime_ns, fingerprint) when that file had nothing more to read: skip it unchanged.
        self._settled: dict[str, tuple[int, int, int, str]] = {}
        self._warned_missing_folder = False
        self._copies_warned: set[str] = set()

    # -- state ---------------------------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        """JSON-ready state: what the lines returned so far leave to read next."""
        files = {}
        for fingerprint, entry in self.files.items():
            files[fingerprint] = {k: v for k, v in asdict(entry).items() if v is not None}
        return {"version": STATE_VERSION, "files": files}

    # -- reading -------------------------------------------------------------------------------------------

    def poll(self, max_lines: int = 10_000) -> list[RawLine]:
        """Up to `max_lines` new complete lines, oldest file first; fewer means everything available was read."""
        found = self._scan()
        if found is None:
            return []
        lines: list[RawLine] = []
        present: set[str] = set()
        for name, path, stat in found:
            key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            settled = self._settled.get(name)
            if settled is not None and settled[:3] == key:
                present.add(settled[3])
                continue
            fingerprint = self._fingerprint(path)
            if fingerprint is None:
                continue  # first line not complete yet (or the file vanished)
            if fingerprint in present:
                if name not in self._copies_warned:
                    self.logger.warning(
                        "%s starts like another file in the folder (same first line): a copy, not read twice", name
                    )
                    self._copies_warned.add(name)
                continue
            present.add(fingerprint)
            entry = self._entry(fingerprint, name, stat.st_size, path)
            if len(lines) >= max_lines:
                continue
            finished = self._read(path, fingerprint, entry, lines, max_lines)
            if finished:
                self._settled[name] = (*key, fingerprint)
            else:
                self._settled.pop(name, None)
        self._mark_missing(present)
        return lines

    def _scan(self) -> list[tuple[str, Path, os.stat_result]] | None:
        """The matching files, oldest modification first; None when the folder cannot be listed."""
        try:
            names = [n for n in os.listdir(self.folder) if fnmatch.fnmatchcase(n, self.glob)]
        except OSError as exc:
            if not self._warned_missing_folder:
                self.logger.warning("cannot list the folder %s (%s); waiting for it", self.folder, exc)
                self._warned_missing_folder = True
            return None
        if self._warned_missing_folder:
            self.logger.info("folder %s is readable again", self.folder)
            self._warned_missing_folder = False
        found = []
        for name in names:
            path = self.folder / name
            try:
                stat = path.stat()
            except OSError:
                continue
            if path.is_file():
                found.append((name, path, stat))
        found.sort(key=lambda item: (item[2].st_mtime_ns, item[0]))
        return found

    def _fingerprint(self, path: Path) -> str | None:
        """Hash of the bytes up to the end of the first data line (at most 4 KiB), or None if not complete."""
        try:
            with path.open("rb") as handle:
                head = handle.read(FINGERPRINT_MAX_BYTES)
        except OSError:
            return None
        end = -1
        for _ in range(self.header_lines + 1):
            end = head.find(b"\n", end + 1)
            if end < 0:
                break
        if end >= 0:
            head = head[: end + 1]
        elif len(head) < FINGERPRINT_MAX_BYTES:
            return None
        return hashlib.sha256(head).hexdigest()[:ID_LENGTH]

    def _entry(self, fingerprint: str, name: str, size: int, path: Path) -> FileEntry:
        """The state of this file, created (and rotation or a cut logged) as needed."""
        entry = self.files.get(fingerprint)
        if entry is None:
            previous = next((e for e in self.files.values() if e.name == name and e.missing_since is None), None)
            if previous is not None:
                self.logger.info("%s holds a new file (rotated or rewritten): reading it from the start", name)
            entry = self.files[fingerprint] = FileEntry(name=name, size=size)
            return entry
        entry.missing_since = None
        if entry.name != name:
            self.logger.info("%s is now %s (rotated): continuing at byte %d", entry.name, name, entry.offset)
            entry.name = name
        if size < entry.offset:
            self._cut(fingerprint, entry, size, path)
        entry.size = size
        return entry

    def _cut(self, fingerprint: str, entry: FileEntry, size: int, path: Path) -> None:
        """Same first line but shorter than what was read: resume at the last line boundary, new generation."""
        boundary, lines, position = 0, 0, 0
        with path.open("rb") as handle:
            while position < size:
                chunk = handle.read(min(READ_BYTES, size - position))
                if not chunk:
                    break
                lines += chunk.count(b"\n")
                last = chunk.rfind(b"\n")
                if last >= 0:
                    boundary = position + last + 1
                position += len(chunk)
        self.logger.warning(
            "%s was truncated: %d bytes now, %d had been read (lines up to %d). Lines before byte %d were already "
            "read; new lines from there on get the id %s~%d",
            entry.name,
            size,
            entry.offset,
            entry.line,
            boundary,
            fingerprint,
            entry.generation + 1,
        )
        entry.generation += 1
        entry.offset, entry.line = boundary, lines

    def _read(self, path: Path, fingerprint: str, entry: FileEntry, out: list[RawLine], max_lines: int) -> bool:
        """Append the complete lines after `entry.offset` to `out`; True when the file has nothing more now."""
        file_id = entry.file_id(fingerprint)
        try:
            handle = path.open("rb")
        except OSError:
            return False
        with handle:
            handle.seek(entry.offset)
            pending = b""
            while len(out) < max_lines:
                chunk = handle.read(READ_BYTES)
                if not chunk:
                    return True
                data = pending + chunk if pending else chunk
                start = 0
                while len(out) < max_lines:
                    end = data.find(b"\n", start)
                    if end < 0:
                        break
                    self._take(entry, file_id, data[start:end], out)
                    start = end + 1
                pending = data[start:]
                if len(pending) > MAX_LINE_BYTES and pending.find(b"\n") < 0:
                    # No newline in 1 MiB: not a line of this format. Hand it over (as rejected) and move on.
                    self._take(entry, file_id, pending[:MAX_LINE_BYTES], out, too_long=True, length=len(pending))
                    pending = b""
            return False

    def _take(
        self,
        entry: FileEntry,
        file_id: str,
        data: bytes,
        out: list[RawLine],
        *,
        too_long: bool = False,
        length: int | None = None,
    ) -> None:
        offset = entry.offset
        entry.offset += (len(data) + 1) if length is None else length
        entry.line += 1
        entry.size = max(entry.size, entry.offset)
        if entry.line <= self.header_lines:
            return
        out.append(RawLine(file_id, entry.name, offset, entry.line, data, too_long))

    def _mark_missing(self, present: set[str]) -> None:
        """Note files that left the folder; forget them after a day (a share that blinks keeps its state)."""
        now = dt.datetime.now(dt.UTC)
        for fingerprint in list(self.files):
            entry = self.files[fingerprint]
            if fingerprint in present:
                continue
            if entry.missing_since is None:
                entry.missing_since = now.isoformat(timespec="seconds")
                self._settled = {n: s for n, s in self._settled.items() if s[3] != fingerprint}
                if entry.size > entry.offset:
                    self.logger.warning(
                        "%s left the folder before its last %d bytes were read (lines after %d lost)",
                        entry.name,
                        entry.size - entry.offset,
                        entry.line,
                    )
            elif now - dt.datetime.fromisoformat(entry.missing_since) > FORGET_MISSING_AFTER:
                del self.files[fingerprint]
