"""The file stores (tokens, dead letters, job log, run records, run report) share one way to write private files."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from ponte.core.errors import ConfigError
from ponte.core.private_files import append_lines, private_folder, replace_lines


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folders_and_files_are_private_even_under_an_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        folder = tmp_path / "a" / "b"
        private_folder(folder, "dead-letter", "dead_letter_path")
        append_lines(folder / "x.jsonl", [{"n": 1}])
        replace_lines(folder / "y.jsonl", [{"n": 2}])
    finally:
        os.umask(old)
    assert _mode(folder) == 0o700
    assert _mode(folder / "x.jsonl") == 0o600 and _mode(folder / "y.jsonl") == 0o600


def test_a_file_made_wider_by_someone_else_is_narrowed_on_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("")
    path.chmod(0o644)
    append_lines(path, [{"secret": "value"}])
    assert _mode(path) == 0o600


def test_concurrent_appends_never_interleave_and_keep_text_and_dates_readable(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    rows = [{"writer": w, "n": n, "texto": "ação " * 200} for w in range(8) for n in range(50)]

    def write(writer: int) -> None:
        for row in rows:
            if row["writer"] == writer:
                append_lines(path, [row])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sorted((r["writer"], r["n"]) for r in map(json.loads, lines)) == [(r["writer"], r["n"]) for r in rows]
    assert "ação" in lines[0]


def test_a_rewrite_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "letters.jsonl"
    append_lines(path, [{"id": 1}, {"id": 2}])
    replace_lines(path, [{"id": 2}])
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"id": 2}]
    assert [p.name for p in tmp_path.iterdir()] == ["letters.jsonl"]  # no temporary file left behind


def test_a_folder_that_cannot_be_made_names_the_setting_to_change(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"cannot create the job log folder .* set job_log_path"):
        private_folder(blocker / "sub", "job log", "job_log_path")
