"""Exceptions users can meet, each mapped to an exit code so the CLI never shows a bare traceback.

Every message is a sentence with context (which stream, which file, which setting) and a next step.
"""

from __future__ import annotations


class PonteError(Exception):
    """Base of every expected failure; `exit_code` is what the CLI returns for it."""

    exit_code = 1


class SpecError(PonteError):
    """A declaration (YAML) is invalid: the message carries file:line:col and the key path."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key_path: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.key_path = key_path
        self.reason = message
        where = ""
        if file:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += " "
        key = f"{key_path}: " if key_path else ""
        super().__init__(f"{where}{key}{message}")


class ConfigError(PonteError):
    """Settings are missing or malformed (tell which setting and which env var sets it)."""

    exit_code = 2


class AuthError(PonteError):
    """The server refused our credentials or permissions (401/403): retrying cannot help."""

    exit_code = 3


class TokenEndpointUnavailable(AuthError):
    """The token endpoint was unreachable or answered 5xx: the API is down, the credentials are not to blame.

    The HTTP client treats it as a failed request (retried with backoff, counted by the circuit breaker), so an
    outage that starts at the token call ends like any other (exit 69 once the circuit opens), not as a
    credentials error; raised elsewhere it keeps AuthError's exit code.
    """


class QuotaExhausted(PonteError):
    """The daily request quota is spent: stop cleanly, keep a resumable state."""

    exit_code = 0


class ApiError(PonteError):
    """The API answered with an error we cannot retry (4xx other than auth), or retries ran out."""

    exit_code = 4

    def __init__(self, message: str, *, status: int | None = None, body: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body  # the parsed error body (or its text): targets read per-record errors from it


class UnansweredError(ApiError):
    """A request that may have reached the server got no usable answer (connection dropped, timeout, 5xx,
    broken body): it may have been committed. Raised instead of re-sending when the caller asked for no resend
    (a non-idempotent POST), so the caller can look the record up before posting it again."""


class DataError(PonteError):
    """A record cannot be loaded as declared (which stream, which record, which field)."""

    exit_code = 5


class CircuitOpen(PonteError):
    """An API's circuit breaker is open: it failed too often in a row, so the run stopped sending to it.

    Not an `ApiError`: no record is to blame, so none is dead-lettered; the unsent ones stay pending (no STATE
    past them) and the next run sends them after one probe request finds the API back. Exit code 69 is
    sysexits.h's EX_UNAVAILABLE ("a service is unavailable").
    """

    exit_code = 69

    def __init__(self, message: str, *, api: str = "", failures: int = 0, retry_at: str = "") -> None:
        super().__init__(message)
        self.api = api
        self.failures = failures
        self.retry_at = retry_at  # ISO 8601 (UTC): when the open period ends
