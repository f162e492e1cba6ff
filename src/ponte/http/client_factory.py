"""Build the one HTTP client a declaration asks for: its http, auth, errors, rate_limit and circuit_breaker
blocks, rendered.

Taps and ingest-API targets declare these blocks the same way, so both build their clients here. The
authenticator comes from the caller's `build_auth` (`ponte.auth.registry.build_authenticator`): auth is the
layer above http, so http never imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from ponte.declaration.models import CircuitBreakerSpec, ErrorsSpec, HttpSpec, RateLimitSpec
from ponte.declaration.templates import render
from ponte.http import DailyQuota, HttpClient, HttpSettings, RateLimiter
from ponte.http.circuit_breaker import CircuitBreaker, CircuitRegistry
from ponte.http.redaction import Redactor
from ponte.http.retry_policy import RetryPolicy


def build_client(
    spec: Mapping[str, Any],
    scope: Mapping[str, Any],
    redactor: Redactor,
    timezone: ZoneInfo,
    logger: logging.Logger,
    label: str,
    *,
    plugin: str,
    build_auth: Callable[..., Any],
    circuits: CircuitRegistry | None = None,
) -> HttpClient:
    """One HTTP client for `plugin` (e.g. `tap-sienge`); `label` names it in messages (plugin and account).

    The clients built with one `circuits` registry share one breaker per API (without one, each has its own).
    """
    cfg = scope["config"]
    http = HttpSpec.from_mapping(render(spec.get("http") or {}, scope), label)
    account = (scope.get("account") or {}).get("name")
    auth = build_auth(render(spec.get("auth"), scope), verify_tls=http.verify_tls, label=label, account=account)
    redactor.add(*auth.secrets())
    if hasattr(auth, "on_new_secret"):
        auth.on_new_secret = redactor.add  # rotated tokens are masked from the moment they exist
    errors = ErrorsSpec.from_mapping(spec.get("errors"))
    settings = HttpSettings(
        name=label,
        timeout_seconds=http.timeout_seconds,
        verify_tls=http.verify_tls,
        user_agent=http.user_agent,
        retry=RetryPolicy(
            max_retries=http.max_retries,
            base_seconds=http.backoff_base_seconds,
            max_seconds=http.backoff_max_seconds,
            rate_limit_fallback_seconds=http.rate_limit_wait_seconds,
        ),
        daily_quota_when=errors.daily_quota_when,
        message_fields=errors.message_fields,
        hints=errors.hints,
    )
    limits = RateLimitSpec.from_mapping(render(spec.get("rate_limit") or {}, scope), label)
    limiter = RateLimiter(limits.requests, limits.per_seconds) if limits.requests else None
    quota = None
    if limits.per_day:
        quota = DailyQuota(
            limits.per_day,
            key=limits.quota_key or plugin,
            state_dir=cfg.get("state_dir") or ".ponte",
            timezone=timezone.key,
        )
    breaker = _breaker(spec, scope, label, plugin, circuits)
    return HttpClient(
        settings, limiter=limiter, quota=quota, redactor=redactor, auth=auth, logger=logger, breaker=breaker
    )


def _breaker(
    spec: Mapping[str, Any], scope: Mapping[str, Any], label: str, plugin: str, circuits: CircuitRegistry | None
) -> CircuitBreaker | None:
    """The API's breaker when it is on: targets (they write) have one unless they turn it off, taps if declared."""
    declared = spec.get("circuit_breaker")
    block = None if declared is None else render(declared, scope)
    breaker = CircuitBreakerSpec.from_mapping(block, label, on_when_absent=plugin.startswith("target-"))
    if not breaker.enabled:
        return None
    base_url = str(render(spec.get("base_url") or "", scope))
    state_dir = scope["config"].get("state_dir") or ".ponte"
    return (circuits or CircuitRegistry()).breaker(base_url, breaker, label=plugin, state_dir=state_dir)
