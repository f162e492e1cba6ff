"""Shared HTTP settings are added to every tap and API target by code, not copied into their YAML."""

from __future__ import annotations

import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from ponte.auth.registry import build_authenticator
from ponte.declaration import find_declarations, load_declaration
from ponte.http.client_factory import build_client
from ponte.http.redaction import Redactor

REPO = Path(__file__).resolve().parents[2]


def test_no_declaration_copies_the_shared_http_settings_yet_every_http_plugin_has_them() -> None:
    for kind, path in find_declarations(REPO):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert "backoff_base_seconds" not in (raw.get("http") or {}), path.name
        data = load_declaration(path, kind).data
        names = [s["name"] for s in data.get("settings") or []]
        if kind in ("tap", "target") and data.get("format") != "line_files":
            assert names.count("backoff_base_seconds") == 1, path.name
            assert data["http"]["backoff_base_seconds"] == "{{ config.backoff_base_seconds }}", path.name
        else:
            assert "backoff_base_seconds" not in names, path.name


def test_the_shared_setting_reaches_the_client_and_a_declared_default_wins(tmp_path: Path) -> None:
    def retry_base(declaration: Path, config: dict) -> float:
        spec = load_declaration(declaration, "target" if declaration.parent.name == "targets" else "tap").data
        default = next(s["default"] for s in spec["settings"] if s["name"] == "backoff_base_seconds")
        scope = {"config": {"backoff_base_seconds": default, "state_dir": str(tmp_path), **config}}
        client = build_client(spec, scope, Redactor(), ZoneInfo("UTC"), logging.getLogger("t"), "p", plugin="p",
                              build_auth=build_authenticator)  # fmt: skip
        return client.settings.retry.base_seconds

    sienge = REPO / "taps" / "sienge.yml"
    assert retry_base(sienge, {"subdomain": "x", "username": "u", "password": "p"}) == 1.0
    assert retry_base(sienge, {"backoff_base_seconds": 0.25, "username": "u", "password": "p"}) == 0.25
    assert retry_base(REPO / "targets" / "retailportal.yml", {"api_key": "k"}) == 0.5


def test_an_old_setting_name_still_sets_the_new_one_and_says_which(caplog: pytest.LogCaptureFixture) -> None:
    from ponte.declaration.setting_aliases import apply_aliases

    settings = load_declaration(REPO / "taps" / "sienge.yml", "tap").data["settings"]
    with caplog.at_level(logging.WARNING, logger="ponte.deprecation"):
        from_config = apply_aliases("tap-sienge", settings, {"requests_per_window": 7}, environ={})
        from_env = apply_aliases("tap-sienge", settings, {}, environ={"TAP_SIENGE_RATE_WINDOW_SECONDS": "2.5"})
        both = apply_aliases("tap-sienge", settings, {"rate_limit_requests": 9, "requests_per_window": 7}, environ={})
    assert from_config == {"rate_limit_requests": 7}
    assert from_env == {"rate_limit_seconds": 2.5}
    assert both == {"rate_limit_requests": 9}
    assert (
        "tap-sienge: setting requests_per_window is deprecated and works until ponte 0.3: use rate_limit_requests "
        "(TAP_SIENGE_RATE_LIMIT_REQUESTS)" in caplog.text
    )
    assert (
        "TAP_SIENGE_RATE_WINDOW_SECONDS is deprecated" in caplog.text
        and "(TAP_SIENGE_RATE_LIMIT_SECONDS)" in caplog.text
    )
    assert "requests_per_window is deprecated and ignored, since rate_limit_requests" in caplog.text


def test_every_plugin_with_a_rate_has_the_same_two_settings() -> None:
    for kind, path in find_declarations(REPO):
        data = load_declaration(path, kind).data
        if data.get("rate_limit"):
            names = {s["name"] for s in data["settings"]}
            assert {"rate_limit_requests", "rate_limit_seconds"} <= names, path.name
            assert data["rate_limit"]["requests"] == "{{ config.rate_limit_requests }}", path.name
            assert data["rate_limit"]["per_seconds"] == "{{ config.rate_limit_seconds }}", path.name


def test_an_old_setting_name_wins_over_a_default_filled_in_under_the_new_one() -> None:
    from ponte.declaration.setting_aliases import apply_aliases

    settings = load_declaration(REPO / "taps" / "bling.yml", "tap").data["settings"]
    sdk_config = {"rate_limit_requests": 3, "rate_limit_seconds": 1.05, "requests_per_second": 20}
    assert apply_aliases("tap-bling", settings, sdk_config, environ={})["rate_limit_requests"] == 20
