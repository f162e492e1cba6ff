"""Webhook events (/eventos): the latest events the intake stored, with what became of each, and the deliveries
refused for their signature. Reads `<schema>.webhook_events` and `<schema>.webhook_refusals` (webhooks.store
owns both); a page is one indexed query of at most PAGE_SIZE rows, however many events the table holds.

Outcome, from the event's status and its run:
  iniciou    its run started (running or done): the first event of that run by arrival
  agrupado   coalesced into a run another event started (same run id)
  aguardando waiting for its coalescing window or its next try
  ignorado   a rule drops it, or no rule matches (skipped)
  falhou     every try failed (`ponte webhooks replay --failed`)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ponte.service.panel.rendering import render
from ponte.service.webhooks.store import render as render_sql

PAGE_SIZE = 50
REFUSALS_SHOWN = 20
OUTCOMES = {
    "iniciou": "execução iniciada",
    "agrupado": "agrupado em outra execução",
    "aguardando": "aguardando",
    "ignorado": "ignorado",
    "falhou": "falhou",
}
REASONS = {"missing": "assinatura ausente", "invalid": "assinatura inválida"}

# The first event (by arrival) of a run started it; the others rode along (webhook_events_run index).
FIRST_OF_RUN = """NOT EXISTS (SELECT 1 FROM {events} o WHERE o.run_id = e.run_id
                   AND (o.received_at, o.event_id) < (e.received_at, e.event_id))"""
OUTCOME_WHERE = {
    "iniciou": f"e.status IN ('running', 'done') AND {FIRST_OF_RUN}",
    "agrupado": f"e.status IN ('running', 'done') AND NOT {FIRST_OF_RUN}",
    "aguardando": "e.status IN ('pending', 'processing')",
    "ignorado": "e.status IN ('skipped', 'ignored')",
    "falhou": "e.status = 'failed'",
}
EVENTS = f"""
SELECT e.event_id, e.source, e.event, e.company_id, e.account, e.rule, e.status, e.attempts, e.deliveries,
       e.received_at, e.run_id, e.error, e.run_id IS NOT NULL AND {FIRST_OF_RUN} AS first_of_run
FROM {{events}} e
WHERE {{where}}
ORDER BY e.received_at DESC, e.event_id DESC
LIMIT %(limit)s
"""
REFUSALS = """
SELECT source, received_at, client, reason, body_bytes FROM {refusals} ORDER BY id DESC LIMIT %(limit)s
"""
REFUSAL_COUNTS = """
SELECT count(*) FILTER (WHERE received_at > now() - interval '24 hours') AS day, count(*) AS kept FROM {refusals}
"""


def outcome(row: dict[str, Any]) -> str:
    status = row["status"]
    if status in ("running", "done"):
        return "iniciou" if row["first_of_run"] else "agrupado"
    if status in ("pending", "processing"):
        return "aguardando"
    if status in ("skipped", "ignored"):
        return "ignorado"
    return "falhou"


async def events_page(request: Request) -> Response:
    service = request.app.state.service
    schema = service.tables.schema
    params = request.query_params
    chosen_source = params.get("origem", "")
    chosen_outcome = params.get("resultado", "") if params.get("resultado", "") in OUTCOMES else ""
    where = ["true"]
    values: dict[str, Any] = {"limit": PAGE_SIZE + 1}
    if chosen_source:
        where.append("e.source = %(source)s")
        values["source"] = chosen_source
    if chosen_outcome:
        where.append(OUTCOME_WHERE[chosen_outcome])
    before = params.get("antes", "")
    if before:
        try:
            values["before"] = datetime.fromisoformat(before)
            where.append("e.received_at < %(before)s")
        except ValueError:
            before = ""
    async with service.connections.connection() as conn:
        conn.row_factory = dict_row  # the pool gives the next user tuples again
        found = await (await conn.execute("SELECT to_regclass(%s) AS t", (f'"{schema}".webhook_refusals',))).fetchone()
        if not found or found["t"] is None:  # the intake has not created its tables yet
            rows, refusals, counts, sources = [], [], {"day": 0, "kept": 0}, []
        else:
            query = EVENTS.replace("{where}", " AND ".join(where))
            rows = await (await conn.execute(render_sql(query, schema), values)).fetchall()
            refusals = await (await conn.execute(render_sql(REFUSALS, schema), {"limit": REFUSALS_SHOWN})).fetchall()
            counts = await (await conn.execute(render_sql(REFUSAL_COUNTS, schema))).fetchone() or {}
            sources = ["bling"]  # the only intake today; the column is there for the next ones
    following = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        following = str(request.url.include_query_params(antes=rows[-1]["received_at"].isoformat()))
    for row in rows:
        row["outcome"] = outcome(row)
    return render(
        request, "eventos.html", eventos=rows, recusas=refusals, contagem=counts, origens=sources,
        resultados=OUTCOMES, motivos=REASONS, origem=chosen_source, resultado=chosen_outcome, seguinte=following,
    )  # fmt: skip


def routes() -> list[BaseRoute]:
    return [Route("/eventos", events_page, methods=["GET"])]
