"""Dead letters in the panel (/rejeitados), in a real Chromium on `ponte serve`: letters target-postgres really
wrote (a record it refused), edited in the page and replayed through the target (`meltano invoke`), landing in
PostgreSQL and marked replayed; discard; the filters and the pages of the list."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from panel_harness import SECRET_KEY, SHOTS, logged_in_tab, panel_service
from serve_harness import ADMIN_DSN, schema_name

from ponte.core.console_scripts import console_script
from ponte.runlog.dead_letters import DeadLetter, PostgresDeadLetterStore

pytestmark = pytest.mark.meltano
PROPERTIES = {"id": {"type": "integer"}, "qty": {"type": ["integer", "null"]}, "name": {"type": ["string", "null"]}}
REPLAY_MS = 120_000  # `meltano invoke target-postgres` behind the button


def _target_postgres(schema: str, tmp: Path, *records: dict[str, Any]) -> None:
    """Load `records` into <schema>_data.stock with target-postgres itself; the ones it refuses become letters."""
    config = tmp / "target.json"
    config.write_text(json.dumps({"dsn": ADMIN_DSN, "default_target_schema": f"{schema}_data",
                                  "log_schema": f"{schema}_data_log", "pipeline_name": "estoque"}))  # fmt: skip
    lines = [{"type": "SCHEMA", "stream": "stock", "schema": {"type": "object", "properties": PROPERTIES},
              "key_properties": ["id"]}] + [{"type": "RECORD", "stream": "stock", "record": r} for r in records]  # fmt: skip
    done = subprocess.run([console_script("target-postgres"), "--config", str(config)], capture_output=True,
                          input="".join(json.dumps(line) + "\n" for line in lines), text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def panel(meltano_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    schema = schema_name("paneldlq")
    tmp = tmp_path_factory.mktemp("panel-dlq")
    log_schema = f"{schema}_data_log"
    env = {"TARGET_POSTGRES_DSN": ADMIN_DSN, "TARGET_POSTGRES_LOG_SCHEMA": log_schema,
           "PONTE_DLQ_DSN": ADMIN_DSN, "PONTE_DLQ_SCHEMA": log_schema}  # fmt: skip
    with panel_service(schema, tmp, **env) as service:
        _target_postgres(schema, tmp, {"id": 1, "qty": 1, "name": "ok"}, {"id": 2, "qty": "three", "name": "a fixar"},
                         {"id": 3, "qty": "x", "name": "a descartar"})  # fmt: skip
        with PostgresDeadLetterStore(ADMIN_DSN, log_schema) as store:
            ids = {letter.record["name"]: letter.id for letter in store.list(target="postgres")}
            store.add([DeadLetter(target="target-proextend", stream="alunos", entity="Aluno", record={"codigo": n},
                                  reason=f"HTTP 422: {'cpf inválido' if n % 2 else 'curso inexistente'} ({n})",
                                  api_response={"erro": "cpf inválido"}) for n in range(60)])  # fmt: skip
        yield {"service": service, "schema": schema, "ids": ids, "seen": []}


@pytest.fixture(scope="module")
def page(browser: Any, panel: dict[str, Any]) -> Iterator[Any]:
    tab = logged_in_tab(browser, panel["service"], panel["seen"])
    yield tab
    tab.context.close()


def _letter(panel: dict[str, Any], letter_id: int) -> tuple[str, Any]:
    with psycopg.connect(ADMIN_DSN) as conn:
        return conn.execute(
            f'SELECT status, replayed_at FROM "{panel["schema"]}_data_log".dead_letters WHERE id = %s', (letter_id,)
        ).fetchone()


def test_a_dead_letter_edited_and_replayed_lands(page: Any, panel: dict[str, Any]) -> None:
    letter_id = panel["ids"]["a fixar"]
    page.goto("/rejeitados?pipeline=estoque")
    row = page.locator(f"tr[data-id='{letter_id}']")
    assert "'three' is not an integer" in row.locator(".motivo").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "rejeitados.png"), full_page=True)
    row.locator("a").first.click()
    page.wait_for_url(re.compile(rf"/rejeitados/{letter_id}$"))
    assert json.loads(page.locator("#registro").input_value()) == {"id": 2, "qty": "three", "name": "a fixar"}

    page.fill("#registro", '{"id": 2, "qty": ')  # broken JSON is refused and the record kept
    page.get_by_role("button", name="Salvar").click()
    assert "objeto JSON válido" in page.get_by_role("alert").inner_text()
    page.fill("#registro", json.dumps({"id": 2, "qty": 3, "name": "a fixar"}))
    page.get_by_role("button", name="Salvar").click()
    assert "Registro salvo" in page.get_by_role("status").inner_text()
    assert json.loads(page.locator("#registro").input_value())["qty"] == 3

    page.click("#reenviar", timeout=REPLAY_MS)
    page.locator("#reenvio").wait_for(timeout=REPLAY_MS)
    outcome = page.locator("#reenvio").inner_text()
    assert "1 rejeitado(s) marcado(s) como reenviado(s)" in outcome and "Nenhum registro foi recusado" in outcome
    assert page.locator("#situacao-rejeitado").inner_text() == "reenviado"
    with psycopg.connect(ADMIN_DSN) as conn:
        rows = conn.execute(f'SELECT id, qty, name FROM "{panel["schema"]}_data".stock ORDER BY id').fetchall()
    assert (2, 3, "a fixar") in rows
    status, replayed_at = _letter(panel, letter_id)
    assert status == "replayed" and replayed_at is not None
    for text in panel["seen"]:
        assert SECRET_KEY not in text


def test_discard_takes_a_letter_off_the_open_list(page: Any, panel: dict[str, Any]) -> None:
    letter_id = panel["ids"]["a descartar"]
    page.goto(f"/rejeitados/{letter_id}")
    page.click("#descartar")
    page.wait_for_url(re.compile(r"/rejeitados\?"))
    assert f"Rejeitado #{letter_id} descartado." in page.get_by_role("status").inner_text()
    assert page.locator(f"tr[data-id='{letter_id}']").count() == 0
    assert _letter(panel, letter_id)[0] == "discarded"
    page.goto("/rejeitados?situacao=discarded")
    assert page.locator(f"tr[data-id='{letter_id}']").count() == 1
    page.goto(f"/rejeitados/{letter_id}")
    assert page.locator("#reenviar").count() == 0 and page.locator("textarea").count() == 0  # no more edits


def test_filters_and_pages_of_the_list(page: Any, panel: dict[str, Any]) -> None:
    page.goto("/rejeitados")
    page.select_option("select[name=pipeline]", "target-proextend")
    page.select_option("select[name=entidade]", "Aluno")
    page.fill("input[name=motivo]", "CPF INVÁLIDO")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"motivo="))
    rows = page.locator("table.rejeitados tbody tr")
    assert rows.count() == 30  # the odd ones of 60
    assert all("cpf inválido" in text for text in rows.locator(".motivo").all_inner_texts())
    assert page.locator("a.mais").count() == 0

    page.goto("/rejeitados?pipeline=target-proextend")
    first = [int(x) for x in rows.evaluate_all("rows => rows.map(r => r.dataset.id)")]
    assert len(first) == 50 and first == sorted(first, reverse=True)  # newest first, a page of 50
    page.click("a.mais")
    page.wait_for_url(re.compile(r"antes="))
    rest = [int(x) for x in rows.evaluate_all("rows => rows.map(r => r.dataset.id)")]
    assert len(rest) == 10 and max(rest) < min(first)
    assert "target-proextend" in page.locator("select[name=pipeline]").input_value()

    page.goto("/rejeitados?entidade=nada")
    assert page.locator(".vazio").inner_text() == "Nenhum rejeitado com esses filtros."
