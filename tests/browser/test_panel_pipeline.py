"""A pipeline's page in a real Chromium on `ponte serve` with the Sienge sandbox: the full refresh asks for a
confirmation and then starts a run with --full-refresh; after it the per-stream rows match PostgreSQL; the history
filters by status and pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from panel_harness import SHOTS, logged_in_tab, panel_service
from psycopg.types.json import Jsonb
from serve_harness import ADMIN_DSN, schema_name

from ponte.service.panel.formatting import number
from ponte.testing.in_process import SandboxThread

pytestmark = pytest.mark.meltano
PIPELINE = "sienge-to-postgres"
RUN_MS = 180_000


@pytest.fixture(scope="module")
def panel(meltano_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    schema = schema_name("panelpipe")
    tmp = tmp_path_factory.mktemp("panel-pipeline")
    sandbox = SandboxThread.start("sienge", "--records", "30")
    env = {"TAP_SIENGE_BASE_URL": sandbox.base_url, "TAP_SIENGE_STATE_DIR": str(tmp / "tap-state"),
           "TAP_SIENGE_BACKOFF_BASE_SECONDS": "0.01", "TARGET_POSTGRES_DSN": ADMIN_DSN,
           "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"{schema}_data", "TARGET_POSTGRES_LOG_SCHEMA": f"{schema}_data_log",
           "PONTE_DLQ_DSN": ADMIN_DSN, "PONTE_DLQ_SCHEMA": f"{schema}_data_log"}  # fmt: skip
    try:
        with panel_service(schema, tmp, **env) as service:
            yield {"service": service, "schema": schema, "seen": []}
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def page(browser: Any, panel: dict[str, Any]) -> Iterator[Any]:
    tab = logged_in_tab(browser, panel["service"], panel["seen"])
    yield tab
    tab.context.close()


def test_full_refresh_asks_first_then_runs_and_the_tables_match_postgres(page: Any, panel: dict[str, Any]) -> None:
    service = panel["service"]
    page.goto("/")
    page.locator(f"section.cartao[data-pipeline='{PIPELINE}'] h2 a").click()
    page.wait_for_url(re.compile(rf"/pipelines/{PIPELINE}$"))
    before = len(service.runs(pipeline=PIPELINE))
    page.click("#recarga")
    assert "Ler tudo de novo desde o início?" in page.get_by_role("alertdialog").inner_text()
    assert len(service.runs(pipeline=PIPELINE)) == before  # asking started nothing
    page.click("#confirmar")
    page.wait_for_url(re.compile(r"/execucoes/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]
    page.locator("#situacao", has_text="sucesso").wait_for(timeout=RUN_MS)
    run = service.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "succeeded" and "--full-refresh" in run["command"]

    page.goto(f"/pipelines/{PIPELINE}")
    history = page.locator(f"table.historico tr[data-run='{run_id}']")
    assert "recarga completa" in history.inner_text() and history.locator("a").get_attribute("href").endswith(run_id)
    shown = {row.get_attribute("data-stream"): row for row in page.locator("table.streams tbody tr").all()}
    counts = {s["stream"]: s for s in run["streams"]}
    assert set(counts) <= set(shown) and "customers" in counts
    with psycopg.connect(ADMIN_DSN) as conn:
        for stream, row in shown.items():
            table = row.locator(".tabela").inner_text()
            assert table.startswith(f"{panel['schema']}_data."), table
            schema, name = table.split(".")
            rows = conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]
            assert row.locator(".linhas").inner_text() == number(rows)
            assert row.locator(".inseridas").inner_text() == number(counts[stream]["inserted"])
            assert row.locator(".atualizadas").inner_text() == number(counts[stream]["updated"])
    assert shown["customers"].locator(".linhas").inner_text() == number(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "pipeline.png"), full_page=True)


def test_history_filters_by_status_and_pages(page: Any, panel: dict[str, Any]) -> None:
    base = datetime(2026, 11, 2, 12, tzinfo=UTC)
    runs = [(uuid.uuid4(), "failed" if n % 3 == 0 else "succeeded", base - timedelta(hours=n)) for n in range(40)]
    with psycopg.connect(ADMIN_DSN) as conn:
        for run_id, status, started in runs:
            conn.execute(
                f'INSERT INTO "{panel["schema"]}".pipeline_runs (run_id, pipeline, trigger, status, started_at, '
                "finished_at, error, streams) VALUES (%s, %s, 'schedule', %s, %s, %s, %s, %s)",
                (run_id, PIPELINE, status, started, started + timedelta(minutes=1),
                 "HTTP 401 from Sienge" if status == "failed" else None, Jsonb([])),
            )  # fmt: skip
    failed = {str(r) for r, status, _ in runs if status == "failed"}
    page.goto(f"/pipelines/{PIPELINE}?de=2026-10-01&ate=2026-11-30")
    page.select_option("select[name=situacao]", "failed")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"situacao=failed"))
    shown = page.locator("table.historico tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert set(shown) == failed and page.locator("a.mais").count() == 0  # 14 failed: one page

    page.goto(f"/pipelines/{PIPELINE}?de=2026-10-01&ate=2026-11-30")
    first = page.locator("table.historico tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    page.click("a.mais")
    page.wait_for_url(re.compile(r"antes="))
    rest = page.locator("table.historico tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert len(first) == 25 and len(rest) == 15 and set(first) | set(rest) == {str(r) for r, _, _ in runs}
    page.goto(f"/pipelines/{PIPELINE}?gatilho=webhook")
    assert page.locator("table.historico").count() == 0
    assert page.get_by_text("Nenhuma execução com esses filtros.").count() == 1
    page.goto("/pipelines/nao-existe")
    assert "Pipeline não encontrado." in page.content()
