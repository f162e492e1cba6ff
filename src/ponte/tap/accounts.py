"""Several accounts of one API in one run (`accounts:` in a declaration), e.g. the Bling companies of a seller.

Each account is an object of the setting the declaration names (`name` plus whatever the auth block reads as
`{{ account.<field> }}`); fields an account omits come from `accounts.defaults` (shared app credentials) and
`token_store_key` defaults to the name. A declaration without `accounts:` has one implicit account, `None`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ponte.core.errors import ConfigError
from ponte.declaration.models import AccountsSpec
from ponte.declaration.templates import render

ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def accounts_setting(spec: Mapping[str, Any]) -> str | None:
    """The setting listing the accounts, or None for a single-account declaration."""
    block = AccountsSpec.of(spec)
    return block.setting if block else None


def secret_fields(spec: Mapping[str, Any]) -> list[str]:
    """Account fields that must never be printed."""
    block = AccountsSpec.of(spec)
    return list(block.secret_fields if block else AccountsSpec.secret_fields)


def resolve_accounts(spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The configured accounts with defaults filled in; a clear ConfigError for every malformed entry."""
    block = AccountsSpec.of(spec)
    if not block:
        return []
    setting = block.setting
    value = config.get(setting)
    if isinstance(value, str):  # an env var (TAP_BLING_ACCOUNTS) holds JSON
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(f"setting '{setting}' is not valid JSON; expected a list of accounts") from None
    if not value:
        raise ConfigError(
            f"setting '{setting}' lists no accounts; add at least one, e.g. "
            f'[{{"name": "loja1", "client_id": "...", "client_secret": "..."}}]'
        )
    if not isinstance(value, list):
        raise ConfigError(f"setting '{setting}' must be a list of accounts, got {type(value).__name__}")
    defaults = render(dict(block.defaults), {"config": dict(config)})
    accounts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, raw in enumerate(value):
        if not isinstance(raw, Mapping) or not raw.get("name"):
            raise ConfigError(f"{setting}[{index}] needs a 'name' (letters, digits, '-', '_', '.')")
        name = str(raw["name"])
        if not ACCOUNT_NAME.match(name):
            raise ConfigError(f"{setting}[{index}]: account name '{name}' may hold only letters, digits, '-', '_', '.'")
        if name in seen:
            raise ConfigError(f"{setting}[{index}]: account '{name}' is listed twice")
        seen.add(name)
        account = {k: v for k, v in defaults.items() if v not in (None, "")}
        account.update({k: v for k, v in raw.items() if v not in (None, "")})
        account.setdefault("token_store_key", name)
        accounts.append(account)
    return accounts


def find_account(spec: Mapping[str, Any], config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """One account by name, or a ConfigError listing the configured names."""
    accounts = resolve_accounts(spec, config)
    for account in accounts:
        if account["name"] == name:
            return account
    names = ", ".join(a["name"] for a in accounts) or "(none)"
    raise ConfigError(f"no account named '{name}'; configured accounts: {names}")
