"""The folder reader on real files written by the gateway simulator: every complete line exactly once.

The simulator is driven tick by tick and the reader polled in between, so each interleaving (a poll between a
half line and its end, between a write and a rotation, across a restart from the saved state) is chosen by the
test, not by timing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
from collections import Counter
from pathlib import Path

import pytest

from ponte.linefiles.reader import FolderReader, RawLine
from ponte.sandbox.keyence.gateway import DEFAULT_START, GatewaySimulator, Written

TICK = dt.timedelta(seconds=0.25)


class Harness:
    """A simulator plus a reader that is 'restarted' from its own state whenever the test says so."""

    def __init__(self, folder: Path, **simulator: object) -> None:
        self.folder = folder
        self.sim = GatewaySimulator(folder, **simulator)  # type: ignore[arg-type]
        self.moment = DEFAULT_START
        self.written: list[Written] = []
        self.read: list[RawLine] = []
        self.reader = FolderReader(folder, "*.txt")

    def write(self, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.written += self.sim.step(self.moment)
            self.moment += TICK

    def poll(self, max_lines: int = 10_000) -> list[RawLine]:
        lines = self.reader.poll(max_lines)
        self.read += lines
        return lines

    def drain(self, max_lines: int = 7) -> None:
        """Poll in small batches until nothing is left (each batch as a tap would send it)."""
        while len(self.poll(max_lines)) == max_lines:
            pass

    def restart(self) -> None:
        """A new reader from the state the last poll left (what the next tap run gets)."""
        self.reader = FolderReader(self.folder, "*.txt", state=self.reader.state)

    def assert_each_complete_line_once(self) -> None:
        self.sim.finish_halves()
        self.drain()
        texts = Counter(line.data.decode() for line in self.read)
        assert texts == Counter(w.text for w in self.written)
        keys = Counter((line.file_id, line.offset) for line in self.read)
        assert max(keys.values()) == 1, "a key was read twice"


def test_offsets_resume_exactly_across_restarts(tmp_path: Path) -> None:
    h = Harness(tmp_path, lines=2, sensors=3, bad_rate=0.2)
    for round_ in range(6):
        h.write(10 + round_)
        h.poll(max_lines=9)  # leave some behind: the next reader starts mid-file
        h.restart()
    h.assert_each_complete_line_once()
    lines = [line for line in h.read if line.file_name == "LINHA-01.txt"]
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))
    assert all(b.offset == a.offset + len(a.data) + 1 for a, b in itertools.pairwise(lines))


def test_a_half_written_line_is_read_once_when_complete(tmp_path: Path) -> None:
    h = Harness(tmp_path, lines=1, half_lines=True)
    h.write()  # line 1 half written
    assert h.poll() == []
    h.restart()
    h.write()  # completes line 1, half-writes line 2
    assert [line.number for line in h.poll()] == [1]
    assert h.poll() == []
    h.restart()
    h.sim.finish_halves()
    assert [line.number for line in h.poll()] == [2]
    h.assert_each_complete_line_once()


def test_a_new_file_is_not_read_before_its_first_line_is_complete(tmp_path: Path) -> None:
    path = tmp_path / "LINHA-09.txt"
    path.write_bytes(b"2026-11-23 06:00:00.000;LINHA-09;KV-01;OP1;1")
    reader = FolderReader(tmp_path, "*.txt")
    assert reader.poll() == [] and reader.state["files"] == {}
    with path.open("ab") as handle:
        handle.write(b";0\n2026-11-23 06:00:00.250;LIN")
    assert [line.data for line in reader.poll()] == [b"2026-11-23 06:00:00.000;LINHA-09;KV-01;OP1;1;0"]


def test_rotation_finishes_the_old_file_then_reads_the_new_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = Harness(tmp_path, lines=2, rotate_bytes=600, half_lines=True)
    for _ in range(40):
        h.write(3)  # lines land in the file after the last poll, then the file may be renamed
        h.poll(max_lines=4)
        if _ % 7 == 0:
            h.restart()
    assert h.sim.rotations >= 10
    h.assert_each_complete_line_once()
    for name in ("LINHA-01", "LINHA-02"):
        moments = [line.data.split(b";")[0] for line in h.read if line.data.split(b";")[1] == name.encode()]
        assert moments == sorted(moments), "the renamed file's last lines come before the new file's"
    assert "(rotated): continuing at byte" in caplog.text


def test_truncated_file_starts_over_for_the_new_content(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    h = Harness(tmp_path, lines=1)
    h.write(5)
    h.poll()
    os.truncate(tmp_path / "LINHA-01.txt", 0)  # `> LINHA-01.txt`, then the gateway goes on writing
    h.sim.production_lines[0].fd = None  # the simulator reopens (appends) like a gateway would
    h.write(3)
    new = h.poll()
    assert [line.number for line in new] == [1, 2, 3]
    assert new[0].offset == 0 and new[0].file_id != h.read[0].file_id
    assert "holds a new file (rotated or rewritten): reading it from the start" in caplog.text
    h.assert_each_complete_line_once()


def test_a_file_cut_below_the_offset_resumes_at_the_cut_under_a_new_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path, lines=1)
    h.write(6)
    first = h.poll()
    path = tmp_path / "LINHA-01.txt"
    cut = first[3].offset + 10  # in the middle of line 4: lines 1-3 stay, line 4 is broken
    os.truncate(path, cut)
    h.restart()
    assert h.poll() == []
    assert "was truncated" in caplog.text
    with path.open("ab") as handle:
        handle.write(b"\n2026-11-23 07:00:00.000;LINHA-01;KV-01;OP000001;1;0\n")
    after = h.poll()
    assert [line.number for line in after] == [4, 5]
    assert after[0].data == first[3].data[:10]  # the broken remains of line 4, read once, rejected by the parser
    assert after[0].offset == first[3].offset and after[0].file_id == f"{first[0].file_id}~1"
    assert {(line.file_id, line.offset) for line in after}.isdisjoint({(line.file_id, line.offset) for line in first})


def test_a_copy_is_not_read_twice_and_a_vanished_file_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path, lines=1)
    h.write(4)
    h.poll()
    (tmp_path / "copy.txt").write_bytes((tmp_path / "LINHA-01.txt").read_bytes())
    assert h.poll() == []
    assert "a copy, not read twice" in caplog.text
    (tmp_path / "copy.txt").unlink()
    h.write(2)
    assert len(h.poll(max_lines=1)) == 1
    h.sim.close()
    (tmp_path / "LINHA-01.txt").rename(tmp_path / "archived.old")  # moved out of the glob before being read
    assert h.poll() == []
    assert "left the folder before its last" in caplog.text
    assert next(iter(h.reader.state["files"].values()))["missing_since"]


def test_header_lines_are_skipped_and_a_missing_folder_waits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a.txt").write_bytes(b"timestamp;line\n2026;L1\n2026;L2\n")
    (tmp_path / "b.txt").write_bytes(b"timestamp;line\n2027;L1\n")
    reader = FolderReader(tmp_path, "*.txt", header_lines=1)
    assert sorted((line.file_name, line.number, line.data) for line in reader.poll()) == [
        ("a.txt", 2, b"2026;L1"),
        ("a.txt", 3, b"2026;L2"),
        ("b.txt", 2, b"2027;L1"),
    ]
    gone = FolderReader(tmp_path / "nope", "*.txt")
    assert gone.poll() == [] and gone.poll() == []
    assert caplog.text.count("cannot list the folder") == 1
