"""Database access (/banco): the connection string for BI tools and the loaded tables with their row counts.

The string is the read-only role's (`ponte db grant-readonly ROLE`), named by PONTE_BI_ROLE, on the host a BI
tool reaches (PONTE_BI_HOST, `host` or `host:port`; default: PONTE_DB_DSN's own) and PONTE_DB_DSN's database —
the loader's one, as deployed. The password is never shown: the string carries `<senha>`, the one the operator
set with `--password-env` (readonly_role.connection_string builds it, as the CLI does).

Tables: every table of the schemas the loader has written to (`sync_runs` of the loader's log schema,
TARGET_POSTGRES_LOG_SCHEMA) and of those the role can read. Counts are exact under EXACT_BELOW rows and the
planner's estimate (pg_class.reltuples, else pg_stat's live rows) above, marked `≈`, so the page stays fast on
big tables; the last load is the latest successful `sync_runs` row of the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ponte.service.panel.rendering import render
from ponte.targets.postgres.readonly_role import connection_string, loaded_schemas_query

EXACT_BELOW = 20_000
PLACEHOLDER = "<senha>"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")

TABLES = """
SELECT n.nspname AS schema, c.relname AS name, c.reltuples::bigint AS reltuples, s.n_live_tup AS live,
       CASE WHEN %(role)s::text IS NULL THEN NULL ELSE has_table_privilege(%(role)s, c.oid, 'SELECT') END AS readable
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 1, 2
"""
ROLE_SCHEMAS = """
SELECT DISTINCT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname <> ALL(%(system)s)
  AND has_schema_privilege(%(role)s, n.oid, 'USAGE') AND has_table_privilege(%(role)s, c.oid, 'SELECT')
"""


@dataclass
class Access:
    """What the page shows."""

    role: str | None
    role_exists: bool = False
    string: str | None = None
    host: str = ""
    tables: list[dict[str, Any]] = field(default_factory=list)
    estimated: bool = False
    log_schema: str = "ponte"


def bi_host(env: Mapping[str, str], dsn: str) -> tuple[str, str]:
    """PONTE_BI_HOST (`host` or `host:port`), else the service's DSN's host and port (localhost for a socket)."""
    info = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    port = info.get("port") or "5432"
    given = (env.get("PONTE_BI_HOST") or "").strip()
    if given:
        host, sep, given_port = given.rpartition(":")
        return (host, given_port) if sep and given_port.isdigit() and host else (given, port)
    host = info.get("host") or "localhost"
    return ("localhost" if host.startswith("/") else host.split(",")[0]), port


async def gather(service: Any) -> Access:
    """Everything the page shows, from one connection of the service's pool."""
    env, dsn = service.settings.env, service.dsn
    role = (env.get("PONTE_BI_ROLE") or "").strip() or None
    access = Access(role, log_schema=(env.get("TARGET_POSTGRES_LOG_SCHEMA") or "").strip() or "ponte")
    async with service.connections.connection() as conn:
        has_log = await _one(conn, "SELECT to_regclass(%s)", (f'"{access.log_schema}".sync_runs',)) is not None
        schemas: set[str] = set()
        if has_log:
            schemas = {row[0] for row in await (await conn.execute(loaded_schemas_query(access.log_schema))).fetchall()}
            schemas.add(access.log_schema)
        if role:
            access.role_exists = await _one(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)) is not None
            host, port = bi_host(env, dsn)
            access.host = f"{host}:{port}"
            access.string = connection_string(role, host, port, conn.info.dbname, None, PLACEHOLDER)
        if access.role_exists:
            found = await conn.execute(ROLE_SCHEMAS, {"role": role, "system": list(SYSTEM_SCHEMAS)})
            schemas |= {row[0] for row in await found.fetchall()}
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(TABLES, {"role": role if access.role_exists else None, "schemas": sorted(schemas)})
            access.tables = list(await cur.fetchall())
        await _count(conn, access)
        if has_log:
            await _last_loads(conn, access)
    return access


async def _count(conn: psycopg.AsyncConnection, access: Access) -> None:
    """Exact counts for the small tables (one query for all of them), the planner's estimate for the big ones."""
    exact = []
    for index, table in enumerate(access.tables):
        table["last_load"] = None
        estimate = table["reltuples"] if table["reltuples"] >= 0 else table["live"]
        if estimate is not None and estimate >= EXACT_BELOW:
            table["rows"], table["exact"] = estimate, False
            access.estimated = True
        else:
            table["exact"] = True
            exact.append(sql.SQL("SELECT {}, count(*) FROM {}").format(
                sql.Literal(index), sql.Identifier(table["schema"], table["name"])
            ))  # fmt: skip
    if exact:
        for index, rows in await (await conn.execute(sql.SQL(" UNION ALL ").join(exact))).fetchall():
            access.tables[index]["rows"] = rows


async def _one(conn: psycopg.AsyncConnection, query: Any, params: Any = None) -> Any:
    row = await (await conn.execute(query, params)).fetchone()
    return row[0] if row else None


async def _last_loads(conn: psycopg.AsyncConnection, access: Access) -> None:
    """When each table's latest successful load ended (the loader's run log; index sync_runs_target_finished)."""
    by_name = {f"{t['schema']}.{t['name']}": t for t in access.tables}
    cur = await conn.execute(
        sql.SQL(
            "SELECT t.name, (SELECT max(finished_at) FROM {} WHERE target_table = t.name AND status = 'succeeded') "
            "FROM unnest(%s::text[]) AS t(name)"
        ).format(sql.Identifier(access.log_schema, "sync_runs")),
        (list(by_name),),
    )
    for name, finished in await cur.fetchall():
        by_name[name]["last_load"] = finished


async def database_page(request: Request) -> Response:
    service = request.app.state.service
    access = await gather(service)
    return render(request, "banco.html", acesso=access, placeholder=PLACEHOLDER, exata_abaixo=EXACT_BELOW)


def routes() -> list[BaseRoute]:
    return [Route("/banco", database_page, methods=["GET"])]
