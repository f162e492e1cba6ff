"""How a stream inherits `defaults:` of its tap declaration: one place, so validation and the engine agree.

A stream's paginator of the same type as `defaults.paginator` (or without a type) is merged over it key by
key, so `paginator: {type: offset, inserts_at: head}` keeps the default page size and total path; a paginator
of another type replaces the default. `record_selector` is taken from the stream when it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def effective_paginator(spec: Mapping[str, Any], stream: Mapping[str, Any]) -> dict[str, Any]:
    """The paginator a stream runs with (`{"type": "none"}` when neither it nor the defaults declare one)."""
    default = dict((spec.get("defaults") or {}).get("paginator") or {"type": "none"})
    own = stream.get("paginator")
    if not own:
        return default
    if own.get("type", default.get("type")) == default.get("type"):
        return {**default, **own}
    return dict(own)


def effective_record_selector(spec: Mapping[str, Any], stream: Mapping[str, Any]) -> str | None:
    """The stream's record selector, else the default one (None: the whole body)."""
    if "record_selector" in stream:
        return stream["record_selector"]
    return (spec.get("defaults") or {}).get("record_selector")
