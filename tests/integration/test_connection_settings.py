"""The panel's saved settings without a browser: encrypted in `settings` (never the value in clear), a wrong key is
an error naming the setting, each setting's source in Meltano's order with the panel on top, the form's rules
(empty sensitive field keeps, JSON checked, a boolean saved only when changed), and a run's environment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ponte.sandbox.bling.webhooks import sign
from ponte.service.connection_settings import ConnectionSettings, SettingUndecryptable, env_name
from ponte.service.database import Tables, create_tables
from ponte.service.panel.connections import read_form
from ponte.service.plugin_settings import plugins, resolve
from ponte.service.runs import RunManager, RunStart
from ponte.service.settings import ServeSettings
from ponte.service.webhooks.context import WebhookContext
from ponte.service.webhooks.signature import verify
from ponte.testing.postgres import ADMIN_DSN

KEY = "chave-do-teste-de-configuracoes-1234"
SECRET = "s3nha-do-painel-Zq81"
PROJECT = """\
default_environment: dev
plugins:
  extractors:
    - name: tap-loja
      executable: tap-loja
      config: {region: sul}
      settings:
        - {name: password, kind: string, sensitive: true}
        - {name: user, kind: string}
        - {name: region, kind: string, value: norte}
        - {name: page_size, kind: integer, value: 100}
        - {name: verbose, kind: boolean, value: false}
        - {name: accounts, kind: array}
        - {name: mode, kind: options, options: [{label: A, value: a}, {label: B, value: b}]}
        - {name: keys, kind: object, sensitive: true}
    - name: tap-loja--filial
      inherit_from: tap-loja
environments:
  - name: dev
    config:
      plugins:
        extractors:
          - name: tap-loja
            config: {user: dev-user, password: dev-password}
"""


@pytest.fixture(scope="module")
def schema() -> Iterator[Tables]:
    tables = Tables(f"settings_{uuid.uuid4().hex[:8]}")
    asyncio.run(create_tables(ADMIN_DSN, tables))
    yield tables
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{tables.schema}" CASCADE')


def test_values_are_stored_encrypted_and_a_wrong_key_names_the_setting_not_the_value(
    schema: Tables, tmp_path: Path
) -> None:
    store = ConnectionSettings(ADMIN_DSN, schema, KEY)
    asyncio.run(store.save("tap-loja", {"password": SECRET, "user": "ana"}, "operadora"))
    assert asyncio.run(store.values("tap-loja")) == {"tap-loja": {"password": SECRET, "user": "ana"}}
    assert asyncio.run(store.environment())["TAP_LOJA_PASSWORD"] == SECRET
    with psycopg.connect(ADMIN_DSN) as conn:
        rows = conn.execute(f'SELECT name, ciphertext, updated_by FROM "{schema.schema}".settings').fetchall()
    assert {r[0] for r in rows} == {"password", "user"} and all(r[2] == "operadora" for r in rows)
    assert all(SECRET not in r[1] and "ana" not in r[1] and KEY not in r[1] for r in rows)

    with pytest.raises(SettingUndecryptable) as wrong:
        asyncio.run(ConnectionSettings(ADMIN_DSN, schema, "outra-chave-qualquer-5678").environment())
    assert "tap-loja setting 'password'" in str(wrong.value) and SECRET not in str(wrong.value)
    (tmp_path / "meltano.yml").write_text(PROJECT)  # a run refuses to start rather than use other credentials
    other = ServeSettings.read(tmp_path, {"PONTE_SECRET_KEY": "outra-chave-qualquer-5678"})
    with pytest.raises(SettingUndecryptable, match="tap-loja setting 'password'"):
        asyncio.run(RunManager(other, ADMIN_DSN, schema).start_run(RunStart(["tap-loja"], "manual")))
    values, errors = asyncio.run(ConnectionSettings(ADMIN_DSN, schema, None).read("tap-loja"))
    assert values == {} and "PONTE_SECRET_KEY is not set" in errors["password"]

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:  # a ciphertext moved onto another setting
        conn.execute(f"""UPDATE "{schema.schema}".settings SET ciphertext = (SELECT ciphertext FROM
                         "{schema.schema}".settings WHERE name = 'password') WHERE name = 'user'""")
    values, errors = asyncio.run(store.read("tap-loja"))
    assert values == {"password": SECRET} and "'user'" in errors["user"]
    assert asyncio.run(store.remove("tap-loja", "user")) and not asyncio.run(store.remove("tap-loja", "user"))
    assert asyncio.run(store.saved("tap-loja"))["tap-loja"].keys() == {"password"}


def test_sources_follow_meltano_with_the_panel_on_top_and_the_form_keeps_what_was_not_typed(tmp_path: Path) -> None:
    (tmp_path / "meltano.yml").write_text(PROJECT)
    found = plugins(tmp_path)
    assert list(found) == ["tap-loja"]  # the inheriting plugin shares its parent's settings and variables
    plugin = found["tap-loja"]
    assert {s.name: s.input_type for s in plugin.settings} == {
        "password": "password", "user": "text", "region": "text", "page_size": "number", "verbose": "checkbox",
        "accounts": "json", "mode": "select", "keys": "password",
    }  # fmt: skip
    env = {"TAP_LOJA_USER": "from-dotenv", "TAP_LOJA_PASSWORD": "from-dotenv-password"}
    resolved = resolve(tmp_path, plugin, env, {"password": SECRET}, "dev")
    assert {n: (r.value, r.source) for n, r in resolved.items()} == {
        "password": (SECRET, "panel"), "user": ("from-dotenv", "env"), "region": ("sul", "plugin"),
        "page_size": (100, "default"), "verbose": (False, "default"), "accounts": (None, "unset"),
        "mode": (None, "unset"), "keys": (None, "unset"),
    }  # fmt: skip
    assert resolve(tmp_path, plugin, {}, {}, "dev")["password"].source == "environment"

    others = resolve(tmp_path, plugin, env, {}, "dev")
    form = {"v:password": "", "v:user": " ana ", "v:region": "", "v:page_size": "50", "v:accounts": '[{"name": "x"}]'}
    state = read_form(plugin, form, {"password": SECRET, "region": "leste"}, others)
    assert state.errors == {}
    assert state.panel == {"password": SECRET, "user": "ana", "page_size": "50", "accounts": '[{"name": "x"}]'}
    assert read_form(plugin, {"v:verbose": "true"}, {}, others).panel == {"verbose": "true"}  # changed: saved
    assert "verbose" not in read_form(plugin, {}, {}, others).panel  # as elsewhere: nothing copied in
    typed = {"v:accounts": '{"name": "x"}', "v:page_size": "muitos", "v:mode": "c", "v:keys": "{nope"}
    bad = read_form(plugin, typed, {}, others)
    assert set(bad.errors) == {"accounts", "page_size", "mode", "keys"}  # a sensitive JSON is checked too
    assert "{nope" not in bad.errors["keys"]


def test_a_run_gets_the_panel_values_over_the_services_environment_and_dotenv(tmp_path: Path) -> None:
    (tmp_path / "meltano.yml").write_text(PROJECT)
    (tmp_path / ".env").write_text("TAP_LOJA_PASSWORD=from-dotenv\nTAP_LOJA_USER=dotenv-user\n")
    settings = ServeSettings.read(tmp_path, {"TAP_LOJA_REGION": "from-environment"})
    manager = RunManager(settings, ADMIN_DSN, Tables("ponte"))
    saved = {env_name("tap-loja", "password"): SECRET, env_name("tap-loja", "region"): "centro"}
    env = manager.environment(RunStart(["tap-loja"], "manual"), None, saved)
    assert env["TAP_LOJA_PASSWORD"] == SECRET and env["TAP_LOJA_REGION"] == "centro"
    assert env["TAP_LOJA_USER"] == "dotenv-user"  # not saved in the panel: .env still applies


def test_the_webhook_intake_checks_signatures_with_the_bling_secret_saved_in_the_panel(
    schema: Tables, tmp_path: Path
) -> None:
    (tmp_path / "meltano.yml").write_text(
        "plugins:\n  extractors:\n    - name: tap-bling\n      settings:\n"
        "        - {name: client_secret, kind: string, sensitive: true}\n        - {name: accounts, kind: array}\n"
    )
    context = WebhookContext(dsn=ADMIN_DSN, schema=schema.schema, project=tmp_path, start_run=_never,
                             env={"TAP_BLING_CLIENT_SECRET": "segredo-do-ambiente"})  # fmt: skip
    body = b'{"eventId": "e1", "event": "stock.updated"}'
    assert verify(body, sign(body, "segredo-do-ambiente"), context.bling_settings.client_secrets)
    store = ConnectionSettings(ADMIN_DSN, schema, KEY)
    asyncio.run(store.save("tap-bling", {"client_secret": "segredo-salvo-no-painel"}, "operadora"))
    context.use_saved(asyncio.run(store.environment()))  # what the service does at start and after every save
    assert verify(body, sign(body, "segredo-salvo-no-painel"), context.bling_settings.client_secrets)
    assert not verify(body, sign(body, "segredo-do-ambiente"), context.bling_settings.client_secrets)


async def _never(start: RunStart) -> str:
    raise AssertionError("no run starts here")
