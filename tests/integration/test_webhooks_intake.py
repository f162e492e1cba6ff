"""Bling webhooks into `ponte serve`'s intake: real sockets (uvicorn in a thread), real PostgreSQL, events sent
by the Bling sandbox's sender with the real envelope and signature.

`start_run` is a recording fake here (the service's own tests start real runs); the run outcomes it reports
drive the retries. What is asserted is what a user sees: HTTP answers, rows of `webhook_events`, the runs that
were started with their PONTE_WEBHOOK_* variables, alerts, and `ponte webhooks list|replay`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from ponte.notify import Alert
from ponte.sandbox.bling.webhooks import WebhookSender, envelope, sign
from ponte.service.runs import RunStart
from ponte.service.webhooks import BlingSettings, WebhookContext
from ponte.service.webhooks.context import BlingAccount
from ponte.service.webhooks.standalone import ServerThread, build_app
from ponte.testing.cli import ponte_cli

PROJECT = Path(__file__).parents[2]
ADMIN_DSN = os.environ.get("PONTE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SECRET = "sandbox-client-secret"
MATRIZ, FILIAL = "4fccc0bec1a95e830960dd3bcf283093", "732ef63c0a67e485efcfeedfe06a4052"
RULES = """
version: 1
source: bling
coalesce_seconds: {window}
retry: {{max_attempts: 2, backoff_seconds: 0.2, max_backoff_seconds: 0.5}}
rules:
  - name: products
    events: [product.*]
    run: {{pipeline: [tap-bling, target-postgres], select: [produtos]}}
    ids: data.id
  - name: stock
    events: [stock.*]
    job: estoque-ainda-nao-declarado
    ids: data.produto.id
  - name: not-loaded
    events: [invoice.*]
    ignore: true
"""


class PipelineBusy(Exception):
    """As ponte serve's run manager raises it: the same pipeline is running."""


class UnknownPipeline(Exception):
    """As ponte serve's run manager raises it: a name is neither a job nor a plugin."""


@dataclass
class FakeRuns:
    """Records every RunStart; reports each run's outcome from `outcomes` (then `succeeded`)."""

    outcomes: list[str] = field(default_factory=list)
    start_errors: int = 0
    busy: int = 0
    unknown: bool = False
    started: list[tuple[str, RunStart]] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)

    async def start_run(self, start: RunStart) -> str:
        if self.unknown:
            raise UnknownPipeline("'tap-bling' is neither a job nor a plugin of the project")
        if self.busy:
            self.busy -= 1
            raise PipelineBusy("tap-bling target-postgres is running")
        if self.start_errors:
            self.start_errors -= 1
            raise RuntimeError("meltano is not installed")
        run_id = str(uuid.uuid4())
        self.started.append((run_id, start))
        outcome = self.outcomes.pop(0) if self.outcomes else "succeeded"
        if outcome != "no record":
            self.status[run_id] = outcome
        return run_id

    async def run_status(self, run_id: str) -> str | None:
        return self.status.get(run_id)

    def events_of_runs(self) -> list[str]:
        return [e for _, start in self.started for e in start.extra_env["PONTE_WEBHOOK_EVENTS"].split(",")]


@dataclass
class Intake:
    url: str
    schema: str
    runs: FakeRuns
    alerts: list[Alert]

    def rows(self, where: str = "true") -> list[dict[str, Any]]:
        with psycopg.connect(ADMIN_DSN) as conn:
            cursor = conn.execute(f'SELECT * FROM "{self.schema}".webhook_events WHERE {where} ORDER BY received_at')
            names = [c.name for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def sender(self, **switches: Any) -> WebhookSender:
        return WebhookSender(f"{self.url}/webhooks/bling", SECRET, [MATRIZ, FILIAL], **switches)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        """The processor works in the background: poll what the user would look at until it holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.rows()}"
            time.sleep(0.05)


@pytest.fixture
def intake_factory(pg_schema: str, tmp_path: Path) -> Iterator[Callable[..., Intake]]:
    servers: list[ServerThread] = []

    def start(runs: FakeRuns | None = None, window: float = 0.3, **values: Any) -> Intake:
        runs = runs or FakeRuns()
        rules = tmp_path / "webhooks" / "bling.yml"
        rules.parent.mkdir(exist_ok=True)
        rules.write_text(RULES.format(window=window), encoding="utf-8")
        alerts: list[Alert] = []
        values.setdefault("bling", BlingSettings(client_secrets=(SECRET,)))
        ctx = WebhookContext(dsn=ADMIN_DSN, project=PROJECT, start_run=runs.start_run, schema=pg_schema,
                             notify=alerts.append, rules_path=rules, poll_seconds=0.05, run_status=runs.run_status,
                             company_table="", **values)  # fmt: skip
        server = ServerThread(build_app(ctx)).__enter__()
        servers.append(server)
        return Intake(server.url, pg_schema, runs, alerts)

    yield start
    for server in servers:
        server.__exit__()


def test_a_signed_event_is_stored_and_starts_an_incremental_run_of_its_streams(intake_factory) -> None:
    intake = intake_factory()
    sender = intake.sender()
    event = envelope("product.updated", MATRIZ, {"id": 16698952209, "nome": "Caneca", "codigo": "CAN-1"})

    delivery = sender.post(event)

    assert delivery.status == 200
    [row] = intake.rows()
    assert (row["event_id"], row["event"], row["company_id"]) == (event["eventId"], "product.updated", MATRIZ)
    assert row["payload"] == event
    intake.wait(lambda: intake.rows()[0]["status"] == "done", "the event to be done")
    [(run_id, start)] = intake.runs.started
    assert (start.pipeline, start.trigger, start.select) == (["tap-bling", "target-postgres"], "webhook", ("produtos",))
    assert start.extra_env["PONTE_WEBHOOK_IDS"] == "16698952209"
    assert start.extra_env["PONTE_WEBHOOK_EVENTS"] == event["eventId"]
    assert intake.rows()[0]["run_id"] == run_id


def test_forged_and_missing_signatures_are_refused_every_time_and_logged_without_the_body(
    intake_factory, caplog
) -> None:
    intake = intake_factory()
    sender = intake.sender()
    caplog.set_level(logging.WARNING, logger="ponte.service.webhooks")
    answers = []
    for n in range(60):
        event = envelope("product.updated", MATRIZ, {"id": n, "nome": "SEGREDO-DO-CORPO"})
        body = json.dumps(event).encode()
        if n % 3 == 0:
            answers.append(sender.post(event, signature=sign(body, "another-apps-secret")).status)
        elif n % 3 == 1:
            answers.append(sender.post(event, body=body, signature=sign(body + b" ", SECRET)).status)  # tampered
        else:
            answers.append(requests.post(f"{intake.url}/webhooks/bling", data=body,
                                         headers={"Content-Type": "application/json"}, timeout=5).status_code)  # fmt: skip
    assert answers == [401] * 60
    assert intake.rows() == []
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 60 and sum("missing signature" in m for m in refused) == 20
    assert not any("SEGREDO" in r.getMessage() for r in caplog.records)


def test_oversized_bodies_other_content_types_and_envelopes_without_event_id_are_refused(intake_factory) -> None:
    intake = intake_factory(max_body_bytes=2048)
    url = f"{intake.url}/webhooks/bling"

    def post(body: bytes, content_type: str = "application/json") -> int:
        headers = {"Content-Type": content_type, "X-Bling-Signature-256": sign(body, SECRET)}
        return requests.post(url, data=body, headers=headers, timeout=5).status_code

    big = json.dumps(envelope("product.updated", MATRIZ, {"id": 1, "descricaoComplementar": "x" * 4000})).encode()
    good = json.dumps(envelope("product.updated", MATRIZ, {"id": 1})).encode()
    assert post(big) == 413
    assert post(good, "text/plain") == 415
    assert post(b"{not json") == 400
    assert post(json.dumps({"event": "product.updated", "data": {}}).encode()) == 400
    assert post(good, "application/json; charset=utf-8") == 200
    assert len(intake.rows()) == 1


def test_duplicates_and_out_of_order_deliveries_are_processed_once_each(intake_factory) -> None:
    intake = intake_factory()
    sender = intake.sender(duplicate_rate=0.5, reorder_window=8, seed=7)
    events = sender.events(40, kinds=("product.updated", "product.created"))

    result = sender.send_burst(events, workers=8)

    assert all(d.status == 200 for d in result.deliveries) and len(result.deliveries) > 50  # duplicates were sent
    rows = intake.rows()
    assert sorted(r["event_id"] for r in rows) == sorted(e["eventId"] for e in events)
    assert sum(r["deliveries"] for r in rows) == len(result.deliveries)
    intake.wait(lambda: all(r["status"] == "done" for r in intake.rows()), "every event to be done")
    started = intake.runs.events_of_runs()
    assert sorted(started) == sorted(e["eventId"] for e in events)  # each event in exactly one run


def test_a_burst_for_one_account_starts_one_run_with_every_id(intake_factory) -> None:
    intake = intake_factory(window=1.5)
    sender = intake.sender()
    events = sender.events(25, companies=[MATRIZ], ids=list(range(1000, 1025)))

    sender.send_burst(events, workers=8)

    intake.wait(lambda: all(r["status"] == "done" for r in intake.rows()), "the burst to be done")
    [(_, start)] = intake.runs.started
    assert start.extra_env["PONTE_WEBHOOK_IDS"] == ",".join(str(i) for i in range(1000, 1025))
    assert start.extra_env["PONTE_WEBHOOK_COMPANY_ID"] == MATRIZ


def test_company_id_names_the_account_and_the_run_reads_only_that_account(intake_factory) -> None:
    accounts = ({"name": "loja-matriz", "company_id": MATRIZ}, {"name": "loja-filial"})
    bling = BlingSettings((SECRET,), (BlingAccount("loja-matriz", MATRIZ), BlingAccount("loja-filial")), accounts)
    intake = intake_factory(bling=bling)
    sender = intake.sender()
    sender.post(envelope("product.updated", MATRIZ, {"id": 5}))

    intake.wait(lambda: [r["status"] for r in intake.rows()] == ["done"], "the event to be done")
    [(_, start)] = intake.runs.started
    assert start.extra_env["PONTE_WEBHOOK_ACCOUNT"] == "loja-matriz"
    assert json.loads(start.extra_env["TAP_BLING_ACCOUNTS"]) == [{"name": "loja-matriz", "company_id": MATRIZ}]
    assert intake.rows()[0]["account"] == "loja-matriz"


def test_the_landed_empresa_table_maps_a_company_id_to_its_account(pg_schema: str, tmp_path: Path) -> None:
    runs = FakeRuns()
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:  # as tap-bling's empresa stream lands it
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg_schema}"')
        conn.execute(f'CREATE TABLE "{pg_schema}".empresa (conta text, id text, nome text)')
        conn.execute(f"INSERT INTO \"{pg_schema}\".empresa VALUES ('loja-filial', '{FILIAL}', 'Filial')")
    rules = tmp_path / "bling.yml"
    rules.write_text(RULES.format(window=0.2), encoding="utf-8")
    ctx = WebhookContext(dsn=ADMIN_DSN, project=PROJECT, start_run=runs.start_run, schema=pg_schema, rules_path=rules,
                         poll_seconds=0.05, run_status=runs.run_status, company_table=f"{pg_schema}.empresa",
                         bling=BlingSettings(client_secrets=(SECRET,)))  # fmt: skip
    with ServerThread(build_app(ctx)) as server:
        intake = Intake(server.url, pg_schema, runs, [])
        intake.sender().post(envelope("product.deleted", FILIAL, {"id": 9}))
        intake.wait(lambda: [r["status"] for r in intake.rows()] == ["done"], "the event to be done")
    [(_, start)] = runs.started
    assert start.extra_env["PONTE_WEBHOOK_ACCOUNT"] == "loja-filial"
    assert intake.rows()[0]["account"] == "loja-filial"


def test_a_run_that_fails_every_try_fails_its_events_alerts_once_and_replays(intake_factory, pg_schema: str) -> None:
    intake = intake_factory(FakeRuns(outcomes=["failed", "stopped-quota"]))
    event = envelope("product.updated", MATRIZ, {"id": 77})
    intake.sender().post(event)

    intake.wait(lambda: intake.rows()[0]["status"] == "failed", "the event to fail")
    row = intake.rows()[0]
    assert row["attempts"] == 2 and "ended stopped-quota" in row["error"]
    assert len(intake.runs.started) == 2
    [alert] = intake.alerts
    assert alert.details["events"] == [event["eventId"]] and "replay" in " ".join(alert.actions or [])

    listed = ponte_cli("webhooks", "list", "--dsn", ADMIN_DSN, "--schema", pg_schema, "--status", "failed")
    assert listed.returncode == 0 and event["eventId"] in listed.stdout and "stopped-quota" in listed.stdout
    replayed = ponte_cli("webhooks", "replay", "--dsn", ADMIN_DSN, "--schema", pg_schema, "--failed")
    assert replayed.returncode == 0, replayed.stderr

    intake.wait(lambda: intake.rows()[0]["status"] == "done", "the replayed event to be done")
    assert len(intake.runs.started) == 3 and len(intake.alerts) == 1


def test_a_run_that_cannot_start_is_tried_again(intake_factory) -> None:
    intake = intake_factory(FakeRuns(start_errors=1))
    intake.sender().post(envelope("product.created", FILIAL, {"id": 3}))

    intake.wait(lambda: intake.rows()[0]["status"] == "done", "the event to be done")
    assert intake.rows()[0]["attempts"] == 2 and len(intake.runs.started) == 1


def test_a_busy_pipeline_is_waited_for_without_spending_a_try(intake_factory) -> None:
    intake = intake_factory(FakeRuns(busy=3), busy_retry_seconds=0.1)
    intake.sender().post(envelope("product.updated", MATRIZ, {"id": 4}))

    intake.wait(lambda: intake.rows()[0]["status"] == "done", "the event to be done")
    assert intake.rows()[0]["attempts"] == 1 and len(intake.runs.started) == 1


def test_a_pipeline_the_project_does_not_have_skips_its_events(intake_factory) -> None:
    intake = intake_factory(FakeRuns(unknown=True))
    intake.sender().post(envelope("product.updated", MATRIZ, {"id": 4}))

    intake.wait(lambda: intake.rows()[0]["status"] == "skipped", "the event to be skipped")
    assert "neither a job nor a plugin" in intake.rows()[0]["error"] and intake.alerts == []


def test_a_run_that_never_reports_an_outcome_counts_as_failed_after_the_timeout(intake_factory) -> None:
    intake = intake_factory(FakeRuns(outcomes=["no record", "no record"]), run_timeout_seconds=0.3)
    intake.sender().post(envelope("product.updated", MATRIZ, {"id": 8}))

    intake.wait(lambda: intake.rows()[0]["status"] == "failed", "the event to fail")
    assert "reported no outcome" in intake.rows()[0]["error"] and len(intake.runs.started) == 2


def test_an_event_the_database_cannot_take_is_answered_503_so_bling_delivers_it_again(intake_factory) -> None:
    intake = intake_factory()
    sender = intake.sender()
    assert sender.post(envelope("product.updated", MATRIZ, {"id": 1})).status == 200
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{intake.schema}".webhook_events RENAME TO webhook_events_away')
    try:
        assert sender.post(envelope("product.updated", MATRIZ, {"id": 2})).status == 503
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'ALTER TABLE "{intake.schema}".webhook_events_away RENAME TO webhook_events')
    assert sender.post(envelope("product.updated", MATRIZ, {"id": 3})).status == 200


def test_a_job_the_project_does_not_declare_yet_skips_its_events_with_a_warning(intake_factory, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ponte.service.webhooks")
    intake = intake_factory()
    sender = intake.sender()
    stock = sender.events(1, kinds=("stock.updated",))[0]
    invoice = sender.events(1, kinds=("invoice.created",))[0]
    unknown = envelope("product_supplier.updated", MATRIZ, {"id": 1})
    for event in (stock, invoice, unknown):
        assert sender.post(event).status == 200

    intake.wait(lambda: all(r["status"] in ("skipped", "ignored") for r in intake.rows()), "the events to settle")
    status = {r["event"]: (r["status"], r["error"]) for r in intake.rows()}
    assert status["stock.updated"][0] == "skipped" and "estoque-ainda-nao-declarado" in status["stock.updated"][1]
    assert status["invoice.created"] == ("ignored", None)
    assert status["product_supplier.updated"][0] == "skipped" and "no rule" in status["product_supplier.updated"][1]
    assert intake.runs.started == []
    assert any("estoque-ainda-nao-declarado" in r.getMessage() for r in caplog.records)


def test_fifty_events_a_second_for_two_seconds_are_all_stored_once(intake_factory) -> None:
    """The functional half of the acceptance (bench/webhook_intake.py measures the latency)."""
    intake = intake_factory()
    sender = intake.sender(duplicate_rate=0.1)
    events = sender.events(100, kinds=("product.updated", "stock.updated", "order.created"))

    result = sender.send_burst(events, rate=50)

    assert result.given_up == [] and all(d.status == 200 for d in result.deliveries)
    rows = intake.rows()
    assert len(rows) == 100 and {r["event_id"] for r in rows} == {e["eventId"] for e in events}


def test_the_sandbox_retries_a_delivery_the_receiver_did_not_take(intake_factory) -> None:
    """Bling retries at growing intervals until a 2xx (here 60 s, 120 s … scaled down 6000 times)."""
    intake = intake_factory()
    waits: list[float] = []
    sender = WebhookSender(f"{intake.url}/webhooks/bling", "a-secret-not-yet-configured", [MATRIZ],
                           sleep=waits.append, time_scale=6000.0, retry_horizon_seconds=600.0)  # fmt: skip
    attempts = sender.deliver(sender.events(1)[0])

    assert [a.status for a in attempts] == [401] * 4  # 60 + 120 + 240 = 420 s of retries fit the 600 s horizon
    assert waits == [0.01, 0.02, 0.04]
