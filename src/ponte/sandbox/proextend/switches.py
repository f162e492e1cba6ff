"""The ProExtend sandbox's runtime switches: ProExtend's defaults for the shared ones, and its own.

Source: /work/shared/seeds/proextend-sync-flow.md ("Fluxo de Sincronização"), the only source. What it states is
plain; what it leaves open (how a batch's 422 names the offending record, all-or-nothing batches, the 401/429
bodies, list metadata, ...) is a switch flagged `guess=True`.
"""

from __future__ import annotations

from ponte.sandbox.switches import COMMON_SWITCHES, Switch, non_negative, positive, real_clock_or_moment


def _status(value: int) -> str | None:
    return None if 400 <= value <= 599 else "must be 4xx/5xx"


# Seed: sync-status says "rate_limit": 60 for the API client; 429 "Limite de taxa excedido".
PROEXTEND_OVERRIDES: tuple[Switch, ...] = (
    Switch("rate_limit", 60, "Requests allowed per API key per rate window; ProExtend: 60 per minute (0 = no limit).", check=non_negative),
    Switch("rate_window_seconds", 60.0, "Length of each API key's fixed rate window, in seconds.", check=positive),
    Switch("retry_after_header", True, "Send Retry-After (seconds until the key's window ends) on 429 responses (Laravel's throttle does).", guess=True),
    Switch("rate_headers", True, "Send X-RateLimit-*/RateLimit-* headers on allowed responses (Laravel's throttle sends X-RateLimit-Limit/Remaining).", guess=True),
    Switch("now", "", "The sandbox clock: empty = the real clock (UTC), which sync-status' last_sync uses; an ISO 8601 date-time with offset freezes it.", check=real_clock_or_moment),
)  # fmt: skip

PROEXTEND_SWITCHES: tuple[Switch, ...] = (
    Switch("max_batch_items", 100, "Most records one .../sync request accepts (seed: 'lotes de até 100 registros'; 0 = no limit).", check=non_negative),
    Switch("over_limit_status", 422, "HTTP status of a batch with more than max_batch_items records (a Laravel max:100 rule -> 422).", guess=True, check=_status),
    Switch("batch_mode", "atomic", "'atomic': one invalid record -> 422 and nothing of the batch is stored; 'partial': valid records are stored, 200 with data.failed and data.errors.", guess=True, choices=("atomic", "partial")),
    Switch("batch_error_style", "dotted", "How a batch's 422 names the offending record: 'dotted' (Laravel array rules: errors {'professors.1.cpf': [...]}), 'per_record' (errors {'1': {'code': 'PROF002', 'cpf': [...]}}, keyed by position) or 'whole_batch' (the seed's examples: errors {'cpf': [...]}, no record named).", guess=True, choices=("dotted", "per_record", "whole_batch")),
    Switch("unique_scope", "platform", "Where email/CPF must be unique: 'platform' (professors and students together: 'único na plataforma') or 'entity' (each entity on its own).", guess=True, choices=("platform", "entity")),
    Switch("professor_cpf_required", True, "professors[].cpf is required (seed field list) - the seed's own 'Sincronização em Lote' example omits it.", guess=True),
    Switch("cpf_check_digits", False, "Also verify the CPF check digits (the seed's examples, e.g. 12345678901, would fail; it only asks for 11 digits).", guess=True),
    Switch("responsible_must_exist", False, "courses[].responsible_code must be a synced professor and responsible_email a known user's email (the seed syncs courses before professors, so its own example would fail).", guess=True),
    Switch("semester_pattern", r"^\d{4}\.[1-9]$", "Regex a semester must match (seed: 'YYYY.N', e.g. 2025.1, 2025.2).", guess=True),
    Switch("omitted_fields", "keep", "An update (existing code) that omits an optional field: 'keep' the stored value (updateOrCreate) or 'clear' it.", guess=True, choices=("keep", "clear")),
    Switch("per_page_over_max", "clamp", "per_page above 100 on list endpoints: 'clamp' to 100 or 'error' (422).", guess=True, choices=("clamp", "error")),
)  # fmt: skip


def merged_common() -> tuple[Switch, ...]:
    """The shared switches with ProExtend's defaults in place (same order as COMMON_SWITCHES)."""
    overrides = {s.name: s for s in PROEXTEND_OVERRIDES}
    return tuple(overrides.get(s.name, s) for s in COMMON_SWITCHES)


__all__ = ["PROEXTEND_OVERRIDES", "PROEXTEND_SWITCHES", "merged_common"]
