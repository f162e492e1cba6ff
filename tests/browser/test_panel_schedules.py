"""The panel's Schedules, Webhooks and Database pages in a real Chromium, on `ponte serve` with a tiny project (jobs
that are a fake `ponte run`, no Meltano run): pausing a schedule in the page pauses it in the table and on the
overview; the interval in words and its next three runs; signed, coalesced, ignored and forged webhooks on
/eventos; the BI connection string copied to the clipboard and the tables with their row counts."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from panel_harness import SHOTS, logged_in_tab, panel_service
from serve_harness import ADMIN_DSN, schema_name, tick_project, wait_for

from ponte.sandbox.bling.webhooks import envelope, sign
from ponte.service.panel.formatting import ZONE
from ponte.targets.postgres.readonly_role import grant_readonly

BLING_SECRET = "segredo-do-app-bling-77c1"
RULES = """\
version: 1
source: bling
coalesce_seconds: 1
rules:
  - name: estoque
    events: [stock.*]
    job: tick-0
  - name: notas
    events: [invoice.*]
    ignore: true
"""


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    schema = schema_name("agenda")
    role = f"{schema}_bi"
    tmp = tmp_path_factory.mktemp("agenda")
    project = tick_project(tmp / "projeto", {"noturno": "30 2 * * 1-5", "de-hora@tick-1": "0 * * * *"}, jobs=2)
    (project / "webhooks").mkdir()
    (project / "webhooks" / "bling.yml").write_text(RULES, encoding="utf-8")
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}_data"')
        conn.execute(f'CREATE TABLE "{schema}_data".clientes AS SELECT g AS id FROM generate_series(1, 3) g')
        grant_readonly(conn, role, [f"{schema}_data"])
    try:
        with panel_service(
            schema, tmp, project, meltano=False, TAP_BLING_CLIENT_SECRET=BLING_SECRET,
            PONTE_SERVE_RUN_COMMAND=f"{sys.executable} {project / 'fake_run.py'}", FAKE_RUN_LOG=str(tmp / "runs.log"),
            FAKE_RUN_SECONDS="0.2", PONTE_BI_ROLE=role, PONTE_BI_HOST="bi.example.com:6432",
            TARGET_POSTGRES_LOG_SCHEMA=f"{schema}_data_log",
        ) as service:  # fmt: skip
            yield {"service": service, "schema": schema, "role": role}
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def _logged_in(browser: Any, panel: dict[str, Any], **options: Any) -> tuple[Any, Any]:
    page = logged_in_tab(browser, panel["service"], **options)
    return page.context, page


def _weekday_times(count: int, hour: int, minute: int) -> list[str]:
    """The next `count` Monday-to-Friday times hour:minute in São Paulo, as the panel writes them."""
    moment = datetime.now(ZONE).replace(second=0, microsecond=0)
    found = []
    while len(found) < count:
        moment += timedelta(minutes=1)
        if moment.weekday() < 5 and (moment.hour, moment.minute) == (hour, minute):
            found.append(moment.strftime("%d/%m/%Y %H:%M"))
    return found


def test_pausing_a_schedule_in_the_page_pauses_it_in_the_table_and_on_the_overview(
    browser: Any, panel: dict[str, Any]
) -> None:
    context, page = _logged_in(browser, panel)
    page.goto("/agendamentos")
    row = page.locator("tr[data-agendamento='noturno']")
    assert row.locator(".palavras").inner_text() == "De segunda a sexta, às 02:30"
    assert row.locator(".proximas li").all_inner_texts() == _weekday_times(3, 2, 30)
    assert page.locator("tr[data-agendamento='de-hora@tick-1'] .palavras").inner_text() == "A cada hora, no minuto 00"

    row.get_by_role("button", name="Pausar").click()
    row.locator(".estado", has_text="Pausado").wait_for()
    assert row.locator(".proximas").inner_text() == "pausado"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "agendamentos.png"), full_page=True)
    described = {s["name"]: s for s in panel["service"].get("/api/schedules").json()["schedules"]}
    assert described["noturno"]["paused"] is True and described["de-hora@tick-1"]["paused"] is False
    with psycopg.connect(ADMIN_DSN) as conn:
        stored = conn.execute(f'SELECT paused FROM "{panel["schema"]}".schedules WHERE name = %s', ("noturno",))
        assert stored.fetchone() == (True,)  # in the table: a restart keeps it
    page.goto("/")
    assert page.locator("[data-pipeline='tick-0'] .proxima").inner_text() == "agendamento pausado"
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:00", page.locator("[data-pipeline='tick-1'] .proxima").inner_text())

    page.goto("/agendamentos")
    page.locator("tr[data-agendamento='noturno']").get_by_role("button", name="Retomar").click()
    page.locator("tr[data-agendamento='noturno'] .estado", has_text="Ativo").wait_for()
    described = {s["name"]: s for s in panel["service"].get("/api/schedules").json()["schedules"]}
    assert described["noturno"]["paused"] is False
    forged = requests.post(f"{panel['service'].url}/agendamentos/noturno/pausar", timeout=10,
                           cookies={c["name"]: c["value"] for c in context.cookies()})  # fmt: skip
    assert forged.status_code == 403  # no CSRF token
    context.close()


def test_webhook_events_show_their_outcome_and_the_signature_failures(browser: Any, panel: dict[str, Any]) -> None:
    url = f"{panel['service'].url}/webhooks/bling"
    sent = {}
    for name, event in (("primeiro", "stock.updated"), ("segundo", "stock.updated"), ("nota", "invoice.created")):
        body = json.dumps(envelope(event, "empresa-1", {"id": len(sent) + 1})).encode()
        answer = requests.post(url, data=body, timeout=10, headers={"Content-Type": "application/json",
                               "X-Bling-Signature-256": sign(body, BLING_SECRET)})  # fmt: skip
        assert answer.status_code == 200
        sent[name] = json.loads(body)["eventId"]
    forged = json.dumps(envelope("stock.updated", "empresa-1", {"nome": "SEGREDO-DO-CORPO"})).encode()
    headers = {"Content-Type": "application/json"}
    assert requests.post(url, data=forged, headers={**headers, "X-Bling-Signature-256": sign(forged, "outro")},
                         timeout=10).status_code == 401  # fmt: skip
    assert requests.post(url, data=forged, headers=headers, timeout=10).status_code == 401

    def started() -> str | None:
        with psycopg.connect(ADMIN_DSN) as conn:
            row = conn.execute(f'SELECT run_id FROM "{panel["schema"]}".webhook_events WHERE event_id = %s',
                               (sent["primeiro"],)).fetchone()  # fmt: skip
        return row[0] if row else None

    run_id = wait_for(started, 30, "the webhook's run to start")
    context, page = _logged_in(browser, panel)
    page.goto("/eventos")
    first = page.locator(f"tr[data-evento='{sent['primeiro']}']")
    assert first.locator(".desfecho").inner_text() == "execução iniciada"
    assert first.locator("a").get_attribute("href") == f"/execucoes/{run_id}"
    second = page.locator(f"tr[data-evento='{sent['segundo']}']")
    assert second.locator(".desfecho").inner_text() == "agrupado em outra execução"  # the burst's one run
    assert second.locator("a").get_attribute("href") == f"/execucoes/{run_id}"
    assert page.locator(f"tr[data-evento='{sent['nota']}'] .desfecho").inner_text() == "ignorado"
    refusals = page.locator("#recusas tbody tr").all_inner_texts()
    assert len(refusals) == 2 and "assinatura ausente" in refusals[0] and "assinatura inválida" in refusals[1]
    assert all("127.0.0.1" in line for line in refusals)
    assert page.locator(".contagem-recusas").inner_text().startswith("2 nas últimas 24 h")
    assert "SEGREDO" not in page.content()
    page.screenshot(path=str(SHOTS / "eventos.png"), full_page=True)

    page.select_option("select[name=resultado]", "ignorado")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"resultado=ignorado"))
    assert page.locator("#eventos tbody tr").count() == 1
    context.close()


def test_the_database_page_copies_the_bi_connection_string_and_lists_the_tables(
    browser: Any, panel: dict[str, Any]
) -> None:
    context, page = _logged_in(browser, panel, permissions=["clipboard-read", "clipboard-write"])
    page.goto("/banco")
    expected = f"postgresql://{panel['role']}:<senha>@bi.example.com:6432/postgres"
    assert page.locator("#string-conexao").inner_text() == expected
    row = page.locator(f"tr[data-tabela='{panel['schema']}_data.clientes']")
    assert row.locator(".linhas").inner_text() == "3"
    assert row.locator("td").last.inner_text() == "sim"  # the role may read it
    page.get_by_role("button", name="Copiar").click()
    page.locator("#copiado", has_text="Copiado!").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == expected
    page.screenshot(path=str(SHOTS / "banco.png"), full_page=True)
    context.close()
