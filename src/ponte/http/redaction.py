"""Keep secrets out of every log line, error message and state: mask each known secret value.

A short secret (under 8 characters, e.g. a sandbox's `totvs`) is masked only where it stands alone: masking it
inside words would garble the very names users read (`tap-totvs` shown as `tap-****`). Such a secret is weak
anyway, so whoever configures it is warned (`weak_secret_warnings`).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Mapping

MASK = "****"
MIN_SECRET_LENGTH = 4  # shorter values are not masked at all: masking 'a' everywhere would garble logs
STRONG_SECRET_LENGTH = 8  # shorter ones are masked only as whole words


def _standalone(secret: str) -> re.Pattern[str]:
    """`secret` where it is not part of a longer word or name: `tap-totvs`, `totvs_rm`, `totvs.lotes` keep it."""
    before = r"(?<![\w-])(?<!\w\.)" if re.match(r"\w", secret[0]) else ""
    after = r"(?![\w-])(?!\.\w)" if re.match(r"\w", secret[-1]) else ""
    return re.compile(before + re.escape(secret) + after)


def weak_secret_warnings(plugin: str, named: Mapping[str, str]) -> list[str]:
    """One warning per configured secret shorter than 8 characters (it is weak and masked only standing alone)."""
    return [
        f"{plugin}: setting '{name}' holds a weak secret ({len(value)} characters): it is masked in logs only where "
        f"it stands alone, not inside other words — use {STRONG_SECRET_LENGTH} characters or more"
        for name, value in named.items()
        if value and len(str(value)) < STRONG_SECRET_LENGTH
    ]


class Redactor:
    """Holds the secret strings of one run and replaces them wherever text is about to leave the process."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._short: dict[str, re.Pattern[str]] = {}
        self.add(*secrets)

    def add(self, *values: str | None) -> None:
        """Register secrets (under 4 characters: ignored; under 8: masked only where they stand alone)."""
        for value in values:
            text = str(value) if value else ""
            if len(text) >= STRONG_SECRET_LENGTH:
                self._secrets.add(text)
            elif len(text) >= MIN_SECRET_LENGTH:
                self._short[text] = _standalone(text)

    def add_basic_credentials(self, username: str, password: str) -> None:
        """Also mask the base64 form a Basic header would carry."""
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.add(password, token)

    def redact(self, text: str) -> str:
        """Return text with every secret replaced by ****, longest first so overlaps mask fully."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        for secret in sorted(self._short, key=len, reverse=True):
            if secret in text:
                text = self._short[secret].sub(MASK, text)
        return text

    def install(self, *loggers: logging.Logger) -> None:
        """Attach a filter to the handlers of the root logger (and the given loggers) so nothing escapes."""
        flt = RedactingFilter(self)
        targets = [logging.getLogger(), *loggers]
        for logger in targets:
            for handler in logger.handlers:
                if not any(isinstance(f, RedactingFilter) and f.redactor is self for f in handler.filters):
                    handler.addFilter(flt)


class RedactingFilter(logging.Filter):
    """A logging filter that formats the record once and masks secrets in the result."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the message (and any exception text) in place; never drop a record."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the log line
            message = str(record.msg)
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        return True
