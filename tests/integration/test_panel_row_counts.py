"""The pipeline page's "rows in PostgreSQL": counted for a small table, PostgreSQL's estimate (marked as such) for
a big one, nothing for a table that is gone."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from serve_harness import ADMIN_DSN

from ponte.service.panel.pipeline import EXACT_COUNT_UP_TO, row_count


def test_small_tables_are_counted_big_ones_estimated() -> None:
    schema = f"rowcount_{uuid.uuid4().hex[:8]}"
    big = EXACT_COUNT_UP_TO + 5_000

    async def counts() -> list[tuple[int | None, bool]]:
        async with await psycopg.AsyncConnection.connect(ADMIN_DSN, autocommit=True) as conn:
            return [await row_count(conn, f"{schema}.{name}") for name in ("small", "big", "gone")]

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        try:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'CREATE TABLE "{schema}".small AS SELECT g AS id FROM generate_series(1, 42) g')
            conn.execute(f'CREATE TABLE "{schema}".big AS SELECT g AS id FROM generate_series(1, {big}) g')
            conn.execute(f'ANALYZE "{schema}".big')
            small, estimated, gone = asyncio.run(counts())
        finally:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert small == (42, False)
    assert estimated[1] and abs(estimated[0] - big) <= big * 0.05
    assert gone == (None, False)
