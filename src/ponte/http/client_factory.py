"""Build the one HTTP client a declaration asks for: its http, auth, errors and rate_limit blocks, rendered.

Taps and ingest-API targets declare these blocks the same way, so both build their clients here. The
authenticator comes from the caller's `build_auth` (`ponte.auth.registry.build_authenticator`): auth is the
layer above http, so http never imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from ponte.core.errors import ConfigError
from ponte.declaration.templates import render
from ponte.http import DailyQuota, HttpClient, HttpSettings, RateLimiter
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
) -> HttpClient:
    """One HTTP client for `plugin` (e.g. `tap-sienge`); `label` names it in messages (plugin and account)."""
    cfg = scope["config"]
    http = render(spec.get("http") or {}, scope)
    verify = http.get("verify_tls", True)
    if isinstance(verify, str) and verify.lower() in ("true", "false"):
        verify = verify.lower() == "true"
    account = (scope.get("account") or {}).get("name")
    auth = build_auth(render(spec.get("auth"), scope), verify_tls=verify, label=label, account=account)
    redactor.add(*auth.secrets())
    if hasattr(auth, "on_new_secret"):
        auth.on_new_secret = redactor.add  # rotated tokens are masked from the moment they exist
    errors = spec.get("errors") or {}
    settings = HttpSettings(
        name=label,
        timeout_seconds=float(http.get("timeout_seconds") or 60),
        verify_tls=verify,
        user_agent=http.get("user_agent", "ponte-elt/0.1 (+https://github.com/ponte-elt)"),
        retry=RetryPolicy(
            max_retries=int(http.get("max_retries", 6)),
            base_seconds=float(_given(http.get("backoff_base_seconds"), 1.0)),
            max_seconds=float(http.get("backoff_max_seconds", 60.0)),
            rate_limit_fallback_seconds=float(http.get("rate_limit_wait_seconds") or 60.0),
        ),
        daily_quota_when=_marker(errors.get("daily_quota_when")),
        message_fields=tuple(errors.get("message_fields") or ("message",)),
        hints={int(k): " ".join(str(v).split()) for k, v in (errors.get("hints") or {}).items()},
    )
    limits = render(spec.get("rate_limit") or {}, scope)
    limiter = None
    if limits.get("requests"):
        try:
            limiter = RateLimiter(int(limits["requests"]), float(limits.get("per_seconds") or 60))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{label}: invalid rate budget ({exc}); check the rate settings") from None
    quota = None
    if limits.get("per_day"):
        quota = DailyQuota(
            int(limits["per_day"]),
            key=str(limits.get("quota_key") or plugin),
            state_dir=cfg.get("state_dir") or ".ponte",
            timezone=timezone.key,
        )
    return HttpClient(settings, limiter=limiter, quota=quota, redactor=redactor, auth=auth, logger=logger)


def _given(value: Any, default: float) -> Any:
    """A rendered value, or the default when its template rendered empty (the setting was not set)."""
    return default if value in (None, "") else value


def _marker(spec: Mapping[str, Any] | None) -> tuple[str, Any] | None:
    return (str(spec["field"]), spec["equals"]) if spec else None
