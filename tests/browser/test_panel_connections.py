"""The panel's Connections page in a real Chromium, on `ponte serve` with a copy of this project whose `.env` and
service environment both hold wrong Sienge credentials: "Testar conexão" against the Sienge sandbox (a wrong
password shows the 401 line, the right one succeeds), saving (encrypted in `settings`), a real run that succeeds
only because the panel's values beat `.env` and the environment, Bling's "Autorizar" through the Bling sandbox, and
no saved secret or token in any page, API answer or run log."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from panel_harness import PROJECT, SECRET_KEY, SHOTS, logged_in_tab, panel_service
from serve_harness import ADMIN_DSN, schema_name

from ponte.testing.in_process import SandboxThread

pytestmark = pytest.mark.meltano
SIENGE_USER, SIENGE_PASSWORD = "api-da-obra", "senha-certa-do-sienge-Qx81"
RUN_SECONDS = 180_000  # ms Playwright waits for a whole Meltano run


def project_copy(folder: Path, dotenv: str) -> Path:
    """This project in `folder` (meltano.yml and its includes copied, as Meltano wants them inside the root; the
    rest linked), with a `.env` of its own (the real one is never touched)."""
    folder.mkdir(parents=True)
    for entry in PROJECT.iterdir():
        if entry.name in ("meltano.yml", "meltano"):
            (shutil.copytree if entry.is_dir() else shutil.copy)(entry, folder / entry.name)
        elif entry.name not in (".env", ".meltano", ".ponte", ".git", "output"):
            (folder / entry.name).symlink_to(entry)
    (folder / ".env").write_text(dotenv)
    return folder


@pytest.fixture(scope="module")
def panel(meltano_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    schema = schema_name("conexoes")
    tmp = tmp_path_factory.mktemp("conexoes")
    project = project_copy(tmp / "project", "TAP_SIENGE_PASSWORD=senha-errada-do-dotenv\n")
    (tmp / "jsonl").mkdir()
    with (
        SandboxThread.start("sienge", "--records", "5", "--username", SIENGE_USER, "--password", SIENGE_PASSWORD) as sienge,
        SandboxThread.start("bling") as bling,
        panel_service(
            schema, tmp, project, TAP_SIENGE_BASE_URL=sienge.base_url, TAP_SIENGE_USERNAME="usuario-errado-do-ambiente",
            TAP_SIENGE_STATE_DIR=str(tmp / "tap-state"), TAP_SIENGE_BACKOFF_BASE_SECONDS="0.01",
            TARGET_JSONL_DESTINATION_PATH=str(tmp / "jsonl"), TAP_BLING_BASE_URL=bling.base_url,
            TAP_BLING_AUTHORIZE_URL=f"{bling.base_url}/oauth/authorize",
            TAP_BLING_TOKEN_STORE_PATH=str(tmp / "bling-tokens.json"),
        ) as service,
    ):  # fmt: skip
        yield {"service": service, "bling": bling, "schema": schema, "seen": [], "tmp": tmp}


@pytest.fixture(scope="module")
def page(browser: Any, panel: dict[str, Any]) -> Iterator[Any]:
    """One logged-in tab; every HTML answer it gets is kept for the secret scan."""
    tab = logged_in_tab(browser, panel["service"], panel["seen"], viewport={"width": 1200, "height": 900})
    yield tab
    tab.context.close()


def _test_with(page: Any, password: str) -> str:
    page.goto("/conexoes/tap-sienge")
    page.fill("#v-username", SIENGE_USER)
    page.fill("#v-password", password)
    page.click("button[name=acao][value=testar]")
    return page.locator("#resultado-teste").inner_text()


def _save(page: Any) -> None:
    page.goto("/conexoes/tap-sienge")
    page.fill("#v-username", SIENGE_USER)
    page.fill("#v-password", SIENGE_PASSWORD)
    page.click("button[name=acao][value=salvar]")
    page.get_by_text("Configurações salvas.").wait_for()


def test_test_connection_shows_the_401_line_for_a_wrong_password_then_ok_and_saving_encrypts(
    page: Any, panel: dict[str, Any]
) -> None:
    wrong = _test_with(page, "senha-digitada-errada")
    assert "401" in wrong and "FAILED" in wrong, wrong
    assert page.locator("#v-password").input_value() == ""  # a typed secret is not sent back
    right = _test_with(page, SIENGE_PASSWORD)
    assert "connection OK" in right, right

    _save(page)
    row = page.locator("tr[data-setting=password]")
    assert "painel" in row.locator(".origem").inner_text() and "definida em" in row.inner_text()
    assert page.locator("tr[data-setting=username] input").input_value() == SIENGE_USER
    assert page.locator("tr[data-setting=base_url] .origem").inner_text().startswith(".env ou ambiente")
    assert page.locator("tr[data-setting=start_date] .origem").inner_text().startswith("padrão")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "conexoes.png"), full_page=True)

    with psycopg.connect(ADMIN_DSN) as conn:
        stored = conn.execute(f"""SELECT name, ciphertext FROM "{panel['schema']}".settings
                                  WHERE plugin = 'tap-sienge'""").fetchall()  # fmt: skip
    assert {name for name, _ in stored} == {"username", "password"}
    assert all(SIENGE_PASSWORD not in text and SIENGE_USER not in text for _, text in stored)

    page.click("tr[data-setting=password] button.remover")  # "Remover", then saved again
    page.get_by_text("Configurações salvas.").wait_for()
    assert "definida em" not in page.locator("tr[data-setting=password]").inner_text()
    _save(page)


def test_a_run_uses_the_panel_values_over_dotenv_and_environment_and_nothing_shows_them(
    page: Any, panel: dict[str, Any]
) -> None:
    _save(page)  # this worker may not have run the test above
    service = panel["service"]
    body = {"pipeline": ["tap-sienge", "target-jsonl"], "select": ["customers"]}
    run_id = service.post("/api/runs", json=body).json()["run_id"]
    page.goto(f"/execucoes/{run_id}")
    page.locator("#situacao", has_text=re.compile("sucesso|falhou")).wait_for(timeout=RUN_SECONDS)
    run = service.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "succeeded", run.get("error")  # .env and the environment hold wrong credentials
    assert (panel["tmp"] / "jsonl" / "customers.jsonl").read_text().count("\n") == 5

    for href in ("/conexoes", "/conexoes/tap-sienge", "/", f"/execucoes/{run_id}"):
        page.goto(href)
    texts = [*panel["seen"], service.get(f"/api/runs/{run_id}").text, service.get(f"/api/runs/{run_id}/log").text,
             service.get("/api/runs").text, service.get("/healthz").text]  # fmt: skip
    with psycopg.connect(ADMIN_DSN) as conn:
        texts += [r[0] for r in conn.execute(f'SELECT line FROM "{panel["schema"]}".run_log').fetchall()]
    assert any("customers" in text for text in texts)
    for text in texts:
        assert SIENGE_PASSWORD not in text and SECRET_KEY not in text


def test_bling_authorize_runs_the_code_flow_and_shows_expiry_and_rotation_never_tokens(
    page: Any, panel: dict[str, Any]
) -> None:
    service = panel["service"]
    panel["bling"].configure(redirect_uri=f"{service.url}/conexoes/autorizacao/retorno")
    page.goto("/conexoes/tap-bling")
    row = page.locator("tr[data-conta=loja-matriz]")
    assert row.locator(".expira").inner_text() == "não autorizada"
    row.locator("button", has_text="Autorizar").click()
    page.wait_for_url(re.compile(r"/conexoes/tap-bling$"))
    assert page.locator("#resultado-autorizacao").inner_text() == "Conta loja-matriz autorizada."
    row = page.locator("tr[data-conta=loja-matriz]")
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", row.locator(".expira").inner_text())
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", row.locator(".rotacao").inner_text())

    forged = page.goto("/conexoes/autorizacao/retorno?code=abc&state=de-outra-sessao")
    assert forged.status == 400 and "state" in page.locator("main").inner_text()

    tokens = json.loads((panel["tmp"] / "bling-tokens.json").read_text())
    values = [record[k] for record in tokens["tokens"].values() for k in ("access_token", "refresh_token")]
    assert values, tokens
    for text in panel["seen"]:
        assert all(value not in text for value in values)
