"""The Bling sandbox's runtime switches: Bling's defaults for the shared ones, and its own.

Every behaviour docs/api-facts-bling-totvs.md marks [G] (not documented, not corroborated) is a switch declared
with `guess=True`, so `ponte sandbox bling --help`, `/_sandbox/config` and the code agree on what is a guess.
Time-to-live switches are in seconds and accept fractions, so tests can make a code or token expire at once
(`0`) instead of sleeping.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ponte.sandbox.bling.webhooks import WEBHOOK_SWITCHES
from ponte.sandbox.switches import COMMON_SWITCHES, Switch, non_negative, positive, real_clock_or_moment


def _positive_or_null(value: Any) -> str | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return None
    return "expects null (no limit) or an integer >= 1"


def _slugs(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    return "expects a list of company slugs"


def _status(value: int) -> str | None:
    return None if 400 <= value <= 599 else "must be 4xx/5xx"


def _url(value: str) -> str | None:
    return None if value == "" or value.startswith(("http://", "https://")) else "expects an http(s) URL or ''"


# Webhooks the accounts send when their stock changes (`emitter.py`). The sender's own switches (duplicates,
# reordering, retries) are reused under a `webhook_` prefix, so `ponte sandbox bling-webhooks` and the sandbox
# describe them alike.
STOCK_WEBHOOK_SWITCHES: tuple[Switch, ...] = (
    Switch("webhook_url", "", "Receiver of every account's webhooks (one app, one URL; each event carries its account's companyId): stock and virtual_stock events after every stock change (POST /estoques, simulated sales). Empty = none are sent.", check=_url),
    Switch("webhooks", True, "Send webhooks at all (off: stock changes send nothing, as if the app's webhooks were disabled)."),
    Switch("webhook_stock_action", "created", "Action of the stock event a posting or sale sends: stock.created (what a captured real posting sent) or stock.updated.", guess=True, choices=("created", "updated")),
    Switch("webhook_virtual_stock", True, "Also send virtual_stock.updated (the product, and kits it is part of) after each stock change; Bling switches virtual_stock on with stock."),
    Switch("webhook_delay_ms", 0, "Delay between a stock change and its delivery, in ms (one report measured 9-22 s for virtual_stock).", guess=True, check=non_negative),
    Switch("webhook_reorder_hold_ms", 200, "With webhook_reorder_window > 1: the longest an event waits for its window to fill before the window is shuffled and sent, in ms.", guess=True, check=non_negative),
    *(dataclasses.replace(s, name=f"webhook_{s.name}") for s in WEBHOOK_SWITCHES),
)  # fmt: skip


# Shared switches with the values Bling documents [C] /limites (per account, all endpoints together).
BLING_OVERRIDES: tuple[Switch, ...] = (
    Switch("rate_limit", 3, "Requests allowed per account (company) per rate window; Bling: 3 per second (0 = no limit).", check=non_negative),
    Switch("rate_window_seconds", 1.0, "Length of each account's fixed rate window, in seconds (the 429 body still says period 'second').", check=positive),
    Switch("daily_quota", 120_000, "Requests allowed per account per sandbox day; Bling: 120,000 (0 = no quota).", check=non_negative),
    Switch("rate_headers", False, "Send X-RateLimit-*/RateLimit-* headers; Bling documents none.", guess=True),
    Switch("retry_after_header", False, "Send Retry-After on 429 responses; Bling documents none.", guess=True),
    Switch("now", "", "The sandbox clock: empty = the real clock (Brasília time), which taps' incremental windows also use; an ISO 8601 date-time with offset freezes it (touches, daily quotas, open date ranges).", check=real_clock_or_moment),
)  # fmt: skip

BLING_SWITCHES: tuple[Switch, ...] = (
    # --- OAuth 2.0 -------------------------------------------------------------------------------------------
    Switch("redirect_uri", "http://127.0.0.1:8977/callback", "The app's registered redirect URI; authorize always redirects there (a redirect_uri sent by the client is ignored, as documented)."),
    Switch("code_ttl_seconds", 60.0, "Lifetime of an authorization code (Bling: 1 minute).", check=non_negative),
    Switch("access_token_ttl_seconds", 21_600.0, "Lifetime of an access token (Bling: 6 h; the response's expires_in).", check=non_negative),
    Switch("refresh_token_ttl_seconds", 2_592_000.0, "Lifetime of a refresh token (Bling: 30 days).", check=non_negative),
    Switch("refresh_grace_seconds", 0.0, "How long a rotated (old) refresh token keeps working; 0 = it dies at once.", guess=True, check=non_negative),
    Switch("refresh_revokes_access_token", False, "A refresh also kills the access token issued with the old refresh token.", guess=True),
    Switch("token_rate_limit", 20, "Token-endpoint requests allowed per IP per token window (Bling: 20 in 60 s) before the IP is blocked (0 = no limit).", check=non_negative),
    Switch("token_rate_window_seconds", 60.0, "Length of the token endpoint's sliding window, in seconds.", check=positive),
    Switch("token_block_seconds", 3_600.0, "How long an IP stays blocked on the token endpoint (Bling: 60 min).", check=non_negative),
    Switch("token_block_status", 429, "HTTP status (with a TOO_MANY_REQUESTS body) of token requests from a blocked IP.", guess=True, check=_status),
    Switch("invalid_client_status", 401, "HTTP status of invalid_client answers of the token endpoint.", guess=True, check=_status),
    Switch("invalid_grant_status", 400, "HTTP status of invalid_grant / invalid_request answers of the token endpoint.", guess=True, check=_status),
    Switch("token_accept_json", False, "Accept a JSON body on the token endpoint (docs: form-encoded only; else 400 invalid_request).", guess=True),
    Switch("token_credentials_in_body", False, "Accept client_id/client_secret in the token request body (the docs forbid it: 400 invalid_request)."),
    Switch("authorize_outcome", "approve", "What the (simulated) user answers on the consent page: approve, or access_denied on the redirect.", choices=("approve", "access_denied")),
    Switch("authorize_unknown_client", "redirect", "Unknown client_id on authorize: 'redirect' with error=invalid_client to the registered URI, or 'page' (400, no redirect).", guess=True, choices=("redirect", "page")),
    Switch("inactive_companies", [], "Company slugs whose Bling account is inactive: 'Empresa inativa' (UNAUTHORIZED_ERROR) on authorize, token and API requests.", check=_slugs),
    Switch("faults_on_oauth", False, "Injected faults (fail/drop/bad_json/latency) also hit the OAuth endpoints (off: only API requests)."),
    # --- lists and filters -------------------------------------------------------------------------------------
    Switch("limite_over_max", "clamp", "limite above 100: 'clamp' to 100 or 'error' (400).", guess=True, choices=("clamp", "error")),
    Switch("saldo_filter_default_applies", False, "Without filtroSaldoEstoque, apply its spec default 1 (positive stock only) on /produtos and /estoques/saldos.", guess=True),
    Switch("depositos_default_active", True, "Without situacao, /depositos lists active deposits only (the spec default situacao=1).", guess=True),
    Switch("max_ids_per_request", None, "Most idsProdutos[] one /estoques/saldos or /produtos/lotes call accepts (null = no limit; over it: 400).", guess=True, check=_positive_or_null),
    Switch("one_year_rule_open_ranges", False, "A lone ...Inicial date more than a year before now is also refused (400), as if ...Final were now.", guess=True),
    Switch("variations_in_todos", True, "/produtos with tipo=T (the default) lists variation children too, not only their parents.", guess=True),
    Switch("excluded_product_situacao", "I", "situacao shown for excluded (deleted) products, listed with criterio 4/5: 'I' (the spec's enum) or 'E'.", guess=True, choices=("I", "E")),
    Switch("contatos_todos_includes_excluded", True, "/contatos criterio=1 (Todos) also lists excluded contacts (situacao E).", guess=True),
    Switch("empty_date", "zeros", "How an unset date is sent: 'zeros' (0000-00-00), 'null' or 'empty' ('').", guess=True, choices=("zeros", "null", "empty")),
    Switch("refuse_stock_on_variation_parent", True, "POST /estoques refuses a parent product with variations (stock lives on the variations).", guess=True),
    *STOCK_WEBHOOK_SWITCHES,
)  # fmt: skip


def merged_common() -> tuple[Switch, ...]:
    """The shared switches with Bling's defaults in place (same order as COMMON_SWITCHES)."""
    overrides = {s.name: s for s in BLING_OVERRIDES}
    return tuple(overrides.get(s.name, s) for s in COMMON_SWITCHES)


__all__ = ["BLING_OVERRIDES", "BLING_SWITCHES", "STOCK_WEBHOOK_SWITCHES", "merged_common"]
