"""What every stream of one tap run shares: effective config, the HTTP client, the run clock."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ponte.auth.registry import build_authenticator
from ponte.core.errors import QuotaExhausted
from ponte.declaration.models import TapOptions
from ponte.declaration.setting_aliases import apply_aliases
from ponte.declaration.templates import render
from ponte.http import HttpClient
from ponte.http.circuit_breaker import CircuitRegistry
from ponte.http.client_factory import build_client
from ponte.http.redaction import Redactor, weak_secret_warnings
from ponte.tap.accounts import resolve_accounts, secret_fields


def effective_config(settings: list[dict[str, Any]], config: Mapping[str, Any]) -> dict[str, Any]:
    """Declared defaults, then the user's values; templated defaults (`base_url`) rendered last."""
    merged: dict[str, Any] = {s["name"]: s.get("default") for s in settings}
    merged.update({k: v for k, v in config.items() if v not in (None, "")})
    templated = {s["name"] for s in settings if isinstance(s.get("default"), str) and "{{" in s["default"]}
    for name in templated:
        if config.get(name) in (None, ""):
            merged[name] = render(merged[name], {"config": merged})
    return merged


def secret_settings(settings: list[dict[str, Any]], config: Mapping[str, Any]) -> dict[str, str]:
    """Name → configured value of every setting declared `secret: true`."""
    return {s["name"]: str(config[s["name"]]) for s in settings if s.get("secret") and config.get(s["name"])}


def secret_values(settings: list[dict[str, Any]], config: Mapping[str, Any]) -> list[str]:
    """The configured values of every setting declared `secret: true`."""
    return list(secret_settings(settings, config).values())


@dataclass
class TapRuntime:
    """Built once per tap process from the declaration and the config.

    With `accounts:` there is one HttpClient per account (its own authenticator, rate budget and daily quota,
    as APIs like Bling count limits per account); `client` is then the first account's.
    """

    name: str
    spec: dict[str, Any]
    base_dir: Path
    config: dict[str, Any]
    client: HttpClient
    redactor: Redactor
    timezone: ZoneInfo
    started_at: dt.datetime
    run_version: int
    accounts: list[dict[str, Any]] = field(default_factory=list)
    clients: dict[str, HttpClient] = field(default_factory=dict)
    # ids listed by `ids_from`, once per account and run, shared by every stream and parent record needing them
    listed_ids: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    # whole listings a root stream read from its first page to its last, by `listing_key`: an `ids_from` asking
    # for the same listing (Bling's /produtos?codigos[] for produtos_sku and estoques_saldos) takes its ids there
    listed_records: dict[str, list[Any]] = field(default_factory=dict)
    # accounts (None: the only one) whose daily quota ran out in this run: their streams stop, others go on
    spent: dict[str | None, QuotaExhausted] = field(default_factory=dict)

    @cached_property
    def account_field(self) -> str | None:
        """Record field carrying the account name, when the declaration has accounts (read per record)."""
        return TapOptions.of(self.spec).account_field

    @staticmethod
    def listing_key(account: str | None, path: str, params: Mapping[str, Any], paging: Any, selector: Any) -> str:
        """What makes two listings the same requests: account, path, the params sent (None and [] are not sent),
        paginator and record selector."""
        sent = {k: v for k, v in params.items() if v is not None and v != []}
        return json.dumps([account, path, sent, repr(paging), selector], sort_keys=True, default=str)

    def client_for(self, account: str | None) -> HttpClient:
        """The account's client (the only client when there are no accounts)."""
        if account is None or not self.clients:
            return self.client
        return self.clients[account]

    def note_spent(self, account: str | None, exc: QuotaExhausted) -> None:
        """Remember that an account's daily quota ran out (the first reason given is kept)."""
        self.spent.setdefault(account, exc)

    def scope(self, account: str | None = None) -> dict[str, Any]:
        """Template scope: the config, plus the account's fields when given."""
        found = next((a for a in self.accounts if a["name"] == account), {}) if account else {}
        return {"config": self.config, "account": found}

    @property
    def base_url(self) -> str:
        """The rendered base URL without a trailing slash."""
        return str(render(self.spec["base_url"], {"config": self.config})).rstrip("/")

    def url(self, path: str) -> str:
        """Base URL + a rendered path (with or without its leading slash)."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    @property
    def started_iso(self) -> str:
        """Run start as an ISO timestamp (UTC), used in state markers."""
        return self.started_at.astimezone(dt.UTC).isoformat()

    def today(self) -> dt.datetime:
        """The run start in the API's time zone: incremental windows end here."""
        return self.started_at.astimezone(self.timezone)


def build_runtime(
    spec: dict[str, Any],
    base_dir: Path,
    config: Mapping[str, Any],
    logger: logging.Logger,
    *,
    started_at: dt.datetime | None = None,
) -> TapRuntime:
    """Create the clients, budgets and auth the declaration asks for (one client per account).

    `started_at` is the tap's start: incremental windows end there and full-table versions derive from it.
    """
    name = f"tap-{spec['name']}"
    cfg = effective_config(spec.get("settings", []), apply_aliases(name, spec.get("settings", []), config))
    secrets = secret_settings(spec.get("settings", []), cfg)
    redactor = Redactor(secrets.values())
    for warning in weak_secret_warnings(name, secrets):
        logger.warning(warning)
    accounts = resolve_accounts(spec, cfg)
    for account in accounts:
        redactor.add(*(str(account[k]) for k in secret_fields(spec) if account.get(k)))
    timezone = ZoneInfo(TapOptions.of(spec).timezone)
    circuits = CircuitRegistry()  # the accounts of one API share its circuit breaker
    clients = {
        a["name"]: build_client(
            spec,
            {"config": cfg, "account": a},
            redactor,
            timezone,
            logger,
            f"{name} account '{a['name']}'",
            plugin=name,
            build_auth=build_authenticator,
            circuits=circuits,
        )
        for a in accounts
    }
    client = (
        next(iter(clients.values()))
        if clients
        else build_client(
            spec,
            {"config": cfg},
            redactor,
            timezone,
            logger,
            name,
            plugin=name,
            build_auth=build_authenticator,
            circuits=circuits,
        )
    )
    now = started_at or dt.datetime.now(dt.UTC)
    return TapRuntime(
        name=name,
        spec=spec,
        base_dir=base_dir,
        config=cfg,
        client=client,
        redactor=redactor,
        timezone=timezone,
        started_at=now,
        run_version=int(now.timestamp() * 1000),
        accounts=accounts,
        clients=clients,
    )
