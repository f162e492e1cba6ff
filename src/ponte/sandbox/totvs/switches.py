"""The TOTVS sandbox's runtime switches: TOTVS defaults for the shared ones, and its own per flavour.

Every behaviour docs/api-facts-bling-totvs.md §5-6 does not confirm ([G]) is declared with `guess=True`, so
`ponte sandbox totvs --help`, `/_sandbox/config` and the code agree on what is a guess. Time-to-live switches
are seconds and accept fractions (0 expires a token at once, no sleeping in tests).
"""

from __future__ import annotations

from typing import Any

from ponte.sandbox.switches import COMMON_SWITCHES, Switch, non_negative, real_clock_or_moment

FLAVOURS = ("protheus", "plant", "rm")
TABLES = ("SB1", "SC2", "SB8", "SD3")


def _positive(value: float) -> str | None:
    return None if value >= 1 else "must be at least 1"


def _tables(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) and v.upper() in TABLES for v in value):
        return None
    return f"expects a list of table aliases among {', '.join(TABLES)}"


# Shared switches with TOTVS's values: no documented rate limit or rate headers, real clock by default.
TOTVS_OVERRIDES: tuple[Switch, ...] = (
    Switch("rate_limit", 0, "Requests allowed per flavour (protheus, plant, rm) per rate window; TOTVS documents no limit (0 = no limit).", guess=True, check=non_negative),
    Switch("rate_headers", False, "Send X-RateLimit-*/RateLimit-* headers; TOTVS documents none.", guess=True),
    Switch("now", "", "The sandbox clock: empty = the real clock (touches land in taps' windows); an ISO 8601 date-time with offset freezes it.", check=real_clock_or_moment),
)  # fmt: skip

TOTVS_SWITCHES: tuple[Switch, ...] = (
    # --- every flavour ------------------------------------------------------------------------------------------
    Switch("page_size_max", 1000, "Largest pageSize accepted by every list.", guess=True, check=_positive),
    Switch("page_size_over_max", "error", "pageSize above page_size_max: 'error' (400 TOTVS error) or 'clamp'.", guess=True, choices=("error", "clamp")),
    Switch("unknown_fields", "error", "Unknown names in fields= or order=: 'error' (400) or 'ignore' them.", guess=True, choices=("error", "ignore")),
    Switch("error_code_type", "string", "Type of the error body's code: 'string' (TTALK ErrorModel) or 'number' (as some Protheus builds send).", guess=True, choices=("string", "number")),
    Switch("commit_then_drop_every", 0, "Every Nth write call (plant API POST/PATCH, Protheus appointment and lot status, counted per flavour): commit, then close the connection without answering (a lost answer; 0 = off).", guess=True, check=non_negative),
    Switch("faults_on_auth", False, "Injected faults (fail/drop/bad_json/latency) also hit the token endpoints (off: only data requests)."),
    # --- Protheus --------------------------------------------------------------------------------------------
    Switch("protheus_access_ttl_seconds", 3600.0, "Lifetime of a Protheus access token (TDN: 1 h; the response's expires_in).", check=non_negative),
    Switch("protheus_refresh_ttl_seconds", 86400.0, "Lifetime of a Protheus refresh token (TDN: 24 h).", check=non_negative),
    Switch("protheus_refresh_rotates", True, "A Protheus refresh answers a new refresh token and the old one dies (off: the same one stays valid).", guess=True),
    Switch("protheus_token_status", 201, "HTTP status of a successful Protheus token response.", guess=True, check=lambda v: None if 200 <= v <= 299 else "must be 2xx"),
    Switch("protheus_tenant_required", True, "Protheus API requests without the TenantId header get 400 (off: they run in the first tenant, 01,01).", guess=True),
    Switch("protheus_page_size_default", 20, "pageSize of Protheus lists when the client sends none.", guess=True, check=_positive),
    Switch("protheus_row_stamp", ["SB1", "SC2"], "Tables created with UseRowStamp=1: they have S_T_A_M_P_ (UTC, 'YYYY-MM-DDTHH:MM:SS.mmm').", guess=True, check=_tables),
    Switch("protheus_remaining_records", False, "genericQuery answers also carry remainingRecords (said of FWAdapterBaseV2).", guess=True),
    Switch("protheus_error_code_field", "errorCode", "Name of the code field in the errors of the Protheus write services: 'errorCode' (SetRestFault's JSON, the installation's own service) or 'code' (TTALK ErrorModel).", guess=True, choices=("errorCode", "code")),
    Switch("protheus_product_from_order", True, "A production appointment without D3_COD takes the order's product, as MATA250's trigger on D3_OP fills it (off: 400, D3_COD required).", guess=True),
    Switch("mrp_empty_is_404", False, "mrpproductionorders answers 404 (TOTVS error) when nothing matches, as its TTALK document lists (off: 200 with no items).", guess=True),
    # --- the plant's own API ------------------------------------------------------------------------------------
    Switch("plant_access_ttl_seconds", 900.0, "Lifetime of a plant API access token (its expires_in).", guess=True, check=non_negative),
    Switch("plant_page_size_default", 20, "pageSize of plant API lists when the client sends none.", guess=True, check=_positive),
    Switch("plant_since_inclusive", True, "atualizadoDesde keeps records updated exactly at that moment (>=; off: >).", guess=True),
    # --- RM -------------------------------------------------------------------------------------------------
    Switch("rm_access_ttl_seconds", 300.0, "Lifetime of an RM access token (TDN example: expires_in 300; JwtTokenExpireMinutes).", check=non_negative),
    Switch("rm_refresh_ttl_seconds", 86400.0, "Lifetime of an RM refresh token.", guess=True, check=non_negative),
    Switch("rm_refresh_rotates", True, "An RM refresh answers a new refresh token and the old one dies.", guess=True),
    Switch("rm_page_size_default", 10, "pageSize of RM lists when the client sends none (the TTALK parameter's default).", guess=True, check=_positive),
    Switch("rm_total", True, "RM collections carry \"total\" next to hasNext and items (seen on real servers)."),
)  # fmt: skip


def merged_common() -> tuple[Switch, ...]:
    """The shared switches with TOTVS's defaults in place (same order as COMMON_SWITCHES)."""
    overrides = {s.name: s for s in TOTVS_OVERRIDES}
    return tuple(overrides.get(s.name, s) for s in COMMON_SWITCHES)


__all__ = ["FLAVOURS", "TABLES", "TOTVS_OVERRIDES", "TOTVS_SWITCHES", "merged_common"]
