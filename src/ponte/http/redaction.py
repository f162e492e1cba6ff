"""Keep secrets out of every log line, error message and state: mask each known secret value."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable

MASK = "****"


class Redactor:
    """Holds the secret strings of one run and replaces them wherever text is about to leave the process."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *values: str | None) -> None:
        """Register secrets (short values are ignored: masking 'a' everywhere would garble logs)."""
        for value in values:
            if value and len(str(value)) >= 4:
                self._secrets.add(str(value))

    def add_basic_credentials(self, username: str, password: str) -> None:
        """Also mask the base64 form a Basic header would carry."""
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.add(password, token)

    def redact(self, text: str) -> str:
        """Return text with every secret replaced by ****, longest first so overlaps mask fully."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
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
