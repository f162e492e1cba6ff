"""The OAuth2 authenticator of one account of a tap, built as the tap builds it, for the consent step outside a
run: `ponte auth` from a shell and the panel's "Autorizar" both get the token pair through it, into the same store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ponte.auth import build_authenticator
from ponte.auth.authorize import DEFAULT_REDIRECT_URI
from ponte.auth.oauth2 import OAuth2Auth
from ponte.core.errors import ConfigError
from ponte.declaration import load_tap_spec
from ponte.declaration.declaration_paths import declaration_path
from ponte.declaration.templates import render
from ponte.http.redaction import Redactor
from ponte.tap.accounts import find_account, resolve_accounts, secret_fields
from ponte.tap.runtime import effective_config, secret_values


def account_authenticator(
    source: str, config: Mapping[str, Any], account_name: str | None, label: str
) -> tuple[OAuth2Auth, Redactor, str]:
    """The OAuth2Auth of `account_name` of taps/<source>.yml with `config` (the tap's settings), a redactor of
    every secret it knows, and the redirect URI the app registered."""
    path = declaration_path(source)
    spec = load_tap_spec(path).data
    settings = spec.get("settings") or []
    cfg = effective_config(settings, config)
    redactor = Redactor(secret_values(settings, cfg))
    if spec.get("accounts"):
        if not account_name:
            names = ", ".join(a["name"] for a in resolve_accounts(spec, cfg)) or "(none)"
            raise ConfigError(f"--account is required for {source}: configured accounts: {names}")
        account = find_account(spec, cfg, account_name)
        redactor.add(*(str(account[k]) for k in secret_fields(spec) if account.get(k)))
    else:
        account = {"name": account_name} if account_name else {}
    block = render(spec.get("auth") or {}, {"config": cfg, "account": account})
    if block.get("type") != "oauth2" or block.get("grant_type") != "authorization_code":
        raise ConfigError(
            f"{path}: auth is not an oauth2 authorization_code grant, so `ponte auth` has nothing to authorize"
        )
    if not block.get("token_store"):
        raise ConfigError(f"{path}: auth declares no token_store, so there is nowhere to keep the tokens")
    http = render(spec.get("http") or {}, {"config": cfg, "account": account})
    verify = http.get("verify_tls", True)
    if isinstance(verify, str) and verify.lower() in ("true", "false"):
        verify = verify.lower() == "true"
    who = account.get("name") or source
    auth = build_authenticator(block, verify_tls=verify, label=label, account=account.get("name"))
    redactor.add(*auth.secrets())
    auth.on_new_secret = redactor.add
    if not auth.config.client_id:
        raise ConfigError(f"no client_id for account '{who}': set it in the account or the client_id setting")
    return auth, redactor, str(block.get("redirect_uri") or DEFAULT_REDIRECT_URI)


def account_names(source: str, config: Mapping[str, Any]) -> list[str]:
    """The names of the configured accounts of taps/<source>.yml (empty for a tap without `accounts:`)."""
    spec = load_tap_spec(declaration_path(source)).data
    if not spec.get("accounts"):
        return []
    cfg = effective_config(spec.get("settings") or [], config)
    return [str(a["name"]) for a in resolve_accounts(spec, cfg)]
