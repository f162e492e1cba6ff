"""`ponte run`'s pieces: reading Meltano's JSON log, the status rules, arguments, alert settings and the
record file."""

from __future__ import annotations

import io
import json
import socket
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from ponte.core.errors import ConfigError
from ponte.http.redaction import Redactor
from ponte.runlog import report
from ponte.runs.alerting import alert_on, alert_settings, run_alert
from ponte.runs.console import Console
from ponte.runs.launcher import split_args
from ponte.runs.meltano_log import MeltanoLog
from ponte.runs.outcome import decide
from ponte.runs.settings import LaunchSettings
from ponte.runs.store import FileRunStore, PipelineRun

TS = "2026-12-02T06:22:06.701830Z"
TAP_ERROR = (
    "tap-sienge: stream 'customers': 503 Service Unavailable from /demo/public/api/v1/customers: Service "
    "temporarily unavailable (gave up after 6 retries; last failure: HTTP 503). The server may be down or "
    "overloaded: run again later."
)


def plugin(name: str, text: str, role: str = "extractor", **extra: Any) -> str:
    flags = {"extractor": (True, False), "loader": (False, True), "mapper": (True, True)}[role]
    event = {"stdio": "stderr", "producer": flags[0], "consumer": flags[1], "string_id": name, "cmd_type": "elb",
             "job_name": "dev:tap-sienge-to-target-postgres", "name": name, "event": text, "level": "info",
             "timestamp": TS, **extra}  # fmt: skip
    return json.dumps(event)


def meltano(text: str, level: str = "info", **fields: Any) -> str:
    return json.dumps({"event": text, "level": level, "timestamp": TS, "_logger": "x", **fields})


def done(success: bool, exit_codes: Any = None, err: str | None = None) -> str:
    return meltano("Block run completed", "info" if success else "error", set_number=0,
                   block_type="ExtractLoadBlocks", success=success, err=err, exit_codes=exit_codes)  # fmt: skip


def folded(*lines: str) -> MeltanoLog:
    log = MeltanoLog()
    for line in lines:
        log.feed(line + "\n")
    return log


def pg_line(level: str, message: str) -> str:
    return f"2026-12-02 06:22:06,242 | {level:<8} | target-postgres                | {message}"


# -- Meltano's log --------------------------------------------------------------------------------------


def test_a_tap_failure_names_the_tap_its_exit_code_and_its_own_error_not_the_sdk_wrapper_line() -> None:
    log = folded(
        meltano("Environment 'prod' is active"),
        plugin("tap-sienge", "Skipping parse of env var settings...", type="discovery"),
        plugin("target-postgres", pg_line("INFO", "target-postgres v0.1.0"), "loader"),
        plugin("tap-sienge", "retrying stream 'customers' path=/customers reason='HTTP 503' attempt=6 wait=0.29s"),
        plugin("tap-sienge", 'METRIC: {"type":"counter","metric":"record_count","value":0}'),
        plugin("tap-sienge", "An unhandled error occurred while syncing 'customers'"),
        plugin("tap-sienge", TAP_ERROR),
        plugin("target-postgres", pg_line("INFO", "read 1 lines (1 schemas, 0 records)"), "loader"),
        meltano("Extractor failed", "error"),
        done(False, {"extractors": 4}, "Extractor failed"),
        meltano("Run completed", status="failure"),
    )
    assert log.environment == "prod"
    assert [p.to_json() for p in log.plugins()] == [
        {"name": "tap-sienge", "role": "extractor", "block": 0, "exit_code": 4},
        {"name": "target-postgres", "role": "loader", "block": 0, "exit_code": 0},
    ]
    failing = log.failing()
    assert failing is not None and failing.name == "tap-sienge"
    assert failing.error == TAP_ERROR
    assert log.meltano_errors == []  # "Extractor failed" says nothing the plugin's line does not


def test_a_loader_failure_takes_its_first_error_line_without_the_log_prefix_and_ignores_the_traceback() -> None:
    log = folded(
        plugin("tap-sienge", "Beginning sync of 'customers'"),
        plugin("target-postgres", pg_line("WARNING", "slow batch"), "loader"),
        plugin("target-postgres", pg_line("ERROR", "stream 'customers': cannot add column cpf: denied"), "loader"),
        plugin("target-postgres", "Traceback (most recent call last):", "loader"),
        plugin("target-postgres", '  File "/x/loader.py", line 10, in read', "loader"),
        plugin("target-postgres", "psycopg.errors.InsufficientPrivilege: permission denied", "loader"),
        done(False, {"loaders": 1}, "Loader failed"),
    )
    failing = log.failing()
    assert failing is not None and failing.name == "target-postgres" and failing.exit_code == 1
    assert failing.error == "stream 'customers': cannot add column cpf: denied"
    assert [p.exit_code for p in log.plugins()] == [0, 1]


def test_an_unexpected_crash_is_explained_by_the_exception_its_traceback_ends_with() -> None:
    log = folded(
        plugin("tap-totvs", "Beginning sync of 'produtos'"),
        plugin("tap-totvs", "An unhandled error occurred while syncing 'produtos'"),
        plugin("tap-totvs", "Traceback (most recent call last):"),
        plugin("tap-totvs", '  File "/x/stream.py", line 88, in get_records'),
        plugin("tap-totvs", "    yield record['B1_COD']"),
        plugin("tap-totvs", "          ^^^^^^^^^^^^^^^^"),
        plugin("tap-totvs", "KeyError: 'B1_COD'"),
        plugin("tap-totvs", "some cleanup line"),
        done(False, {"extractors": 1}, "Extractor failed"),
    )
    failing = log.failing()
    assert failing is not None and failing.error == "KeyError: 'B1_COD'"


def test_when_both_fail_the_one_that_only_lost_its_pipe_is_not_blamed() -> None:
    log = folded(
        plugin("tap-bling", "BrokenPipeError: [Errno 32] Broken pipe"),
        plugin("target-postgres", pg_line("ERROR", "invalid config: database 'x' does not exist"), "loader"),
        done(False, {"extractors": 1, "loaders": 1}, "Extractor and loader failed"),
    )
    failing = log.failing()
    assert failing is not None and failing.name == "target-postgres"
    assert failing.error == "invalid config: database 'x' does not exist"


def test_a_failed_mapper_is_named_by_meltanos_list_of_codes() -> None:
    log = folded(
        plugin("tap-totvs", "Beginning sync"),
        plugin("totvs-to-proextend", "transforms/totvs-to-proextend.yml:12:5 mapping alunos → students: bad", "mapper"),
        plugin("target-proextend", "read", "loader"),
        done(False, [{"totvs-to-proextend": 5}], "Mappers failed"),
    )
    assert {p.name: p.exit_code for p in log.plugins()} == {"tap-totvs": 0, "totvs-to-proextend": 5,
                                                           "target-proextend": 0}  # fmt: skip
    failing = log.failing()
    assert failing is not None and failing.role == "mapper" and failing.error.endswith("students: bad")


def test_a_silent_failing_plugin_is_still_recorded_by_its_role() -> None:
    log = folded(plugin("target-jsonl", "wrote", "loader"), done(False, {"extractors": 2}, "Extractor failed"))
    assert [(p.name, p.exit_code) for p in log.plugins()] == [("target-jsonl", 0), ("extractors", 2)]


def test_plugins_of_a_block_that_never_completed_have_no_exit_code_and_later_blocks_are_numbered() -> None:
    log = folded(
        plugin("tap-sienge", "ok"),
        plugin("target-postgres", "ok", "loader"),
        done(True),
        plugin("tap-bling", "started"),
    )
    assert [(p.name, p.block, p.exit_code) for p in log.plugins()] == [
        ("tap-sienge", 0, 0), ("target-postgres", 0, 0), ("tap-bling", 1, None)
    ]  # fmt: skip


def test_a_meltano_error_before_any_plugin_ran_is_kept() -> None:
    log = folded(meltano("Environment 'dev' is active"), "Error: Block tap-nope not found")
    assert log.plugins() == [] and log.failing() is None
    assert log.meltano_errors == ["Block tap-nope not found"]


def test_the_console_shows_a_plugins_error_as_an_error_line_live_and_redacted() -> None:
    raw = plugin("target-postgres", pg_line("ERROR", "cannot connect as ponte:s3cr3t-pw@db"), "loader")
    line = MeltanoLog().feed(raw)
    assert line is not None
    out = io.StringIO()
    console = Console(out, "console", Redactor(["s3cr3t-pw"]).redact)
    console.show(line)
    assert out.getvalue() == "2026-12-02T06:22:06Z ERROR    target-postgres      cannot connect as ponte:****@db\n"
    as_json = io.StringIO()
    Console(as_json, "json", Redactor(["s3cr3t-pw"]).redact).show(line)
    assert json.loads(as_json.getvalue())["event"] == pg_line("ERROR", "cannot connect as ponte:****@db")


# -- status rules ---------------------------------------------------------------------------------------


def _stream(stream: str, rejected: int = 0) -> dict[str, Any]:
    return {"event": report.STREAM_FINISHED, "plugin": "target-postgres", "stream": stream, "status": "succeeded",
            "inserted": 3, "updated": 1, "deleted": 0, "rejected": rejected}  # fmt: skip


QUOTA = {"event": report.STOPPED_QUOTA, "plugin": "tap-sienge", "message": "daily request quota spent"}
DEAD = {"event": report.DEAD_LETTERS, "plugin": "target-proextend", "stream": "professors", "count": 2}


@pytest.mark.parametrize(
    ("meltano_exit", "facts", "status", "exit_code"),
    [
        (0, [_stream("customers")], "succeeded", 0),
        (0, [_stream("customers", rejected=1)], "partial", 0),
        (0, [_stream("customers"), DEAD], "partial", 0),
        (0, [QUOTA, DEAD], "stopped-quota", 0),
        (1, [QUOTA, DEAD, _stream("customers")], "failed", 1),
    ],
)
def test_status_rules(meltano_exit: int, facts: list[dict[str, Any]], status: str, exit_code: int) -> None:
    log = folded(plugin("tap-sienge", "boom"), done(meltano_exit == 0, {"extractors": 4} if meltano_exit else None))
    outcome = decide(meltano_exit, log, facts)
    assert (outcome.status, outcome.exit_code) == (status, exit_code)
    assert [s["stream"] for s in outcome.streams] == [f["stream"] for f in facts if f["event"] == "stream_finished"]


def test_a_failure_without_a_plugin_to_blame_is_meltanos_and_a_signal_is_said() -> None:
    outcome = decide(1, folded("Error: Block tap-nope not found"), [])
    assert (outcome.failed_plugin, outcome.error) == ("meltano", "Block tap-nope not found")
    stopped = decide(143, folded(plugin("tap-sienge", "reading")), [], stopped_by=15)
    assert stopped.status == "failed" and stopped.exit_code == 143
    assert stopped.error.startswith("ponte run was stopped by SIGTERM before the pipeline finished")


# -- arguments and settings -----------------------------------------------------------------------------


def test_blocks_are_told_from_meltano_run_options_and_the_run_id_is_taken_out() -> None:
    run_id = uuid.uuid4()
    split = split_args(["--state-id-suffix", "x", "tap-sienge", "--full-refresh", "target-postgres",
                        f"--run-id={run_id}", "--timeout=60"])  # fmt: skip
    assert split.blocks == ["tap-sienge", "target-postgres"]
    assert split.options == ["--state-id-suffix", "x", "--full-refresh", "--timeout=60"]
    assert split.run_id == run_id and not split.dry_run
    assert split_args(["--run-id", str(run_id), "job"]).run_id == run_id
    with pytest.raises(ConfigError, match="--run-id 'nope' is not a UUID"):
        split_args(["--run-id", "nope", "job"])


def test_alert_settings_come_from_ponte_alert_variables_and_errors_name_them() -> None:
    settings = alert_settings({"PONTE_ALERT_SMTP_HOST": "smtp.acme", "PONTE_ALERT_SMTP_TO": "a@acme, b@acme",
                               "PONTE_ALERT_SMTP_PORT": "587", "PONTE_ALERT_SMTP_STARTTLS": "true",
                               "PONTE_ALERT_WEBHOOK_URL": "", "TARGET_X_ALERT_SMTP_HOST": "other"})  # fmt: skip
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == ("smtp.acme", 587, True)
    assert settings.smtp_to == ("a@acme", "b@acme") and settings.webhook_url is None
    with pytest.raises(ConfigError, match="PONTE_ALERT_SMTP_HOST is set but PONTE_ALERT_SMTP_TO is empty"):
        alert_settings({"PONTE_ALERT_SMTP_HOST": "smtp.acme"})
    assert alert_on({}) == {"failed"}
    assert alert_on({"PONTE_ALERT_ON": "failed, Partial"}) == {"failed", "partial"}
    with pytest.raises(ConfigError, match="PONTE_ALERT_ON names unknown status"):
        alert_on({"PONTE_ALERT_ON": "failed,broken"})


def test_the_alert_of_a_failed_run_names_the_plugin_its_error_and_how_to_rerun() -> None:
    run = PipelineRun.begin(uuid.uuid4(), "sienge-to-postgres", "schedule", environment="prod")
    run.status, run.failed_plugin, run.error, run.exit_code = "failed", "tap-sienge", TAP_ERROR, 1
    run.plugins = [{"name": "tap-sienge", "role": "extractor", "block": 0, "exit_code": 4}]
    alert = run_alert(run, "ponte.pipeline_runs", "ponte run --environment=prod sienge-to-postgres")
    assert alert.severity == "error"
    assert alert.title == "run failed: tap-sienge exited with code 4"
    assert alert.summary == f"The prod pipeline 'sienge-to-postgres' failed: {TAP_ERROR}"
    assert any("ponte run --environment=prod sienge-to-postgres" in action for action in alert.actions or [])


# -- the record file ---------------------------------------------------------------------------------


def test_the_record_file_keeps_the_start_and_the_end_of_a_run(tmp_path: Path) -> None:
    store = FileRunStore(tmp_path / ".ponte" / "pipeline_runs.jsonl")
    run = PipelineRun.begin(uuid.uuid4(), "tap-sienge target-postgres", "manual")
    store.started(run)
    run.status, run.exit_code = "succeeded", 0
    store.finished(run)
    lines = [json.loads(line) for line in store.path.read_text().splitlines()]
    assert [(line["run_id"], line["status"]) for line in lines] == [(str(run.run_id), "running"),
                                                                     (str(run.run_id), "succeeded")]  # fmt: skip
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_an_unreachable_database_sends_the_record_to_the_file_and_its_password_is_a_secret(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    dsn = f"host=127.0.0.1 port={port} user=ponte password=pw-s3cret-9 dbname=ponte"
    settings = LaunchSettings.read(tmp_path, {"PONTE_DB_DSN": dsn})
    warnings: list[str] = []
    store = settings.open_store(warnings.append)
    assert isinstance(store, FileRunStore) and store.path == tmp_path / ".ponte" / "pipeline_runs.jsonl"
    assert warnings and warnings[0].startswith("cannot write the run record to PONTE_DB_DSN")
    assert "pw-s3cret-9" in settings.secrets()
    with pytest.raises(ConfigError, match="PONTE_DB_DSN is not a valid PostgreSQL connection string"):
        LaunchSettings.read(tmp_path, {"PONTE_DB_DSN": "postgresql://x:y@host:notaport/db?bad=="})
