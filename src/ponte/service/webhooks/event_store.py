"""The async side of `webhook_events` shared by the intake and the processor of one service: a connection pool
opened on first use (inside the server's event loop) and the table created once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ponte.service.webhooks.store import DDL, render

logger = logging.getLogger(__name__)


class EventStore:
    """A small pool (the intake holds a connection for one INSERT, a few milliseconds)."""

    def __init__(self, dsn: str, schema: str, max_size: int = 8) -> None:
        self.dsn, self.schema = dsn, schema
        self._pool: AsyncConnectionPool | None = None
        self._opening = asyncio.Lock()
        self.max_size = max_size

    async def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    pool = AsyncConnectionPool(
                        self.dsn, min_size=1, max_size=self.max_size, open=False, kwargs={"autocommit": True},
                        name="ponte-webhooks", timeout=10,
                    )  # fmt: skip
                    await pool.open(wait=True, timeout=10)
                    async with pool.connection() as conn, conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ponte.webhook_events'))")
                        await conn.execute(render(DDL, self.schema))
                    self._pool = pool
        return self._pool

    def q(self, query: str) -> Any:
        return render(query, self.schema)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
