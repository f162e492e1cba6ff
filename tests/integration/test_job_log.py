"""The API targets' job log: PostgreSQL (`<schema>.sync_jobs`) and JSON Lines backends behave alike."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ponte.core.errors import ConfigError
from ponte.targets.api.job_log import FileJobLog, JobLog, PostgresJobLog, build_job_log

ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
RUN_A = str(uuid.uuid4())
RUN_B = str(uuid.uuid4())


@pytest.fixture(params=["postgres", "file"])
def job_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobLog]:
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        log: JobLog = build_job_log({"run_log_dsn": ADMIN_DSN, "run_log_schema": schema}, redact=_redact)
        assert isinstance(log, PostgresJobLog)
    else:
        log = build_job_log({"job_log_path": str(tmp_path / "logs" / "jobs.jsonl")}, redact=_redact)
        assert isinstance(log, FileJobLog)
    with log:
        yield log


def _redact(text: str) -> str:
    return text.replace("s3cr3t-key", "****")


def test_submitted_then_finished_round_trip(job_log: JobLog) -> None:
    job_log.submitted(
        run_id=RUN_A,
        plugin="target-retailportal",
        job_id="job-1",
        entity="ErpProduct",
        items=500,
        created_at=T0,
        path="/erp-data/product/batch",
    )
    job_log.submitted(
        run_id=RUN_A,
        plugin="target-retailportal",
        job_id="job-2",
        entity="ErpStock",
        items=3,
        created_at=T0 + timedelta(seconds=1),
    )
    job_log.finished(
        job_id="job-1",
        state="Succeeded",
        succeeded=498,
        failed=2,
        finished_at=T0 + timedelta(seconds=30),
        error="2 items rejected (api key s3cr3t-key)",
    )

    newest, oldest = job_log.list(plugin="target-retailportal")
    assert (newest.job_id, newest.state, newest.finished_at, newest.succeeded) == ("job-2", "submitted", None, None)
    assert oldest.job_id == "job-1"
    assert oldest.entity == "ErpProduct"
    assert oldest.items == 500
    assert oldest.run_id == RUN_A
    assert oldest.path == "/erp-data/product/batch"
    assert oldest.created_at == T0
    assert oldest.finished_at == T0 + timedelta(seconds=30)
    assert (oldest.state, oldest.succeeded, oldest.failed) == ("Succeeded", 498, 2)
    assert oldest.error == "2 items rejected (api key ****)"


def test_filters_and_limit(job_log: JobLog) -> None:
    for i in range(3):
        job_log.submitted(
            run_id=RUN_A, plugin="target-a", job_id=f"a{i}", entity="E", items=1, created_at=T0 + timedelta(seconds=i)
        )
    job_log.submitted(run_id=RUN_B, plugin="target-b", job_id="b0", entity="E", items=1, created_at=T0)

    assert [e.job_id for e in job_log.list(plugin="target-a")] == ["a2", "a1", "a0"]
    assert [e.job_id for e in job_log.list(run_id=RUN_B)] == ["b0"]
    assert [e.job_id for e in job_log.list(plugin="target-a", limit=2)] == ["a2", "a1"]
    assert job_log.list(plugin="target-a", run_id=RUN_B) == []
    assert len(job_log.list()) == 4


def test_resubmitting_a_job_upserts(job_log: JobLog) -> None:
    job_log.submitted(run_id=RUN_A, plugin="target-a", job_id="j", entity="E", items=10, created_at=T0)
    job_log.finished(job_id="j", state="Failed", succeeded=0, failed=10, error="timeout", finished_at=T0)
    job_log.submitted(run_id=RUN_B, plugin="target-a", job_id="j", entity="E", items=7, created_at=T0 + timedelta(1))

    (entry,) = job_log.list()
    assert (entry.run_id, entry.items, entry.state, entry.failed, entry.error) == (RUN_B, 7, "submitted", None, None)
    assert entry.created_at == T0 + timedelta(1)


def test_finished_only_touches_the_named_plugin(job_log: JobLog) -> None:
    job_log.submitted(run_id=RUN_A, plugin="target-a", job_id="same", entity="E", items=1, created_at=T0)
    job_log.submitted(run_id=RUN_A, plugin="target-b", job_id="same", entity="E", items=1, created_at=T0)
    job_log.finished(job_id="same", plugin="target-b", state="Succeeded", succeeded=1, failed=0)
    job_log.finished(job_id="unknown", state="Succeeded", succeeded=1, failed=0)

    states = {e.plugin: e.state for e in job_log.list()}
    assert states == {"target-a": "submitted", "target-b": "Succeeded"}


def test_postgres_table_has_comments_key_and_run_index(pg_schema: str) -> None:
    with PostgresJobLog(ADMIN_DSN, schema=pg_schema):
        pass
    PostgresJobLog(ADMIN_DSN, schema=pg_schema).close()  # the DDL runs again without error
    with psycopg.connect(ADMIN_DSN) as conn:
        table = f"{pg_schema}.sync_jobs"
        assert conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (table,)).fetchone()[0]
        uncommented = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "AND col_description(attrelid, attnum) IS NULL",
            (table,),
        ).fetchall()
        assert uncommented == []
        key = conn.execute(
            "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i "
            "CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (table,),
        ).fetchone()[0]
        assert key == ["plugin", "job_id"]
        indexes = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s", (pg_schema,)).fetchall()
        assert any("(run_id)" in row[0] for row in indexes)


def test_postgres_maps_non_uuid_run_labels_like_dead_letters(pg_schema: str) -> None:
    with PostgresJobLog(ADMIN_DSN, schema=pg_schema) as log:
        log.submitted(run_id="nightly-42", plugin="p", job_id="j", entity="E", items=1)
        (entry,) = log.list(run_id="nightly-42")
    assert entry.run_id == str(uuid.uuid5(uuid.NAMESPACE_URL, "ponte-run:nightly-42"))


def test_file_log_is_private_and_append_only(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    log = FileJobLog(path)
    log.submitted(run_id=RUN_A, plugin="p", job_id="j", entity="E", items=1)
    log.finished(job_id="j", state="Succeeded", succeeded=1, failed=0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [line.split('"event": ')[1].split(",")[0] for line in path.read_text().splitlines()] == [
        '"submitted"',
        '"finished"',
    ]


def test_file_log_names_a_broken_line(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    log = FileJobLog(path)
    log.submitted(run_id=RUN_A, plugin="p", job_id="j", entity="E", items=1)
    with path.open("a") as handle:
        handle.write("not json\n")
    with pytest.raises(ConfigError, match="line 2"):
        log.list()


def test_default_is_the_file_log() -> None:
    log = build_job_log({})
    assert isinstance(log, FileJobLog)
    assert log.path == Path(".ponte/jobs.jsonl")
