"""The channel from Ponte's plugins to the `ponte run` that started them: its run id and the facts they report."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest

from ponte.runlog import report
from ponte.runlog.dead_letters import DeadLetter, FileDeadLetterStore


def test_reports_are_appended_only_under_the_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.jsonl"
    monkeypatch.delenv(report.REPORT_ENV, raising=False)
    report.report(report.STOPPED_QUOTA, plugin="tap-x", message="spent")
    assert not path.exists()
    monkeypatch.setenv(report.REPORT_ENV, str(path))
    report.report(report.STOPPED_QUOTA, plugin="tap-x", message="spent")
    report.report(report.STREAM_FINISHED, plugin="target-y", stream="s", inserted=2)
    assert [(f["event"], f["plugin"]) for f in report.read_report(path)] == [
        ("stopped_quota", "tap-x"), ("stream_finished", "target-y")
    ]  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_run_id_comes_from_the_launcher_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    given = uuid.uuid4()
    monkeypatch.setenv(report.RUN_ID_ENV, str(given))
    assert report.this_run_id() == given
    monkeypatch.setenv(report.RUN_ID_ENV, "not-a-uuid")
    assert report.this_run_id() != given
    monkeypatch.delenv(report.RUN_ID_ENV)
    assert report.this_run_id() != report.this_run_id()


def test_dead_letters_stored_under_the_launcher_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(report.REPORT_ENV, str(tmp_path / "report.jsonl"))
    store = FileDeadLetterStore(tmp_path / "dl.jsonl")
    letters = [DeadLetter("target-proextend", "professors", {"code": n}, "cpf invalid") for n in range(3)]
    store.add([*letters, DeadLetter("target-proextend", "students", {"code": 9}, "no course")])
    facts = report.read_report(tmp_path / "report.jsonl")
    assert {(f["stream"], f["count"]) for f in facts if f["event"] == "dead_letters"} == {
        ("professors", 3), ("students", 1)
    }  # fmt: skip
