"""Typed models of the declaration blocks the engine runs on, parsed once from the normalised mapping.

Every default a block has lives here and nowhere else: the engine reads attributes, the JSON Schemas state the
same values as `default` (tests/unit/test_declaration_models.py compares them), and `HttpSettings` takes its
defaults from `HttpSpec`. The models are parsed from the mapping `vocabulary.normalise` produced, so only the
current spelling of each key is read. Blocks that hold `{{ config.x }}` templates (`http`, `errors`,
`rate_limit`, `auth`) are parsed after rendering; template-free ones (paginator, replication) at load time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ponte.core.errors import ConfigError

T = TypeVar("T")

DEFAULT_USER_AGENT = "ponte-elt/0.1 (+https://github.com/ponte-elt)"
DEFAULT_REQUEST_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _given(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keys a block sets: a value that is absent, null or a template rendered empty takes the default."""
    return {k: v for k, v in (data or {}).items() if v not in (None, "")}


def _fields(cls: type, data: Mapping[str, Any] | None) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in _given(data).items() if k in names}


def _number(value: Any, kind: type, label: str, key: str) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{label}: {key} must be a number, got {value!r}; check the setting it comes from") from None


def _bool_or_path(value: Any) -> bool | str:
    """`verify_tls` after rendering: a template yields the text `true`/`false`, or a CA bundle path."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


@dataclass(frozen=True)
class HttpSpec:
    """The `http:` block (rendered): timeouts, TLS, retries."""

    timeout_seconds: float = 60.0
    verify_tls: bool | str = True
    user_agent: str = DEFAULT_USER_AGENT
    max_retries: int = 6
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    rate_limit_wait_seconds: float = 60.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, label: str = "http") -> HttpSpec:
        """Parse a rendered `http:` block; numbers may arrive as rendered template text."""
        given = _fields(cls, data)
        for key in ("timeout_seconds", "backoff_base_seconds", "backoff_max_seconds", "rate_limit_wait_seconds"):
            if key in given:
                given[key] = _number(given[key], float, label, f"http.{key}")
        if "max_retries" in given:
            given["max_retries"] = _number(given["max_retries"], int, label, "http.max_retries")
        if "verify_tls" in given:
            given["verify_tls"] = _bool_or_path(given["verify_tls"])
        return cls(**given)


@dataclass(frozen=True)
class ErrorsSpec:
    """The `errors:` block: where an error body holds its message, how a spent daily quota looks, hints."""

    message_fields: tuple[str, ...] = ("message",)
    daily_quota_when: tuple[str, Any] | None = None
    hints: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> ErrorsSpec:
        given = _given(data)
        marker = given.get("daily_quota_when")
        return cls(
            message_fields=tuple(given.get("message_fields") or cls.message_fields),
            daily_quota_when=(str(marker["field"]), marker["equals"]) if marker else None,
            hints={int(k): " ".join(str(v).split()) for k, v in (given.get("hints") or {}).items()},
        )


@dataclass(frozen=True)
class RateLimitSpec:
    """The `rate_limit:` block (rendered): a rolling budget of `requests` per `per_seconds`, a daily quota."""

    requests: int | None = None
    per_seconds: float = 60.0
    per_day: int | None = None
    quota_key: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, label: str = "rate_limit") -> RateLimitSpec:
        given = _fields(cls, data)
        try:
            for key, kind in (("requests", int), ("per_seconds", float), ("per_day", int)):
                if key in given:
                    given[key] = kind(given[key])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{label}: invalid rate budget ({exc}); check the rate settings") from None
        if "quota_key" in given:
            given["quota_key"] = str(given["quota_key"])
        return cls(**given)


@dataclass(frozen=True)
class CircuitBreakerSpec:
    """The `circuit_breaker:` block (rendered): how many consecutive failures open an API's circuit, and for how long.

    Targets (they write) have it on when the block is absent; taps only when they declare it (`enabled: false`
    turns a declared one off, e.g. from a setting).
    """

    enabled: bool = True
    failures: int = 5
    within_seconds: float = 60.0
    open_seconds: float = 120.0

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any] | None, label: str = "circuit_breaker", *, on_when_absent: bool = False
    ) -> CircuitBreakerSpec:
        """Parse a rendered block; without one the breaker is on only if `on_when_absent` (targets)."""
        if data is None:
            return cls(enabled=on_when_absent)
        given = _fields(cls, data)
        if "enabled" in given:
            enabled = _bool_or_path(given["enabled"])
            if not isinstance(enabled, bool):
                raise ConfigError(f"{label}: circuit_breaker.enabled must be true or false, got {enabled!r}")
            given["enabled"] = enabled
        if "failures" in given:
            given["failures"] = _number(given["failures"], int, label, "circuit_breaker.failures")
        for key in ("within_seconds", "open_seconds"):
            if key in given:
                given[key] = _number(given[key], float, label, f"circuit_breaker.{key}")
        spec = cls(**given)
        if spec.failures < 1 or spec.within_seconds <= 0 or spec.open_seconds <= 0:
            raise ConfigError(
                f"{label}: circuit_breaker needs failures >= 1 and within_seconds, open_seconds > 0, got "
                f"failures={spec.failures}, within_seconds={spec.within_seconds:g}, open_seconds={spec.open_seconds:g}"
            )
        return spec


@dataclass(frozen=True)
class TokenRateSpec:
    """`auth.rate_limit`: token-endpoint calls allowed per window, across the processes sharing a store."""

    requests: int = 5
    per_seconds: float = 60.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, label: str = "oauth2") -> TokenRateSpec:
        given = _fields(cls, data)
        try:
            spec = cls(
                requests=int(given.get("requests", cls.requests)),
                per_seconds=float(given.get("per_seconds", cls.per_seconds)),
            )
            if spec.requests < 1 or spec.per_seconds <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raw = data or {}
            raise ConfigError(
                f"{label}: auth.rate_limit needs requests (a whole number >= 1) and per_seconds (> 0), "
                f"got requests={raw.get('requests')!r}, per_seconds={raw.get('per_seconds')!r}"
            ) from None
        return spec


@dataclass(frozen=True)
class TokenStoreSpec:
    """`auth.token_store`: where OAuth2 tokens live between runs (a JSON file, or a PostgreSQL table)."""

    key: str
    type: str = "file"
    path: str = ".ponte/tokens.json"
    dsn: str | None = None
    table: str = "ponte.oauth_tokens"
    encryption_key: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], label: str = "oauth2") -> TokenStoreSpec:
        given = {k: str(v) for k, v in _fields(cls, data).items()}
        given["key"] = given.get("key", "").strip()
        if not given["key"]:
            raise ConfigError(f"{label}: token_store needs a key (e.g. `bling-{{{{ account.token_store_key }}}}`)")
        if "type" in given:
            given["type"] = given["type"].strip().lower()
        return cls(**given)


@dataclass(frozen=True)
class OAuth2Config:
    """A rendered `auth: {type: oauth2}` block: the token endpoint, the grant and its credentials."""

    token_url: str
    grant_type: str = "client_credentials"
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    client_auth: str = "body"
    token_field: str = "access_token"
    expires_in_field: str = "expires_in"
    extra_params: Mapping[str, Any] = field(default_factory=dict)
    token_request_format: str = "form"
    token_headers: Mapping[str, str] = field(default_factory=dict)
    authorize_url: str | None = None
    redirect_uri: str = "http://127.0.0.1:8977/callback"
    reauth_command: str | None = None
    rate_limit: TokenRateSpec = field(default_factory=TokenRateSpec)
    token_store: TokenStoreSpec | None = None
    timeout_seconds: float = 30.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], label: str = "oauth2") -> OAuth2Config:
        given = _fields(cls, data)
        given.pop("type", None)
        given["rate_limit"] = TokenRateSpec.from_mapping(given.get("rate_limit"), label)
        if "token_headers" in given:
            given["token_headers"] = {str(k): str(v) for k, v in given["token_headers"].items()}
        if given.get("token_store"):
            given["token_store"] = TokenStoreSpec.from_mapping(given["token_store"], label)
        return cls(**given)

    @property
    def store_key(self) -> str | None:
        """The token-store key of this pair of tokens (None without a store)."""
        return self.token_store.key if self.token_store else None


@dataclass(frozen=True)
class BasicAuthSpec:
    """`auth: {type: basic}` (rendered)."""

    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class BearerAuthSpec:
    """`auth: {type: bearer}` (rendered)."""

    token: str = ""


@dataclass(frozen=True)
class ApiKeyAuthSpec:
    """`auth: {type: api_key}` (rendered): the key in a header or in a query parameter."""

    value: str = ""
    header: str | None = None
    query_param: str | None = None


def parse_auth(cls: type[T], data: Mapping[str, Any]) -> T:
    """A simple auth block: every given value as text (templates render to text anyway)."""
    return cls(**{k: str(v) for k, v in _fields(cls, data).items()})


@dataclass(frozen=True)
class AccountsSpec:
    """`accounts:` several accounts of one API in a run, listed by a setting, named in the record `field`."""

    setting: str
    field: str
    defaults: Mapping[str, str] = field(default_factory=dict)
    secret_fields: tuple[str, ...] = ("client_secret",)

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> AccountsSpec | None:
        """The `accounts:` block of a tap declaration, None for a single-account one."""
        block = spec.get("accounts")
        if not block:
            return None
        given = _fields(cls, block)
        if "secret_fields" in given:
            given["secret_fields"] = tuple(given["secret_fields"])
        return cls(**given)


@dataclass(frozen=True)
class TapOptions:
    """Tap-wide knobs of a declaration: the API's time zone, its accounts, how record values are cleaned."""

    timezone: str = "UTC"
    accounts: AccountsSpec | None = None
    empty_dates: frozenset[str] = frozenset()
    date_formats: tuple[str, ...] = ()
    strip_strings: bool = False

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> TapOptions:
        """The options of a tap declaration (the mapping `vocabulary.normalise` produced)."""
        given = _fields(cls, spec)
        return cls(
            timezone=str(given.get("timezone", cls.timezone)),
            accounts=AccountsSpec.of(spec),
            empty_dates=frozenset(given.get("empty_dates") or ()),
            date_formats=tuple(given.get("date_formats") or ()),
            strip_strings=bool(given.get("strip_strings", cls.strip_strings)),
        )

    @property
    def account_field(self) -> str | None:
        """Record field carrying the account name, when the declaration has accounts."""
        return self.accounts.field if self.accounts else None


@dataclass(frozen=True)
class PaginatorSpec:
    """A `paginator:` block with the tap's defaults merged (`stream_defaults.effective_paginator`)."""

    type: str = "none"
    page_size: int = 100
    limit_param: str = "limit"
    offset_param: str = "offset"
    total_field: str | None = None
    inserts_at: str = "tail"
    page_param: str = "page"
    size_param: str = "pageSize"
    start_page: int = 1
    has_next_field: str | None = None
    total_pages_field: str | None = None
    stop_on_short_page: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> PaginatorSpec:
        given = _fields(cls, data)
        for key in ("page_size", "start_page"):
            if key in given:
                given[key] = int(given[key])
        return cls(**given)


@dataclass(frozen=True)
class ReplicationSpec:
    """A stream's `replication:` block: full table, or incremental by cursor or by request window."""

    method: str = "full_table"
    cursor_field: str | None = None
    bookmark: str = "max_value"
    request_param: str | None = None
    request_end_param: str | None = None
    request_format: str = DEFAULT_REQUEST_FORMAT
    lookback_days: float = 0.0
    lookback_minutes: float = 0.0
    max_window_days: float | None = None
    first_run: str = "window"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> ReplicationSpec:
        return cls(**_fields(cls, data))

    @property
    def incremental(self) -> bool:
        """True when the stream asks the server only for changes."""
        return self.method == "incremental"

    @property
    def day_filter(self) -> bool:
        """True when the window parameters (and a window_end bookmark) are dates, not times."""
        return "%H" not in self.request_format


@dataclass(frozen=True)
class IdsFromSpec:
    """`ids_from:` a listing that yields the ids this stream is asked for in batches."""

    path: str
    field: str
    param: str
    params: Mapping[str, Any] = field(default_factory=dict)
    paginator: PaginatorSpec = field(default_factory=PaginatorSpec)
    record_selector: str | None = None
    batch_size: int = 100

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> IdsFromSpec:
        given = _fields(cls, data)
        given["paginator"] = PaginatorSpec.from_mapping(given.get("paginator"))
        if "batch_size" in given:
            given["batch_size"] = int(given["batch_size"])
        return cls(**given)


@dataclass(frozen=True)
class DetailSpec:
    """`detail:` the endpoint whose record is merged over each listed one (selector: the list's, unless stated)."""

    path: str
    record_selector: str | None = None


@dataclass(frozen=True)
class OnlyParentsSpec:
    """`only_parents:` a child stream read only for the parent records whose field a list setting names."""

    settings: tuple[str, ...]
    parent_field: str
    entry_field: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> OnlyParentsSpec:
        return cls(tuple(data["settings"]), str(data["parent_field"]), data.get("entry_field"))


@dataclass(frozen=True)
class ForEachSpec:
    """`for_each:` read a root stream once per value of a list setting."""

    setting: str
    field: str


@dataclass(frozen=True)
class DeletedWhenSpec:
    """`deleted_when:` a record whose `field` equals `equals` is a deletion."""

    field: str
    equals: Any


def parse_optional(cls: type[T], data: Mapping[str, Any] | None) -> T | None:
    """`cls` parsed from a block, None when the block is absent."""
    if not data:
        return None
    parse = getattr(cls, "from_mapping", None)
    return parse(data) if parse else cls(**_fields(cls, data))
