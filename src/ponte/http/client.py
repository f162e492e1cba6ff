"""The resilient HTTP client shared by every tap and target.

One pooled `requests.Session`; every send first spends the daily quota, gets its credentials (a token renewal
may wait for its own budget), then takes a rate-budget slot and goes out at once. It retries transient
failures (5xx, connection drops, timeouts, truncated JSON) with jittered exponential backoff and waits out
429s as long as the server asks. Auth failures end the run at once with a sentence naming the
stream and the setting to check. With a circuit breaker (ponte.http.circuit_breaker) every attempt asks it
first and tells it how it went (a token endpoint that is down counts as a failed attempt: it is the same
outage, not bad credentials); the failure that opens the circuit ends the retry loop at once with
`CircuitOpen`. Every message passes through the redactor.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter

from ponte.core.errors import ApiError, AuthError, QuotaExhausted, TokenEndpointUnavailable, UnansweredError
from ponte.declaration.models import ErrorsSpec, HttpSpec
from ponte.http.circuit_breaker import CircuitBreaker
from ponte.http.rate_budget import DailyQuota, RateLimiter
from ponte.http.redaction import Redactor
from ponte.http.retry_policy import RetryPolicy, retry_after_seconds, server_wait

TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


# Parsed JSON bodies, by response: parsed once in `send`, read by whoever holds the response (the SDK hands
# streams and paginators only the response), gone with it. A side map, so nothing rides on requests' objects.
_BODIES: weakref.WeakKeyDictionary[requests.Response, Any] = weakref.WeakKeyDictionary()


def keep_body(response: requests.Response, body: Any) -> None:
    """Remember the parsed body of `response` (the client does it; also for responses built in code)."""
    _BODIES[response] = body


def parsed_body(response: requests.Response) -> Any:
    """The JSON body `HttpClient.send` parsed (None for an empty body or a response sent with expect_json off)."""
    return _BODIES.get(response)


class Authenticator(Protocol):
    """What the client needs from an auth strategy (see ponte.auth)."""

    def apply(self, request: requests.PreparedRequest) -> None:
        """Add credentials to the request (headers or query)."""

    def on_unauthorized(self) -> bool:
        """Called on a 401: return True if fresh credentials were obtained and one retry makes sense."""


@dataclass
class HttpSettings:
    """Per-plugin knobs of the client, read from the declaration."""

    name: str
    timeout_seconds: float = HttpSpec.timeout_seconds
    verify_tls: bool | str = HttpSpec.verify_tls
    user_agent: str = HttpSpec.user_agent
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    message_fields: tuple[str, ...] = ErrorsSpec.message_fields
    hints: Mapping[int, str] = field(default_factory=dict)
    pool_size: int = 8
    daily_quota_when: tuple[str, Any] | None = None


class HttpClient:
    """Send prepared requests within budget, retrying what can be retried and explaining what cannot."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        limiter: RateLimiter | None = None,
        quota: DailyQuota | None = None,
        redactor: Redactor | None = None,
        auth: Authenticator | None = None,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.settings = settings
        self.breaker = breaker
        self.limiter = limiter
        self.quota = quota
        self.redactor = redactor or Redactor()
        self.auth = auth
        self.logger = logger or logging.getLogger(settings.name)
        self.sleep = sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=settings.pool_size, pool_maxsize=settings.pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = settings.user_agent
        self.session.verify = settings.verify_tls
        self.stats = {"requests": 0, "retries": 0, "rate_limited": 0, "throttle_wait_seconds": 0.0}

    # -- public -------------------------------------------------------------------------------------------
    def send(
        self, request: requests.PreparedRequest, *, label: str, expect_json: bool = True, resend: bool = True
    ) -> requests.Response:
        """Send with budget and retries; on success the parsed body is `parsed_body(response)`.

        `resend=False` (a non-idempotent POST): a failure after the request may have reached the server (no
        answer, 5xx, broken body) raises UnansweredError instead of sending it again; 429s and a 401 renewal,
        which the server did not act on, are still retried.
        """
        attempt = 0
        rate_waits = 0
        reauthenticated = False
        while True:
            try:
                response = self._attempt(request)
            except TokenEndpointUnavailable as exc:  # the request itself never left: safe to try again
                attempt += 1
                self._count_failure(str(exc))
                self._retry_or_raise(attempt, label, request, str(exc))
                continue
            except TRANSIENT_ERRORS as exc:
                attempt += 1
                reason = f"{type(exc).__name__}: {exc}"
                self._count_failure(reason)
                if not resend:
                    raise self._unanswered(label, request, reason) from None
                self._retry_or_raise(attempt, label, request, reason)
                continue
            self._observe_budget_headers(response)
            status = response.status_code
            if status >= 500:
                self._count_failure(f"HTTP {status}")
            elif self.breaker is not None:
                self.breaker.succeeded()
            if status == 429:
                rate_waits += 1
                self.stats["rate_limited"] += 1
                self._wait_rate_limited(response, label, request, rate_waits)
                continue
            if status == 401 and not reauthenticated and self.auth is not None and self.auth.on_unauthorized():
                reauthenticated = True
                continue
            if status in (401, 403):
                raise AuthError(self._error_text(response, label, request))
            if status >= 500:
                attempt += 1
                if not resend:
                    raise self._unanswered(label, request, f"HTTP {status}", response)
                self._retry_or_raise(attempt, label, request, f"HTTP {status}", response)
                continue
            if status >= 400:
                raise ApiError(self._error_text(response, label, request), status=status, body=_body(response))
            if expect_json:
                try:
                    keep_body(response, orjson.loads(response.content) if response.content else None)
                except orjson.JSONDecodeError as exc:
                    attempt += 1
                    if not resend:
                        raise self._unanswered(label, request, f"malformed JSON body ({exc})", response) from None
                    self._retry_or_raise(attempt, label, request, f"malformed JSON body ({exc})", response)
                    continue
            return response

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    # -- internals ----------------------------------------------------------------------------------------
    def _unanswered(
        self, label: str, request: requests.PreparedRequest, reason: str, response: requests.Response | None = None
    ) -> UnansweredError:
        detail = self._error_text(response, label, request) if response is not None else f"{label}: {reason}"
        return UnansweredError(self.redactor.redact(detail), status=None if response is None else response.status_code,
                               body=None if response is None else _body(response))  # fmt: skip

    def _attempt(self, request: requests.PreparedRequest) -> requests.Response:
        """One try: the breaker's leave, the daily quota, credentials, a rate slot, then the request itself."""
        if self.breaker is not None:
            self.breaker.before_send()  # an open circuit refuses here, before quota, token or rate slot
        try:
            if self.quota is not None:
                self.quota.consume()
            if self.auth is not None:
                # before the rate slot: a token renewal may wait up to a minute for the token-call budget, and
                # a slot taken before that wait would have expired when the request finally leaves
                self.auth.apply(request)
            if self.limiter is not None:
                self.stats["throttle_wait_seconds"] += self.limiter.acquire()
            self.stats["requests"] += 1
            return self.session.send(request, timeout=self.settings.timeout_seconds)
        except (*TRANSIENT_ERRORS, TokenEndpointUnavailable):
            raise  # a failure of the API: the caller tells the breaker (a probe's verdict)
        except BaseException:
            if self.breaker is not None:  # no verdict on the API (quota spent, token refused, bad URL)
                self.breaker.abandon()
            raise

    def _count_failure(self, reason: str) -> None:
        """Tell the breaker; the failure that opens the circuit ends the retries at once."""
        if self.breaker is not None and self.breaker.failed(reason):
            error = self.breaker.error()
            raise type(error)(self.redactor.redact(str(error)), api=error.api, failures=error.failures,
                              retry_at=error.retry_at)  # fmt: skip

    def _retry_or_raise(
        self,
        attempt: int,
        label: str,
        request: requests.PreparedRequest,
        reason: str,
        response: requests.Response | None = None,
    ) -> None:
        policy = self.settings.retry
        if attempt > policy.max_retries:
            detail = self._error_text(response, label, request) if response is not None else reason
            raise ApiError(
                self.redactor.redact(
                    f"{detail} (gave up after {policy.max_retries} retries; last failure: {reason}). "
                    "The server may be down or overloaded: run again later."
                )
            )
        wait = policy.backoff(attempt)
        self.stats["retries"] += 1
        self.logger.warning(
            self.redactor.redact(
                f"retrying {label} path={self._path(request)} reason={reason!r} attempt={attempt} wait={wait:.2f}s"
            )
        )
        self.sleep(wait)

    def _wait_rate_limited(
        self, response: requests.Response, label: str, request: requests.PreparedRequest, waits: int
    ) -> None:
        policy = self.settings.retry
        if response.headers.get("X-RateLimit-Remaining-Day", "").strip() == "0" or self._says_daily_quota(response):
            raise QuotaExhausted(self._daily_quota_text(response, label))
        if waits > policy.max_rate_limit_waits:
            raise ApiError(self._error_text(response, label, request) + " (still rate limited after many waits)")
        asked = server_wait(response.headers)
        if asked is None:
            wait = policy.rate_limit_fallback_seconds
            source = "no Retry-After or RateLimit-Reset from the server: http.rate_limit_wait_seconds"
        else:
            wait, source = asked[0], f"server's {asked[1]}"
        wait = max(wait, 0.05)
        self.logger.warning(f"rate limited {label} path={self._path(request)} status=429 wait={wait:.2f}s ({source})")
        if self.limiter is not None:
            self.limiter.pause_until(time.monotonic() + wait)
        else:
            self.sleep(wait)

    def _daily_quota_text(self, response: requests.Response, label: str) -> str:
        """What stopped the run: which signal said the daily quota is spent, and the limit only if the server said it."""
        headers = response.headers
        if headers.get("X-RateLimit-Remaining-Day", "").strip() == "0":
            signal = "with X-RateLimit-Remaining-Day: 0"
        else:
            path, expected = self.settings.daily_quota_when or ("", "")
            signal = f"whose body says {path} = {expected}"
        limit = headers.get("X-RateLimit-Limit-Day", "").strip()
        of_limit = f", limit {limit} requests per day" if limit else ""
        return (
            f"{label}: the server's daily request quota is spent (HTTP 429 {signal}{of_limit}); the run stopped "
            "cleanly and the next run resumes where this one stopped."
        )

    def _says_daily_quota(self, response: requests.Response) -> bool:
        """The declared marker of a spent daily quota in a 429 body (e.g. Bling's `"period": "day"`)."""
        if self.settings.daily_quota_when is None:
            return False
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return False
        path, expected = self.settings.daily_quota_when
        for part in path.split("."):
            body = body.get(part) if isinstance(body, dict) else None
        return bool(body == expected)

    def _observe_budget_headers(self, response: requests.Response) -> None:
        headers = response.headers
        remaining = headers.get("RateLimit-Remaining")
        day_remaining = headers.get("X-RateLimit-Remaining-Day")
        day_spent = day_remaining is not None and day_remaining.strip() == "0"
        # RateLimit-* describe the budget closest to running out; a spent day is not waited for (it ends the run)
        if remaining is not None and remaining.strip() == "0" and response.status_code != 429 and not day_spent:
            reset = retry_after_seconds({"RateLimit-Reset": headers.get("RateLimit-Reset", "")})
            if reset and self.limiter is not None:
                self.limiter.observe_server_exhausted(reset)
        if self.quota is not None and day_remaining and day_remaining.strip().isdigit():
            self.quota.observe_server_remaining(int(day_remaining))

    def _path(self, request: requests.PreparedRequest) -> str:
        return urlsplit(request.url or "").path

    def api_message(self, response: requests.Response) -> str:
        """The API's own error sentence, from the first declared field that holds one."""
        try:
            body: Any = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            text = response.text.strip()
            if text.lower().startswith("<"):
                return "(HTML error page)"
            return text[:300]
        return _find_message(body, self.settings.message_fields) or response.text[:300]

    def _error_text(self, response: requests.Response | None, label: str, request: requests.PreparedRequest) -> str:
        if response is None:
            return f"{self.settings.name}: {label}: request to {self._path(request)} failed"
        status = response.status_code
        text = f"{self.settings.name}: {label}: {status} {response.reason} from {self._path(request)}"
        message = self.api_message(response)
        if message:
            text += f": {message}"
        hint = self.settings.hints.get(status)
        if hint:
            text += f" — {hint}"
        return self.redactor.redact(text)


def _body(response: requests.Response) -> Any:
    """The error body parsed as JSON, else its text (an HTML page or plain words)."""
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return response.text[:2000]


def _find_message(body: Any, fields: tuple[str, ...]) -> str | None:
    if isinstance(body, dict):
        for name in fields:
            value = body.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                return "; ".join(value)
            if isinstance(value, dict):
                nested = _find_message(value, fields)
                if nested:
                    return nested
        errors = body.get("errors") or body.get("details")
        if isinstance(errors, list) and errors:
            parts = [f"{e.get('field', '')}: {e.get('message', '')}".strip(": ") for e in errors if isinstance(e, dict)]
            if parts:
                return "; ".join(parts)
    return None
