"""The control panel in a real Chromium, on `ponte serve` with this project, the Sienge sandbox and a fresh
schema: login (wrong password, CSRF-less POSTs), "Sincronizar agora" (the run's live log, the card turning green
with the record count), a failing run's red banner, and no secret in any page, API answer or log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests
from panel_harness import PASSWORD, SECRET_KEY, SHOTS, USER, log_in, logged_in_tab, new_context, panel_service
from serve_harness import ADMIN_DSN, schema_name

from ponte.service.panel.formatting import number
from ponte.testing.in_process import SandboxThread

pytestmark = pytest.mark.meltano
RUN_SECONDS = 180_000  # ms Playwright waits for a whole Meltano run


@pytest.fixture(scope="module")
def panel(meltano_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    schema = schema_name("panel")
    tmp = tmp_path_factory.mktemp("panel")
    with SandboxThread.start("sienge", "--records", "40") as sandbox, panel_service(
        schema, tmp, TAP_SIENGE_BASE_URL=sandbox.base_url, TAP_SIENGE_STATE_DIR=str(tmp / "tap-state"),
        TAP_SIENGE_BACKOFF_BASE_SECONDS="0.01", TARGET_POSTGRES_DSN=ADMIN_DSN,
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=f"{schema}_data", TARGET_POSTGRES_LOG_SCHEMA=f"{schema}_data_log",
    ) as service:  # fmt: skip
        yield {"service": service, "sandbox": sandbox, "schema": schema, "seen": []}


@pytest.fixture(scope="module")
def page(browser: Any, panel: dict[str, Any]) -> Iterator[Any]:
    """One logged-in tab for the module. xdist may hand this module's tests to several workers, so no test
    relies on another having run: each has its own service and sandbox per worker, and this tab logs in itself."""
    tab = logged_in_tab(browser, panel["service"], panel["seen"])
    yield tab
    tab.context.close()


def test_login_refuses_a_wrong_password_and_any_post_without_its_csrf_token(
    browser: Any, panel: dict[str, Any]
) -> None:
    context = new_context(browser, panel["service"], panel["seen"])
    page = context.new_page()
    page.goto("/")
    assert page.url.endswith("/login")  # no session: every page sends to the login
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "login.png"))
    log_in(page, "senha-errada-123")
    assert page.get_by_role("alert").inner_text() == "Usuário ou senha incorretos."
    assert page.url.endswith("/login")

    url = panel["service"].url
    anonymous = requests.Session()
    anonymous.get(f"{url}/login", timeout=10)  # an anonymous session with its CSRF token, which we leave out
    refused = anonymous.post(f"{url}/login", data={"nome": USER, "senha": PASSWORD}, timeout=10, allow_redirects=False)
    assert refused.status_code == 403

    log_in(page, PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("section.cartao[data-pipeline='sienge-to-postgres']").count() == 1

    logged_in = requests.Session()
    for cookie in page.context.cookies():
        logged_in.cookies.set(cookie["name"], cookie["value"])
    assert logged_in.get(f"{url}/", timeout=10).status_code == 200  # the browser's session, outside the browser
    before = len(panel["service"].runs())
    forged = logged_in.post(f"{url}/sincronizar", data={"pipeline": "sienge-to-postgres"}, timeout=10)
    assert forged.status_code == 403
    assert len(panel["service"].runs()) == before  # the CSRF-less POST started nothing
    context.close()


def test_sync_now_streams_the_run_log_and_turns_the_card_green_with_its_record_count(
    page: Any, panel: dict[str, Any]
) -> None:
    page.goto("/")
    page.locator("section.cartao[data-pipeline='sienge-to-postgres'] button").click()
    page.wait_for_url(re.compile(r"/execucoes/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]
    page.wait_for_function("document.getElementById('log').textContent.length > 0")  # lines while it runs
    assert page.locator("#situacao").inner_text() in ("em andamento", "iniciando")
    page.locator("#situacao", has_text="sucesso").wait_for(timeout=RUN_SECONDS)  # the page reloads at the end
    page.locator("#log", has_text="customers").wait_for()  # the reloaded page streams the whole log again
    page.screenshot(path=str(SHOTS / "execucao.png"), full_page=True)

    run = panel["service"].get(f"/api/runs/{run_id}").json()
    assert run["status"] == "succeeded" and run["trigger"] == "manual"
    records = sum(s["inserted"] + s["updated"] for s in run["streams"])
    with psycopg.connect(ADMIN_DSN) as conn:
        customers = conn.execute(f'SELECT count(*) FROM "{panel["schema"]}_data".customers').fetchone()[0]
    assert customers == 40 and records >= customers

    page.goto("/")
    card = page.locator("section.cartao[data-pipeline='sienge-to-postgres']")
    assert "ok" in card.get_attribute("class").split()
    assert card.locator(".registros").inner_text() == number(records)
    assert card.locator(".situacao").inner_text() == "sucesso"
    page.screenshot(path=str(SHOTS / "visao-geral.png"), full_page=True)


def test_a_failing_run_shows_the_red_banner_with_its_error_line(page: Any, panel: dict[str, Any]) -> None:
    panel["sandbox"].configure(fail_rate=1.0, fail_status=401)
    try:
        page.goto("/")
        page.locator("section.cartao[data-pipeline='sienge-to-postgres'] button").click()
        page.wait_for_url(re.compile(r"/execucoes/[0-9a-f-]{36}$"))
        page.locator("#situacao", has_text="falhou").wait_for(timeout=RUN_SECONDS)
    finally:
        panel["sandbox"].configure(fail_rate=0.0)
    page.goto("/")
    card = page.locator("section.cartao[data-pipeline='sienge-to-postgres']")
    assert "erro" in card.get_attribute("class").split()
    banner = card.locator(".faixa-erro").inner_text()
    assert "401" in banner, banner
    page.screenshot(path=str(SHOTS / "falha.png"), full_page=True)


def test_no_secret_reaches_a_page_an_api_answer_or_a_log(page: Any, panel: dict[str, Any]) -> None:
    service = panel["service"]
    if not service.runs():  # this worker ran no other test of the module: one run, so its pages exist
        service.finished(service.post("/api/runs", json={"pipeline": ["sienge-to-postgres"]}).json()["run_id"], 180)
    for href in ["/", *(f"/execucoes/{run['run_id']}" for run in service.runs())]:
        page.goto(href)
    texts = list(panel["seen"])
    for run in service.runs():
        texts.append(service.get(f"/api/runs/{run['run_id']}").text)
        texts.append(service.get(f"/api/runs/{run['run_id']}/log").text)
    texts += [service.get("/api/runs").text, service.get("/api/schedules").text, service.get("/healthz").text]
    assert len(panel["seen"]) >= 3 and len(texts) > len(panel["seen"])
    for text in texts:
        assert PASSWORD not in text and SECRET_KEY not in text
    with psycopg.connect(ADMIN_DSN) as conn:
        stored = conn.execute(f'SELECT password_hash FROM "{panel["schema"]}".panel_users').fetchone()[0]
    assert stored.startswith("$argon2") and PASSWORD not in stored
