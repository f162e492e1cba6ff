"""The auth strategies a declaration can name; adding one is a class and one line here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ponte.auth.oauth2 import OAuth2Auth
from ponte.auth.simple import ApiKeyAuth, BasicAuth, BearerAuth, NoAuth
from ponte.auth.token_store import build_token_store
from ponte.core.errors import ConfigError
from ponte.declaration.models import ApiKeyAuthSpec, BasicAuthSpec, BearerAuthSpec, OAuth2Config, parse_auth


def _basic(spec: Mapping[str, Any], **_: Any) -> BasicAuth:
    given = parse_auth(BasicAuthSpec, spec)
    return BasicAuth(given.username, given.password)


def _bearer(spec: Mapping[str, Any], **_: Any) -> BearerAuth:
    return BearerAuth(parse_auth(BearerAuthSpec, spec).token)


def _api_key(spec: Mapping[str, Any], **_: Any) -> ApiKeyAuth:
    given = parse_auth(ApiKeyAuthSpec, spec)
    return ApiKeyAuth(given.value, given.header, given.query_param)


def _oauth2(
    spec: Mapping[str, Any], *, verify_tls: bool | str = True, label: str = "oauth2", account: str | None = None
) -> OAuth2Auth:
    config = OAuth2Config.from_mapping(spec, label)
    store = build_token_store(config.token_store) if config.token_store else None
    return OAuth2Auth(config, token_store=store, verify_tls=verify_tls, label=label, account=account)


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
