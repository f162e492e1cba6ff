"""The auth strategies a declaration can name; adding one is a class and one line here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ponte.auth.oauth2 import OAuth2Auth
from ponte.auth.simple import ApiKeyAuth, BasicAuth, BearerAuth, NoAuth
from ponte.auth.token_store import build_token_store
from ponte.core.errors import ConfigError


def _basic(spec: Mapping[str, Any], **_: Any) -> BasicAuth:
    return BasicAuth(str(spec.get("username") or ""), str(spec.get("password") or ""))


def _bearer(spec: Mapping[str, Any], **_: Any) -> BearerAuth:
    return BearerAuth(str(spec.get("token") or ""))


def _api_key(spec: Mapping[str, Any], **_: Any) -> ApiKeyAuth:
    return ApiKeyAuth(str(spec.get("value") or ""), spec.get("header"), spec.get("query_param"))


def _oauth2(
    spec: Mapping[str, Any], *, verify_tls: bool | str = True, label: str = "oauth2", account: str | None = None
) -> OAuth2Auth:
    keys = [
        "token_url",
        "client_id",
        "client_secret",
        "username",
        "password",
        "refresh_token",
        "scope",
        "client_auth",
        "token_field",
        "expires_in_field",
        "extra_params",
        "authorize_url",
        "redirect_uri",
        "token_headers",
        "reauth_command",
        "token_request_format",
    ]
    kwargs: dict[str, Any] = {k: spec[k] for k in keys if spec.get(k) not in (None, "")}
    token_rate = spec.get("rate_limit") or {}
    limit, seconds = token_rate.get("requests"), token_rate.get("per_seconds")
    try:
        if limit not in (None, ""):
            kwargs["max_token_requests_per_minute"] = int(limit)
            if kwargs["max_token_requests_per_minute"] < 1:
                raise ValueError
        if seconds not in (None, ""):
            kwargs["token_window_seconds"] = float(seconds)
            if kwargs["token_window_seconds"] <= 0:
                raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(
            f"{label}: auth.rate_limit needs requests (a whole number >= 1) and per_seconds (> 0), "
            f"got requests={limit!r}, per_seconds={seconds!r}"
        ) from None
    store_spec = spec.get("token_store")
    if store_spec:
        key = str(store_spec.get("key") or "").strip()
        if not key:
            raise ConfigError(f"{label}: token_store needs a key (e.g. `bling-{{{{ account.token_store_key }}}}`)")
        kwargs["token_store"] = build_token_store(store_spec)
        kwargs["store_key"] = key
    return OAuth2Auth(
        grant_type=spec.get("grant_type", "client_credentials"),
        verify_tls=verify_tls,
        label=label,
        account=account,
        **kwargs,
    )


def _none(spec: Mapping[str, Any], **_: Any) -> NoAuth:
    return NoAuth()


def _select(spec: Mapping[str, Any], **kwargs: Any) -> Any:
    """The option a setting names (the `by` template is already rendered)."""
    options = spec.get("options") or {}
    chosen = spec.get("by")
    if chosen not in options:
        raise ConfigError(
            f"auth method {chosen!r} is not one of: {', '.join(options)}; check the setting that picks it"
        )
    return build_authenticator(options[chosen], **kwargs)


AUTH_BUILDERS: dict[str, Callable[..., Any]] = {
    "basic": _basic,
    "bearer": _bearer,
    "api_key": _api_key,
    "oauth2": _oauth2,
    "none": _none,
    "select": _select,
}


def build_authenticator(spec: Mapping[str, Any] | None, **kwargs: Any) -> Any:
    """Build the authenticator a rendered `auth:` block declares."""
    spec = spec or {"type": "none"}
    kind = spec.get("type", "none")
    try:
        builder = AUTH_BUILDERS[kind]
    except KeyError:
        raise ConfigError(f"unknown auth type '{kind}'; expected one of {', '.join(AUTH_BUILDERS)}") from None
    return builder(spec, **kwargs)
