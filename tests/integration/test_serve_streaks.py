"""The service's alert rule on real PostgreSQL: one message when a pipeline starts failing (a failed or
stopped-quota run), none while it keeps failing, one when it recovers, per pipeline; missed schedule windows
alert once per streak. Run records are written as `ponte run` writes them (no Meltano needed)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb
from serve_harness import ADMIN_DSN, drop_schemas, schema_name

from ponte.notify import Alert
from ponte.service.database import Tables, create_tables
from ponte.service.settings import ServeSettings
from ponte.service.streaks import Streaks


@pytest.fixture
def schema() -> Iterator[str]:
    name = schema_name("serve_streaks")
    yield name
    drop_schemas(name)


def _finished(schema: str, pipeline: str, status: str) -> str:
    run_id = str(uuid.uuid4())
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{schema}".pipeline_runs (run_id, pipeline, trigger, status, started_at, finished_at, '
            "exit_code, error, plugins, streams) VALUES (%s, %s, 'schedule', %s, now(), now(), %s, %s, %s, %s)",
            (run_id, pipeline, status, 0 if status != "failed" else 1,
             "tap-x: 401 Unauthorized" if status == "failed" else None, Jsonb([]), Jsonb([])),
        )  # fmt: skip
    return run_id


def test_one_alert_per_failure_streak_and_one_recovery(schema: str, tmp_path: Path) -> None:
    sent: list[Alert] = []
    tables = Tables(schema)
    asyncio.run(create_tables(ADMIN_DSN, tables))
    streaks = Streaks(ServeSettings(tmp_path), ADMIN_DSN, tables, notify=sent.append)
    history = [("p1", "succeeded"), ("p1", "failed"), ("p1", "failed"), ("p2", "stopped-quota"), ("p1", "partial"),
               ("p1", "failed"), ("p2", "stopped-quota"), ("p2", "succeeded")]  # fmt: skip
    for pipeline, status in history:
        asyncio.run(streaks.run_finished(_finished(schema, pipeline, status)))
    assert [(a.plugin, a.severity, a.title.split(":")[0].split(" (")[0]) for a in sent] == [
        ("p1", "error", "run failed"),
        ("p2", "warning", "run stopped"),
        ("p1", "warning", "recovered"),  # partial is not bad unless PONTE_ALERT_ON says so
        ("p1", "error", "run failed"),
        ("p2", "warning", "recovered"),
    ]
    assert "tap-x: 401 Unauthorized" in sent[0].summary

    sent.clear()
    at = datetime.now(UTC)
    for _ in range(2):
        asyncio.run(streaks.schedule_missed("nightly", 3, at, True, at))

    async def on_time() -> None:
        async with await psycopg.AsyncConnection.connect(ADMIN_DSN, autocommit=True) as conn:
            await streaks.schedule_on_time("nightly", at, conn)

    asyncio.run(on_time())
    asyncio.run(streaks.schedule_missed("nightly", 1, at, False, at))
    assert [a.title for a in sent] == ["missed 3 firing(s)", "missed 1 firing(s)"]
