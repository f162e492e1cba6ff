"""Tell a person when a sync needs attention: jobs ended with failures, records were dead-lettered, a run failed.

Seed §9.7 asks for an e-mail on partial success and on critical errors; many teams also want a chat webhook.
Both channels are optional and independent: one failing is logged (redacted) and the other still goes out, and
no alert problem ever fails the sync that raised it. Every text that leaves — subject, body, payload, log line —
goes through the redaction of the run plus the alert settings' own secrets (SMTP password, webhook URL).
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from ponte.core.errors import ConfigError
from ponte.core.setting_text import read_setting
from ponte.http.redaction import Redactor

Redact = Callable[[str], str]
SEVERITIES = ("warning", "error")


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key)
    if value is None or isinstance(value, bool):
        return default if value is None else value
    return bool(read_setting("boolean", str(value), key))


def _number(config: Mapping[str, Any], key: str, default: float, kind: type) -> Any:
    value = config.get(key)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {key} must be a number, got {value!r}") from None


def _recipients(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


@dataclass
class AlertSettings:
    """Where alerts go (from the target config, keys `alert_*`). Without an SMTP host and recipients, and without
    a webhook URL, alerting is off."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "ponte@localhost"
    smtp_to: tuple[str, ...] = ()
    webhook_url: str | None = None
    timeout_seconds: float = 10.0
    retry_delay_seconds: float = 1.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any], prefix: str = "alert_") -> AlertSettings:
        """Read `<prefix>smtp_host`, `<prefix>smtp_to` (a list or a comma-separated string), `<prefix>webhook_url`…"""

        def text(name: str) -> str | None:
            value = config.get(prefix + name)
            return str(value).strip() or None if value is not None else None

        settings = cls(
            smtp_host=text("smtp_host"),
            smtp_port=_number(config, prefix + "smtp_port", 25, int),
            smtp_starttls=_flag(config, prefix + "smtp_starttls", False),
            smtp_ssl=_flag(config, prefix + "smtp_ssl", False),
            smtp_user=text("smtp_user"),
            smtp_password=None
            if config.get(prefix + "smtp_password") is None
            else str(config[prefix + "smtp_password"]),
            smtp_from=text("smtp_from") or "ponte@localhost",
            smtp_to=_recipients(config.get(prefix + "smtp_to")),
            webhook_url=text("webhook_url"),
            timeout_seconds=_number(config, prefix + "timeout_seconds", 10.0, float),
            retry_delay_seconds=_number(config, prefix + "retry_delay_seconds", 1.0, float),
        )
        if settings.smtp_starttls and settings.smtp_ssl:
            raise ConfigError(
                f"set only one of {prefix}smtp_starttls (port 587) and {prefix}smtp_ssl (port 465), not both"
            )
        if settings.smtp_host and not settings.smtp_to:
            raise ConfigError(
                f"{prefix}smtp_host is set but {prefix}smtp_to is empty; list who gets the alerts "
                '(e.g. ["ops@example.com"] or "ops@example.com, it@example.com")'
            )
        if settings.smtp_to and not settings.smtp_host:
            raise ConfigError(
                f"{prefix}smtp_to is set but {prefix}smtp_host is not; name the SMTP server to send through"
            )
        if settings.webhook_url and urlsplit(settings.webhook_url).scheme not in ("http", "https"):
            raise ConfigError(f"{prefix}webhook_url must be an http(s) URL")
        return settings

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.smtp_to)

    @property
    def enabled(self) -> bool:
        return self.email_enabled or bool(self.webhook_url)

    def secrets(self) -> list[str]:
        """Values never to print: the SMTP password and the webhook URL with every part that may be a token."""
        found = [self.smtp_password or ""]
        if self.webhook_url:
            parts = urlsplit(self.webhook_url)
            found += [self.webhook_url, parts.password or ""]
            if len(parts.path) > 1:
                found.append(parts.path)
            if parts.query:
                found += [parts.query, f"{parts.path}?{parts.query}"]
                found += [value for _, value in parse_qsl(parts.query)]
        return [value for value in found if value]


@dataclass
class Alert:
    """What happened. `severity` is 'warning' (partial failures, dead letters) or 'error' (the run failed)."""

    plugin: str
    severity: str
    title: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # What to do about it; None: the ingest-API targets' advice (dead letters, the API's integration history).
    actions: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "plugin": self.plugin,
            "severity": self.severity,
            "title": self.title,
            "summary": self.summary,
            "details": self.details,
            "run_id": self.run_id,
            "at": self.at.isoformat(),
        }
        if self.actions is not None:
            data["actions"] = self.actions
        return data


def _where(url: str) -> str:
    """The webhook's scheme and host only: paths and queries often hold its token."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


class Alerter:
    """Sends alerts by e-mail and/or webhook; `send` returns the channels that worked and never raises."""

    def __init__(
        self, settings: AlertSettings, redact: Redact | None = None, logger: logging.Logger | None = None
    ) -> None:
        self.settings = settings
        self.logger = logger or logging.getLogger(__name__)
        own = Redactor(settings.secrets())
        self.redact: Redact = (lambda text: own.redact(redact(text))) if redact else own.redact

    def send(self, alert: Alert) -> list[str]:
        """Deliver `alert` on every configured channel; a channel failure is logged as a warning."""
        sent: list[str] = []
        if not self.settings.enabled:
            self.logger.debug("alert: no channel configured; not sent title=%r", self.redact(alert.title))
            return sent
        if self.settings.email_enabled:
            try:
                self._send_email(alert)
                sent.append("smtp")
            except Exception as exc:  # an alert problem must never fail the sync
                self.logger.warning(
                    "alert: e-mail not sent host=%s port=%s error=%s — check the alert_smtp_* settings",
                    self.settings.smtp_host,
                    self.settings.smtp_port,
                    self.redact(f"{type(exc).__name__}: {exc}"),
                )
        if self.settings.webhook_url:
            try:
                self._post_webhook(alert)
                sent.append("webhook")
            except Exception as exc:
                self.logger.warning(
                    "alert: webhook not sent url=%s error=%s — check alert_webhook_url",
                    _where(self.settings.webhook_url),
                    self.redact(f"{type(exc).__name__}: {exc}"),
                )
        if sent:
            self.logger.info(
                "alert: sent plugin=%s severity=%s channels=%s title=%s",
                alert.plugin,
                alert.severity,
                ",".join(sent),
                self.redact(alert.title),
            )
        return sent

    def _scrub(self, value: Any) -> Any:
        """Redact every string inside `value` before it is serialized (JSON escaping could hide a secret)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self._scrub(str(key)): self._scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return [self._scrub(item) for item in value]
        return value

    # -- e-mail

    def subject(self, alert: Alert) -> str:
        return " ".join(self.redact(f"[Ponte] {alert.plugin}: {alert.title}").split())

    def body(self, alert: Alert) -> str:
        details = json.dumps(self._scrub(alert.details), indent=2, ensure_ascii=False, default=str)
        if alert.actions is not None:
            actions = list(alert.actions)
        else:
            actions = [
                f"List the records the API rejected: ponte dlq list --target {alert.plugin}"
                + (f" --run {alert.run_id}" if alert.run_id else ""),
                "Check the integration history the API keeps for the jobs above (it logs errors and one summary "
                "per batch).",
                "Fix the data, then replay the letters (ponte dlq replay) or run the sync again.",
            ]
            if alert.severity == "error":
                actions.insert(0, "Read the run's log (and its sync_runs row) for the error that stopped it.")
        text = (
            f"{alert.summary}\n\n"
            f"Plugin:   {alert.plugin}\n"
            f"Severity: {alert.severity}\n"
            f"Run id:   {alert.run_id or '-'}\n"
            f"When:     {alert.at.isoformat()}\n\n"
            f"Details:\n{textwrap.indent(details, '  ')}\n\n"
            "Recommended action:\n" + "".join(f"- {action}\n" for action in actions)
        )
        return self.redact(text)

    def _send_email(self, alert: Alert) -> None:
        settings = self.settings
        message = EmailMessage()
        message["Subject"] = self.subject(alert)
        message["From"] = settings.smtp_from
        message["To"] = ", ".join(settings.smtp_to)
        message["Date"] = format_datetime(alert.at)
        message["Message-ID"] = make_msgid(domain="ponte")
        message["X-Ponte-Severity"] = alert.severity
        message.set_content(self.body(alert))
        assert settings.smtp_host is not None
        if settings.smtp_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=settings.timeout_seconds,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds)
        with client:
            if settings.smtp_starttls:
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password or "")
            client.send_message(message, from_addr=settings.smtp_from, to_addrs=list(settings.smtp_to))

    # -- webhook

    def _post_webhook(self, alert: Alert) -> None:
        assert self.settings.webhook_url is not None
        payload = self.redact(json.dumps(self._scrub(alert.to_json()), ensure_ascii=False, default=str))
        for attempt in (1, 2):
            try:
                response = requests.post(
                    self.settings.webhook_url,
                    data=payload.encode("utf-8"),
                    headers={"Content-Type": "application/json", "User-Agent": "ponte-alerts"},
                    timeout=self.settings.timeout_seconds,
                )
            except (requests.ConnectionError, requests.Timeout):
                if attempt == 2:
                    raise
            else:
                if response.ok:
                    return
                if response.status_code < 500 or attempt == 2:
                    raise RuntimeError(f"HTTP {response.status_code} from the webhook: {response.text[:200]}")
            self.logger.info(
                "alert: webhook attempt %d failed; retrying url=%s", attempt, _where(self.settings.webhook_url)
            )
            time.sleep(self.settings.retry_delay_seconds)
