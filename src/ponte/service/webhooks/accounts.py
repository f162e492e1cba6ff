"""Which tap-bling account an event is about: the envelope's `companyId` is the id `GET /empresas/me/dados-basicos`
answers for that account (docs/api-facts-bling-totvs.md §4).

Matched, in order: an account of TAP_BLING_ACCOUNTS whose `company_id` is it; else the `empresa` stream tap-bling
already landed (`bling.empresa` by default: columns `conta` = account name, `id` = companyId). Unmatched, a run
reads every account (never wrong, only slower) and the event says so.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from ponte.service.webhooks.context import BlingSettings

logger = logging.getLogger("ponte.service.webhooks")


class AccountResolver:
    def __init__(self, settings: BlingSettings, table: str | None) -> None:
        self.known = {a.company_id: a.name for a in settings.accounts if a.company_id}
        self.table = table
        self.cache: dict[str, str] = {}
        self.table_missing_said = False

    async def resolve(self, conn: Any, company_id: str | None) -> str | None:
        if not company_id:
            return None
        found = self.known.get(company_id) or self.cache.get(company_id)
        if found or not self.table:
            return found
        schema, _, table = self.table.rpartition(".")
        name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        query = sql.SQL("SELECT conta FROM {} WHERE id::text = %s LIMIT 1").format(name)
        try:
            async with conn.transaction():
                row = await (await conn.execute(query, (company_id,))).fetchone()
        except psycopg.errors.UndefinedTable:
            if not self.table_missing_said:
                logger.warning("webhooks: no table %s to match companyId to accounts (run tap-bling once, or set "
                               "company_id on each account of TAP_BLING_ACCOUNTS)", self.table)  # fmt: skip
                self.table_missing_said = True
            return None
        if row and row[0]:
            self.cache[company_id] = str(row[0])
        return self.cache.get(company_id)
