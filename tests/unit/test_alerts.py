"""Alerts by e-mail and webhook, delivered to local sinks over real loopback sockets."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ponte.core.errors import ConfigError
from ponte.http.redaction import Redactor
from ponte.notify import Alert, Alerter, AlertSettings
from ponte.testing.sinks import HttpSink, SmtpSink

SECRET = "rp_live_5ecr3t_api_key"
RUN_ID = "6f1c2b9e-0000-4000-8000-000000000001"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def _alert(**overrides: object) -> Alert:
    values: dict = {
        "plugin": "target-retailportal",
        "severity": "warning",
        "title": "2 job(s) ended with failures",
        "summary": "2 of 5 jobs reported failures; 3 records went to the dead-letter queue.",
        "details": {
            "jobs": [{"jobId": "job-1", "entity": "ErpProduct", "failed": 2}, {"jobId": "job-2", "failed": 1}],
            "dead_letters": 3,
            "last_error": f"422 from /erp-data/product/batch with X-API-Key {SECRET}",
        },
        "run_id": RUN_ID,
        "at": datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
    }
    values.update(overrides)
    return Alert(**values)


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redact(text: str) -> str:
    return Redactor([SECRET]).redact(text)


def test_email_has_subject_recipients_and_a_useful_body(smtp: SmtpSink) -> None:
    settings = AlertSettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="ponte@acme.test",
        smtp_to=("ops@acme.test", "it@acme.test"),
    )
    assert Alerter(settings, redact=_redact).send(_alert()) == ["smtp"]

    (mail,) = smtp.wait_for(1)
    assert mail.mail_from == "ponte@acme.test"
    assert mail.rcpt_to == ["ops@acme.test", "it@acme.test"]
    assert mail.subject == "[Ponte] target-retailportal: 2 job(s) ended with failures"
    assert mail.message["To"] == "ops@acme.test, it@acme.test"
    body = mail.body
    assert body.startswith("2 of 5 jobs reported failures; 3 records went to the dead-letter queue.\n")
    assert f"Run id:   {RUN_ID}" in body
    assert '  "dead_letters": 3,' in body  # details as indented JSON
    assert '      "jobId": "job-1",' in body
    assert f"ponte dlq list --target target-retailportal --run {RUN_ID}" in body
    assert "integration history" in body


def test_webhook_posts_the_alert_as_json() -> None:
    with HttpSink() as hook:
        sent = Alerter(AlertSettings(webhook_url=hook.url), redact=_redact).send(_alert(severity="error"))
        (request,) = hook.wait_for(1)
    assert sent == ["webhook"]
    assert request.headers["Content-Type"] == "application/json"
    assert set(request.json) == {"plugin", "severity", "title", "summary", "details", "run_id", "at"}
    assert request.json["plugin"] == "target-retailportal"
    assert request.json["severity"] == "error"
    assert request.json["run_id"] == RUN_ID
    assert request.json["at"] == "2025-03-01T12:30:00+00:00"
    assert request.json["details"]["jobs"][0] == {"jobId": "job-1", "entity": "ErpProduct", "failed": 2}


def test_secrets_never_leave_in_clear(smtp: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    quoted = 'pa"ss\\word-1234'  # JSON escaping must not hide it from redaction
    with HttpSink() as hook:
        alerter = Alerter(
            AlertSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_to=("ops@acme.test",), webhook_url=hook.url),
            redact=lambda text: _redact(text).replace(quoted, "****"),
        )
        alert = _alert(title=f"failed with {SECRET}", details={"error": f"{SECRET} / {quoted}"})
        with caplog.at_level(logging.DEBUG):
            assert alerter.send(alert) == ["smtp", "webhook"]
        (mail,) = smtp.wait_for(1)
        (request,) = hook.wait_for(1)
    for text in (mail.message.as_string(), mail.body, request.body.decode(), caplog.text):
        assert SECRET not in text
        assert 'pa\\"ss' not in text and "ss\\\\word" not in text and quoted not in text
    assert "****" in mail.subject
    assert request.json["details"]["error"] == "**** / ****"


def test_webhook_retries_once_after_a_500() -> None:
    with HttpSink(fail_first=1) as hook:
        alerter = Alerter(AlertSettings(webhook_url=hook.url, retry_delay_seconds=0))
        assert alerter.send(_alert()) == ["webhook"]
        first, second = hook.wait_for(2)
    assert (first.status, second.status) == (500, 200)
    assert first.body == second.body


def test_webhook_gives_up_after_two_500s_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    with HttpSink(fail_first=5) as hook:
        alerter = Alerter(AlertSettings(webhook_url=hook.url + "?token=hook-t0ken-999", retry_delay_seconds=0))
        assert alerter.send(_alert()) == []
        assert len(hook.wait_for(2)) == 2
        assert len(hook.requests) == 2
    assert "webhook not sent" in caplog.text
    assert "HTTP 500" in caplog.text
    assert "hook-t0ken-999" not in caplog.text


def test_a_4xx_is_not_retried() -> None:
    with HttpSink(fail_first=1, fail_status=400) as hook:
        assert Alerter(AlertSettings(webhook_url=hook.url, retry_delay_seconds=0)).send(_alert()) == []
        assert [r.status for r in hook.wait_for(1)] == [400]
        assert len(hook.requests) == 1


def test_a_dead_smtp_server_does_not_raise_and_the_webhook_still_goes_out(caplog: pytest.LogCaptureFixture) -> None:
    port = _dead_port()
    with HttpSink() as hook:
        settings = AlertSettings(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_user="alerts",
            smtp_password="smtp-pa55word",
            smtp_to=("ops@acme.test",),
            webhook_url=hook.url,
            timeout_seconds=2,
        )
        assert Alerter(settings).send(_alert()) == ["webhook"]
        assert len(hook.wait_for(1)) == 1
    assert f"e-mail not sent host=127.0.0.1 port={port}" in caplog.text
    assert "ConnectionRefusedError" in caplog.text


def test_a_dead_webhook_does_not_raise_and_hides_its_url(smtp: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_dead_port()}/services/T0/B0/XyZsecretPath"
    settings = AlertSettings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_to=("ops@acme.test",), webhook_url=url, retry_delay_seconds=0
    )
    assert Alerter(settings).send(_alert()) == ["smtp"]
    smtp.wait_for(1)
    assert "webhook not sent" in caplog.text
    assert "XyZsecretPath" not in caplog.text


def test_login_uses_the_configured_user(smtp: SmtpSink) -> None:
    settings = AlertSettings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_user="alerts", smtp_password="pw-123456", smtp_to=("a@b.c",)
    )
    assert Alerter(settings).send(_alert()) == ["smtp"]
    smtp.wait_for(1)
    assert smtp.logins == [("alerts", "pw-123456")]


def test_nothing_configured_sends_nothing() -> None:
    settings = AlertSettings()
    assert not settings.enabled
    assert Alerter(settings).send(_alert()) == []


def test_settings_from_config() -> None:
    settings = AlertSettings.from_config(
        {
            "alert_smtp_host": "smtp.acme.test",
            "alert_smtp_port": "587",
            "alert_smtp_starttls": "true",
            "alert_smtp_user": "alerts",
            "alert_smtp_password": "pw",
            "alert_smtp_to": "ops@acme.test, it@acme.test",
            "alert_webhook_url": "https://hooks.example/T/B/x",
            "alert_timeout_seconds": 3,
        }
    )
    assert settings == AlertSettings(
        smtp_host="smtp.acme.test",
        smtp_port=587,
        smtp_starttls=True,
        smtp_user="alerts",
        smtp_password="pw",
        smtp_to=("ops@acme.test", "it@acme.test"),
        webhook_url="https://hooks.example/T/B/x",
        timeout_seconds=3.0,
    )
    assert settings.enabled
    assert AlertSettings.from_config({"alert_smtp_host": "h", "alert_smtp_to": ["a@b.c"]}).smtp_to == ("a@b.c",)
    assert AlertSettings.from_config({"notify_webhook_url": "http://h/x"}, prefix="notify_").webhook_url == "http://h/x"
    assert not AlertSettings.from_config({}).enabled


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"alert_smtp_host": "h"}, "alert_smtp_to is empty"),
        ({"alert_smtp_to": "a@b.c"}, "alert_smtp_host is not"),
        ({"alert_smtp_host": "h", "alert_smtp_to": "a@b.c", "alert_smtp_port": "x"}, "must be a number"),
        ({"alert_smtp_host": "h", "alert_smtp_to": "a", "alert_smtp_ssl": 1, "alert_smtp_starttls": "yes"}, "not both"),
        ({"alert_smtp_ssl": "maybe"}, "true or false"),
        ({"alert_webhook_url": "ftp://x"}, "http"),
    ],
)
def test_bad_settings_are_named(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AlertSettings.from_config(config)


def test_payload_is_valid_json_even_for_odd_details() -> None:
    with HttpSink() as hook:
        Alerter(AlertSettings(webhook_url=hook.url)).send(_alert(details={"when": datetime(2025, 1, 1, tzinfo=UTC)}))
        (request,) = hook.wait_for(1)
    assert json.loads(request.body)["details"] == {"when": "2025-01-01 00:00:00+00:00"}
