"""The Sienge sandbox over real sockets: what a client of the real API would see (docs/api-facts-sienge.md)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import requests
from click.testing import CliRunner
from ruamel.yaml import YAML

from ponte.sandbox import RunningSandbox, run_in_thread
from ponte.sandbox.cli import sandbox as sandbox_cli
from ponte.sandbox.sienge import catalog, customers
from ponte.sandbox.sienge.app import SiengeApp

AUTH = ("demo-api", "demo-secret")
REPO = Path(__file__).resolve().parents[2]
TAP_SPEC = YAML(typ="safe", pure=True).load((REPO / "taps" / "sienge.yml").read_text(encoding="utf-8"))


@pytest.fixture
def sienge() -> Iterator[RunningSandbox]:
    """1200 customers, no rate limit unless a test sets one."""
    with run_in_thread(SiengeApp(records=1200, switches={"rate_limit": 0})) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = AUTH
        yield session


def get(session: requests.Session, running: RunningSandbox, path: str, **params: Any) -> requests.Response:
    return session.get(running.base_url + path, params=params, timeout=10)


def all_pages(session: requests.Session, running: RunningSandbox, path: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        body = get(session, running, path, limit=200, offset=len(rows), **params).json()
        rows.extend(body["results"])
        if not body["results"] or len(rows) >= body["resultSetMetadata"]["count"]:
            return rows


def cpf_ok(doc: str) -> bool:
    """Independent CPF check (mod 11 over weights 10..2 and 11..2)."""
    digits = [int(c) for c in doc]
    for n in (9, 10):
        rest = sum(d * w for d, w in zip(digits[:n], range(n + 1, 1, -1), strict=True)) * 10 % 11
        if rest % 10 != digits[n]:
            return False
    return len(doc) == 11


def cnpj_ok(doc: str) -> bool:
    """Independent CNPJ check."""
    digits = [int(c) for c in doc]
    weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for n in (12, 13):
        rest = sum(d * w for d, w in zip(digits[:n], weights[13 - n :], strict=True)) % 11
        if (0 if rest < 2 else 11 - rest) != digits[n]:
            return False
    return len(doc) == 14


# --- auth, grants, routes -------------------------------------------------------------------------------------
def test_missing_or_wrong_credentials_get_401_with_basic_challenge(sienge: RunningSandbox) -> None:
    for auth in (None, ("demo-api", "wrong"), ("someone", "demo-secret")):
        response = requests.get(sienge.base_url + "/customers", auth=auth, timeout=10)
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized"}
        assert response.headers["WWW-Authenticate"] == 'Basic realm="sienge"'
    sienge.configure(auth_style="kong")
    wrong = requests.get(sienge.base_url + "/customers", auth=("demo-api", "x"), timeout=10)
    assert wrong.json() == {"message": "Invalid authentication credentials"}


def test_resource_not_granted_gets_403_permission_denied(sienge: RunningSandbox, http: requests.Session) -> None:
    sienge.configure(deny=["/units", "/cost-databases"])
    denied = get(http, sienge, "/units", limit=1)
    assert denied.status_code == 403
    assert denied.content == b'{"message":"Permission denied"}'
    assert get(http, sienge, "/cost-databases/1/resources").status_code == 403
    assert get(http, sienge, "/companies").status_code == 200


def test_unknown_routes_and_subdomains_get_an_html_404(sienge: RunningSandbox, http: requests.Session) -> None:
    for url in (sienge.base_url + "/bank-movement", sienge.url + "/other/public/api/v1/customers", sienge.url + "/"):
        response = http.get(url, timeout=10)
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("text/html")
        assert "<html>" in response.text


def test_unknown_cost_database_gets_404_json(sienge: RunningSandbox, http: requests.Session) -> None:
    response = get(http, sienge, "/cost-databases/999/resources")
    assert response.status_code == 404
    assert response.json()["status"] == 404 and "999" in response.json()["clientMessage"]


def test_every_stream_path_of_the_tap_is_served(sienge: RunningSandbox, http: requests.Session) -> None:
    for stream in TAP_SPEC["streams"]:
        path = stream["path"].replace("{{ parent.id }}", "1")
        response = get(http, sienge, path, **(stream.get("params") or {}))
        assert response.status_code == 200, (stream["name"], response.status_code)
        body = response.json()
        rows = body if stream.get("record_selector") == "$" else body["results"]
        assert rows, stream["name"]


# --- envelope and paging --------------------------------------------------------------------------------------
def test_envelope_counts_the_whole_query_and_pages_cover_it_once(
    sienge: RunningSandbox, http: requests.Session
) -> None:
    first = get(http, sienge, "/customers").json()
    assert first["resultSetMetadata"] == {"count": 1200, "offset": 0, "limit": 100}
    assert len(first["results"]) == 100
    ids = [row["id"] for row in all_pages(http, sienge, "/customers")]
    assert len(ids) == len(set(ids)) == 1200
    past_end = get(http, sienge, "/customers", offset=1200, limit=50)
    assert past_end.status_code == 200
    assert past_end.json() == {"resultSetMetadata": {"count": 1200, "offset": 1200, "limit": 50}, "results": []}


def test_limit_over_200_is_a_400_unless_clamped(sienge: RunningSandbox, http: requests.Session) -> None:
    for bad in ("201", "0", "abc"):
        response = get(http, sienge, "/customers", limit=bad)
        assert response.status_code == 400
        assert set(response.json()) == {"status", "developerMessage", "clientMessage"}
    sienge.configure(limit_over_max="clamp")
    clamped = get(http, sienge, "/customers", limit=500).json()
    assert clamped["resultSetMetadata"]["limit"] == 200 and len(clamped["results"]) == 200
    sienge.configure(max_limit=50)  # test knob: smaller pages without more data
    small = get(http, sienge, "/customers", limit=200, offset=30).json()
    assert small["resultSetMetadata"] == {"count": 1200, "offset": 30, "limit": 50} and len(small["results"]) == 50


def test_payment_categories_is_a_bare_array_with_string_ids(sienge: RunningSandbox, http: requests.Session) -> None:
    body = get(http, sienge, "/payment-categories", limit=1).json()
    assert isinstance(body, list) and len(body) > 1
    assert all(isinstance(row["id"], str) and row["tpConta"] in ("T", "R") for row in body)


def test_customers_are_listed_newest_first(sienge: RunningSandbox, http: requests.Session) -> None:
    rows = all_pages(http, sienge, "/customers")
    ids = [row["id"] for row in rows]
    assert ids == sorted(ids, reverse=True) and ids[0] == 1200
    created = [row["createdAt"] for row in rows]
    assert created == sorted(created, reverse=True)
    assert created[0] <= "2026-06-30" and created[-1] >= "2014-01-01"


def test_modified_after_is_day_granular_and_inclusive(sienge: RunningSandbox, http: requests.Session) -> None:
    everyone = all_pages(http, sienge, "/customers")
    day = "2025-09-10"
    filtered = all_pages(http, sienge, "/customers", modifiedAfter=day)
    assert [r["id"] for r in filtered] == [r["id"] for r in everyone if r["modifiedAt"] >= day]
    assert any(r["modifiedAt"] != r["createdAt"] for r in filtered), "some old customers were modified later"
    between = all_pages(http, sienge, "/customers", modifiedAfter="2024-01-01", modifiedBefore="2024-12-31")
    assert [r["id"] for r in between] == [r["id"] for r in everyone if "2024-01-01" <= r["modifiedAt"] <= "2024-12-31"]
    sienge.configure(modified_after_inclusive=False)
    exclusive = all_pages(http, sienge, "/customers", modifiedAfter=day)
    assert [r["id"] for r in exclusive] == [r["id"] for r in everyone if r["modifiedAt"] > day]
    assert get(http, sienge, "/customers", modifiedAfter="10/09/2025").status_code == 400


def test_documents_have_valid_check_digits_and_filter_by_number(sienge: RunningSandbox, http: requests.Session) -> None:
    rows = all_pages(http, sienge, "/customers")
    cpfs = [r["cpf"] for r in rows if r["personType"] == "Física"]
    cnpjs = [r["cnpj"] for r in rows if r["personType"] == "Jurídica"]
    assert cpfs and cnpjs and all(map(cpf_ok, cpfs)) and all(map(cnpj_ok, cnpjs))
    creditors = all_pages(http, sienge, "/creditors")
    assert all(cpf_ok(c["cpf"]) for c in creditors if c["cpf"])
    assert all(cnpj_ok(c["cnpj"]) for c in creditors if c["cnpj"])
    assert all(cnpj_ok(c["cnpj"]) for c in get(http, sienge, "/companies").json()["results"])
    found = get(http, sienge, "/customers", cpf=cpfs[7]).json()
    assert [r["cpf"] for r in found["results"]] == [cpfs[7]]
    assert get(http, sienge, "/customers", cnpj=cnpjs[0]).json()["results"][0]["cnpj"] == cnpjs[0]
    assert get(http, sienge, "/customers", cpf="12345678909").json()["resultSetMetadata"]["count"] == 0


def test_city_ids_are_ibge_codes_of_their_state(sienge: RunningSandbox, http: requests.Session) -> None:
    cities = get(http, sienge, "/cities", limit=200).json()["results"]
    assert all(str(c["id"]).startswith(str(c["state"]["id"])) and len(c["state"]["code"]) == 2 for c in cities)
    known = {c["id"] for c in cities}
    customers = get(http, sienge, "/customers", limit=200).json()["results"]
    assert {a["cityId"] for c in customers for a in c["addresses"]} <= known


def test_sales_contracts_newest_first_with_modified_filter(sienge: RunningSandbox, http: requests.Session) -> None:
    rows = all_pages(http, sienge, "/sales-contracts")
    assert len(rows) == 240 and [r["id"] for r in rows] == list(range(240, 0, -1))
    assert isinstance(rows[0]["salesContractCustomers"], dict)
    recent = get(http, sienge, "/sales-contracts", modifiedAfter="2026-01-01").json()["resultSetMetadata"]["count"]
    assert 0 < recent < 240
    sienge.configure(sales_contract_lists=True)
    listed = get(http, sienge, "/sales-contracts", limit=1).json()["results"][0]
    assert isinstance(listed["salesContractCustomers"], list) and isinstance(
        listed["salesContractCustomers"][0]["name"], str
    )


# --- admin changes to the data ------------------------------------------------------------------------------
def test_touched_customers_are_found_by_modified_after(sienge: RunningSandbox, http: requests.Session) -> None:
    touched = http.post(
        sienge.url + "/_sandbox/sienge/customers/touch", json={"ids": [3, 700], "modified_at": "2026-07-02T10:00:00"}
    )
    assert touched.status_code == 200
    rows = get(http, sienge, "/customers", modifiedAfter="2026-07-02").json()["results"]
    assert [(r["id"], r["modifiedAt"]) for r in rows] == [(700, "2026-07-02"), (3, "2026-07-02")]
    assert http.post(sienge.url + "/_sandbox/sienge/customers/touch", json={"ids": [99999]}).status_code == 400


def test_inserted_customers_come_first_with_the_sandbox_clock(sienge: RunningSandbox, http: requests.Session) -> None:
    sienge.configure(now="2026-07-05T09:30:00-03:00", customer_date_format="datetime")
    inserted = http.post(sienge.url + "/_sandbox/sienge/customers/insert", json={"count": 2}).json()
    assert inserted == {"ids": [1201, 1202], "total": 1202}
    body = get(http, sienge, "/customers", limit=3).json()
    assert body["resultSetMetadata"]["count"] == 1202
    assert [r["id"] for r in body["results"]] == [1202, 1201, 1200]
    assert body["results"][0]["modifiedAt"] == "2026-07-05T09:30:00.000-03:00"


def test_insert_scenario_shifts_newest_first_pages(sienge: RunningSandbox, http: requests.Session) -> None:
    sienge.configure(insert_customers_after_requests={"after": 2, "count": 3})
    page1 = get(http, sienge, "/customers", limit=200, offset=0).json()
    page2 = get(http, sienge, "/customers", limit=200, offset=200).json()
    assert page1["resultSetMetadata"]["count"] == 1200 and page2["resultSetMetadata"]["count"] == 1203
    assert [r["id"] for r in page2["results"][:3]] == [r["id"] for r in page1["results"][-3:]]


# --- gateway: rate limits, quota, faults --------------------------------------------------------------------
def test_over_the_rate_limit_gets_429_with_retry_after(sienge: RunningSandbox, http: requests.Session) -> None:
    sienge.configure(rate_limit=3, rate_window_seconds=1)
    answers = [get(http, sienge, "/companies") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining-Minute"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["RateLimit-Limit"] == a.headers["X-RateLimit-Limit-Minute"] == "3" for a in answers)
    limited = answers[-1]
    assert limited.json() == {"message": "API rate limit exceeded"}
    assert int(limited.headers["Retry-After"]) >= 1 and int(limited.headers["RateLimit-Reset"]) >= 1
    assert sienge.stats()["rate_limited"] == 1
    sienge.configure(retry_after_header=False)
    assert "Retry-After" not in get(http, sienge, "/companies").headers
    sienge.reset_limits()
    sienge.configure(rate_headers=False)
    quiet = [get(http, sienge, "/companies") for _ in range(4)]
    assert [a.status_code for a in quiet] == [200, 200, 200, 429]
    assert not any("RateLimit-Remaining" in a.headers for a in quiet[:3])
    assert quiet[3].headers["RateLimit-Remaining"] == "0"


def test_daily_quota_blocks_or_only_counts(sienge: RunningSandbox, http: requests.Session) -> None:
    sienge.configure(daily_quota=2)
    answers = [get(http, sienge, "/companies") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining-Day"] for a in answers] == ["1", "0", "0"]
    assert answers[0].headers["X-RateLimit-Limit-Day"] == "2"
    sienge.configure(quota_blocking=False)
    over = get(http, sienge, "/companies")
    assert over.status_code == 200 and over.headers["X-RateLimit-Remaining-Day"] == "0"
    sienge.configure(quota_blocking=True, now="2026-07-02T08:00:00-03:00")  # a new sandbox day
    assert get(http, sienge, "/companies").headers["X-RateLimit-Remaining-Day"] == "1"


def test_fail_next_answers_503_then_recovers(sienge: RunningSandbox, http: requests.Session) -> None:
    sienge.configure(fail_next=2)
    statuses = [get(http, sienge, "/companies").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [e["status"] for e in sienge.requests()] == [503, 503, 200]


def test_bad_json_and_dropped_connections(sienge: RunningSandbox, http: requests.Session) -> None:
    sienge.configure(bad_json_next=1)
    broken = get(http, sienge, "/companies")
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        orjson.loads(broken.content)
    assert get(http, sienge, "/companies").json()["results"]
    sienge.configure(drop_next=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(sienge.base_url + "/companies", auth=AUTH, timeout=10)
    assert get(http, sienge, "/companies").status_code == 200
    stats = sienge.stats()
    assert stats["bad_json"] == 1 and stats["dropped"] == 1


def test_random_faults_are_reproducible_with_the_seed() -> None:
    def statuses() -> list[int]:
        app = SiengeApp(records=10, seed=7, switches={"rate_limit": 0, "fail_rate": 0.5})
        with run_in_thread(app) as running, requests.Session() as session:
            return [session.get(running.base_url + "/companies", auth=AUTH, timeout=10).status_code for _ in range(20)]

    first = statuses()
    assert first == statuses() and {200, 503} == set(first)


# --- admin endpoints ----------------------------------------------------------------------------------------
def test_request_log_config_and_stats_endpoints(sienge: RunningSandbox, http: requests.Session) -> None:
    get(http, sienge, "/customers", limit=5, modifiedAfter="2026-01-01")
    log = http.get(sienge.url + "/_sandbox/requests").json()
    assert len(log) == 1
    entry = log[0]
    assert entry["method"] == "GET" and entry["path"] == "/demo/public/api/v1/customers"
    assert entry["query"] == {"limit": "5", "modifiedAfter": "2026-01-01"} and entry["status"] == 200
    assert "Authorization" not in entry["headers"] and entry["timestamp"]
    assert http.get(sienge.url + "/_sandbox/health").json()["status"] == "ok"
    stats = http.get(sienge.url + "/_sandbox/stats").json()
    assert stats["requests"] == 1 and stats["first_request_at"] and stats["last_request_at"]
    assert http.post(sienge.url + "/_sandbox/reset-log").status_code == 200
    assert http.get(sienge.url + "/_sandbox/requests").json() == []
    assert http.post(sienge.url + "/_sandbox/config", json={"latency_ms": 5}).json()["latency_ms"] == 5
    assert http.get(sienge.url + "/_sandbox/config").json()["latency_ms"] == 5
    assert http.post(sienge.url + "/_sandbox/config", json={"no_such_switch": 1}).status_code == 400
    assert http.post(sienge.url + "/_sandbox/config", json={"fail_rate": "often"}).status_code == 400
    assert http.post(sienge.url + "/_sandbox/config", json={"fail_rate": 2}).status_code == 400


# --- determinism, size, schemas -----------------------------------------------------------------------------
def test_same_seed_gives_the_same_bytes() -> None:
    def fetch(seed: int) -> list[bytes]:
        with run_in_thread(SiengeApp(records=300, seed=seed)) as running, requests.Session() as session:
            paths = ["/customers?limit=200&offset=50", "/creditors", "/units?limit=7", "/sales-contracts"]
            return [session.get(running.base_url + p, auth=AUTH, timeout=10).content for p in paths]

    assert fetch(5) == fetch(5)
    assert fetch(5) != fetch(6)


def test_a_million_customers_are_generated_lazily() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    app = SiengeApp(records=1_000_000, switches={"rate_limit": 0})
    with run_in_thread(app) as running:
        body = requests.get(running.base_url + "/customers?limit=200&offset=999800", auth=AUTH, timeout=10).json()
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert body["resultSetMetadata"]["count"] == 1_000_000
    assert [r["id"] for r in body["results"]] == list(range(200, 0, -1))
    assert elapsed < 5
    assert peak < 30 * 1024 * 1024


def test_records_validate_against_the_tap_schemas(sienge: RunningSandbox, http: requests.Session) -> None:
    from ponte.declaration import stream_schemas as schemas

    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    for stream in TAP_SPEC["streams"]:
        selector = stream.get("record_selector", "results")
        schema = schemas.resolve_schema(stream["schema"], REPO / "taps", selector, stream["name"])
        body = get(
            http, sienge, stream["path"].replace("{{ parent.id }}", "2"), limit=200, **(stream.get("params") or {})
        )
        rows = body.json() if selector == "$" else body.json()["results"]
        validator = jsonschema.Draft7Validator(schema, format_checker=checker)
        undocumented = set(UNDOCUMENTED.get(stream["name"], ()))
        for row in rows:
            row = {**row, **dict.fromkeys(stream.get("parent_keys") or {}, 2)}
            validator.validate(row)
            assert set(row) - set(schema["properties"]) == undocumented, stream["name"]
            assert set(schema["properties"]) <= set(row), stream["name"]


UNDOCUMENTED = {"customers": customers.UNDOCUMENTED, "creditors": catalog.CREDITOR_UNDOCUMENTED}


def test_fields_the_swagger_lacks_are_sent_unless_switched_off(sienge: RunningSandbox, http: requests.Session) -> None:
    people = all_pages(http, sienge, "/customers")
    social = [r for r in people if r["socialName"] is not None]
    assert 0 < len(social) < len(people) / 10 and all(r["personType"] == "Física" for r in social)
    assert people[0]["modifiedAtDateTime"].startswith(people[0]["modifiedAt"] + "T")
    assert dt.datetime.fromisoformat(people[0]["modifiedAtDateTime"]).utcoffset() is not None
    creditor = get(http, sienge, "/creditors", limit=200).json()["results"]
    assert all(r["creationDate"] <= r["lastModificationDate"] for r in creditor)
    assert any(r["contacts"] for r in creditor) and any(r["contacts"] == [] for r in creditor)
    sienge.configure(extra_fields=False)
    assert not set(UNDOCUMENTED["customers"]) & set(get(http, sienge, "/customers", limit=1).json()["results"][0])
    assert not set(UNDOCUMENTED["creditors"]) & set(get(http, sienge, "/creditors", limit=1).json()["results"][0])


# --- command line -------------------------------------------------------------------------------------------
def test_guess_options_say_so_in_their_help() -> None:
    result = CliRunner().invoke(sandbox_cli, ["sienge", "--help"], terminal_width=400)
    assert result.exit_code == 0
    lines = " ".join(result.output.split())
    for flag in ("--limit-over-max", "--retry-after", "--modified-after-inclusive", "--customer-date-format"):
        assert flag in lines
    command = sandbox_cli.commands["sienge"]
    guessed = [p for p in command.params if p.help and "(guess)" in p.help]
    assert all(p.help.endswith("(guess)") for p in guessed)
    assert {p.name for p in guessed} >= {"limit_over_max", "retry_after_header", "modified_after_inclusive"}


def test_module_entry_writes_the_port_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "ponte.sandbox", "sienge", "--port", "0", "--port-file", str(port_file)]
    process = subprocess.Popen([*command, "--records", "50"], stdout=subprocess.PIPE, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        port = int(port_file.read_text())
        base = f"http://127.0.0.1:{port}/demo/public/api/v1"
        assert requests.get(base + "/customers", auth=AUTH, timeout=10).json()["resultSetMetadata"]["count"] == 50
        banner = process.stdout.readline().decode() if process.stdout else ""
        assert base in banner and "demo-api" in banner and "demo-secret" in banner
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert not port_file.exists()


def test_sandbox_clock_default_is_fixed() -> None:
    assert SiengeApp(records=1).now() == dt.datetime.fromisoformat("2026-07-01T12:00:00-03:00")
