"""webhooks/bling.yml: checked by `ponte validate` like every declaration, and read the way the processor uses it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ponte.core.errors import ConfigError
from ponte.service.webhooks.context import BlingSettings, WebhookContext
from ponte.service.webhooks.rules import Retry, declared_jobs, load_rules
from ponte.testing.cli import ponte_cli

ROOT = Path(__file__).parents[2]
GOOD = textwrap.dedent(
    """\
    version: 1
    source: bling
    rules:
      - name: products
        events: [product.*]
        run: {pipeline: [tap-bling, target-postgres], select: [produtos]}
        ids: data.id
      - name: everything-else
        events: ["*"]
        ignore: true
    """
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "webhooks" / "bling.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_rules_validate_and_send_stock_events_to_the_stock_sync_job() -> None:
    done = ponte_cli("validate", str(ROOT / "webhooks" / "bling.yml"))
    assert done.returncode == 0, done.stderr
    rules = load_rules(ROOT / "webhooks" / "bling.yml")
    assert rules.match("virtual_stock.updated").job == "bling-stock-sync"
    assert rules.match("product.deleted").select == ("produtos",)
    assert rules.match("invoice.created").ignore and rules.match("unknown.thing") is None


def test_stock_events_start_the_sync_only_for_principal_deposits_and_never_for_our_own_postings() -> None:
    """A sale moves a principal deposit: the sync runs. Our postings move shared deposits, and Bling sends their
    stock events too: they start nothing (no loop). A virtual_stock event that names no deposits (vinculoComplexo)
    runs the sync, which reads the balances through the API; one that names them repeats a stock event."""
    rules = load_rules(ROOT / "webhooks" / "bling.yml")
    env = {"BLING_SYNC_PRINCIPAL": '[{"conta": "matriz", "deposito": 1}, {"conta": "filial", "deposito": 2}]'}

    def stock(deposit: int) -> dict[str, object]:
        return {"event": "stock.updated", "data": {"produto": {"id": 7}, "deposito": {"id": deposit, "saldoFisico": 3}}}

    def rule(event: str, envelope: dict[str, object], account: str) -> str | None:
        found = rules.match(event, envelope, account, env)
        return found.name if found else None

    assert rule("stock.updated", stock(1), "matriz") == "stock"
    assert rules.match("stock.updated", stock(1), "matriz", env).ids_of(stock(1)) == ["7"]
    assert rule("stock.created", stock(2), "filial") == "stock"
    assert rule("stock.updated", stock(10), "matriz") == "stock-not-principal"  # a shared deposit: our echo
    assert rule("stock.updated", stock(2), "matriz") == "stock-not-principal"  # deposit 2 is principal in filial only
    assert rules.match("stock.updated", stock(10), "matriz", env).ignore
    complex_ = {"data": {"produto": {"id": 7}, "vinculoComplexo": True}}
    listed = {"data": {"produto": {"id": 7}, "vinculoComplexo": False, "depositos": [{"id": 1}]}}
    assert rule("virtual_stock.updated", complex_, "matriz") == "stock-complex"
    assert rule("virtual_stock.updated", listed, "matriz") == "stock-not-principal"
    assert rules.by_name("stock").echo is not None  # a principal deposit posted to by the sync: its echo ignored


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("run: {pipeline", "job: x\n    run: {pipeline"), "rules.0: expected a rule with exactly one of run"),
        (
            ("events: [product.*]", "events: [Product Updated]"),
            "rules.0.events.0: 'Product Updated' is not an event name",
        ),
        (("ids: data.id", "ids: data..id"), "rules.0.ids: 'data..id' is not a dotted path"),
        (("name: everything-else", "name: products"), "rule name 'products' is used twice"),
    ],
)
def test_mistakes_are_reported_with_their_place(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    done = ponte_cli("validate", str(path))
    assert done.returncode == 2 and message in done.stderr and "bling.yml:" in done.stderr, done.stderr


def test_a_rule_after_the_catch_all_is_reported_as_never_used(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "  - name: late\n    events: [order.*]\n    ignore: true\n")
    done = ponte_cli("validate", str(path))
    assert done.returncode == 2 and "rule 'late' is never used" in done.stderr


def test_ids_path_first_match_and_retry_delays(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, GOOD))
    products = rules.match("product.updated")
    assert products.ids_of({"data": {"id": 16698952209}}) == ["16698952209"]
    assert products.ids_of({"data": {}}) == [] and products.ids_of({"data": {"id": True}}) == []
    assert rules.match("order.created").name == "everything-else"
    assert [Retry(5, 30, 900).delay(n) for n in (1, 2, 3, 6)] == [30, 60, 120, 900]


def test_signing_keys_come_from_the_app_secret_and_each_accounts_own_app() -> None:
    settings = BlingSettings.read({
        "TAP_BLING_CLIENT_SECRET": "app",
        "TAP_BLING_ACCOUNTS": '[{"name": "a", "company_id": "c1"}, {"name": "b", "client_secret": "own"}]',
    })  # fmt: skip
    assert settings.client_secrets == ("app", "own")
    assert [(a.name, a.company_id) for a in settings.accounts] == [("a", "c1"), ("b", None)]
    with pytest.raises(ConfigError, match="TAP_BLING_ACCOUNTS"):
        BlingSettings.read({"TAP_BLING_ACCOUNTS": "{not json"})


def test_declared_jobs_include_the_included_files() -> None:
    jobs = declared_jobs(ROOT)
    assert {"bling-products-to-retailportal", "bling-stock-sync"} <= jobs  # both from meltano/*.meltano.yml


def test_a_context_built_as_ponte_serve_builds_it_reads_its_settings_from_the_environment_and_dotenv(
    tmp_path: Path,
) -> None:
    async def start_run(start: object) -> str:
        return "run"

    (tmp_path / ".env").write_text("PONTE_WEBHOOK_LEASE_SECONDS=7\nTAP_BLING_CLIENT_SECRET=from-dotenv\n")
    env = {
        "PONTE_WEBHOOK_MAX_BODY_BYTES": "1000",
        "PONTE_WEBHOOK_COMPANY_TABLE": "none",
        "PONTE_WEBHOOK_RULES": "r.yml",
    }
    ctx = WebhookContext(dsn="host=x", project=tmp_path, start_run=start_run, env=env)
    assert (ctx.max_body_bytes, ctx.lease_seconds, ctx.company_table) == (1000, 7.0, "")
    assert ctx.rules_file == tmp_path / "r.yml" and ctx.bling_settings.client_secrets == ("from-dotenv",)
    shipped = WebhookContext(dsn="host=x", project=tmp_path, start_run=start_run, env={"TAP_BLING_CLIENT_SECRET": "s"})
    assert shipped.company_table == "bling.empresa" and shipped.rules_file.name == "bling.yml"
    with pytest.raises(ConfigError, match="PONTE_WEBHOOK_LEASE_SECONDS"):
        WebhookContext(dsn="host=x", project=tmp_path, start_run=start_run, env={"PONTE_WEBHOOK_LEASE_SECONDS": "soon"})
