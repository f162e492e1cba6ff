"""meltano.yml must agree with the declarations: their settings, secrets marked sensitive, nothing calling home."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import ponte.linefiles  # noqa: F401 (registers the checks of keyence's line_files declaration)
from ponte.declaration import load_declaration
from ponte.service.webhooks.context import resolve_bling

ROOT = Path(__file__).parents[2]
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))


def plugin(kind: str, name: str) -> dict:
    return next(p for p in PROJECT["plugins"][kind] if p["name"] == name)


@pytest.mark.parametrize("source", sorted({p.stem.split("-")[0] for p in (ROOT / "taps").glob("*.yml")}))
def test_tap_settings_in_meltano_match_the_declaration(source: str) -> None:
    """taps/<source>.yml, or the flavours taps/<source>-<flavour>.yml of one plugin (their settings united)."""
    files = [ROOT / "taps" / f"{source}.yml", *sorted((ROOT / "taps").glob(f"{source}-*.yml"))]
    declarations = [load_declaration(f, "tap") for f in files if f.is_file()]
    declared = [s for d in declarations for s in d.data["settings"]]
    meltano = {s["name"]: s for s in plugin("extractors", f"tap-{source}")["settings"]}
    # meltano.yml also declares singer-sdk's own settings (stream maps, flattening, …): the plugins' `--about`
    # is compared with meltano.yml in tests/integration/test_plugin_about.py.
    assert {s["name"] for s in declared} <= set(meltano)
    for setting in declared:
        assert bool(meltano[setting["name"]].get("sensitive")) == bool(setting.get("secret")), setting["name"]


def test_every_plugin_is_declared_in_full_and_usage_stats_are_off() -> None:
    assert PROJECT["send_anonymous_usage_stats"] is False
    for kind in ("extractors", "loaders"):
        for entry in PROJECT["plugins"][kind]:
            assert {"namespace", "pip_url", "executable", "settings"} <= set(entry), entry["name"]
            assert all("kind" in s for s in entry["settings"]), entry["name"]
            # Meltano 4.4.1 cannot pass a decimal setting set by an environment variable: numbers with decimals
            # are declared `kind: string` (see tests/integration/test_meltano_settings_env.py)
            assert not [s["name"] for s in entry["settings"] if s["kind"] == "decimal"], entry["name"]
            assert "==" in entry["pip_url"] or entry["pip_url"] == "-e .", f"{entry['name']}: pin the version"
    assert {e["name"] for e in PROJECT["environments"]} == {"dev", "demo", "prod"}


def test_the_service_reads_tap_bling_from_meltano_yml_and_its_includes_without_asking_meltano(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without TAP_BLING_CLIENT_SECRET the webhooks take tap-bling's config from the YAML (asking `meltano config`
    cost seconds at every start); a project without tap-bling gets the 401 warning at once."""
    (tmp_path / "meltano.yml").write_text("version: 1\ninclude_paths: [./more/*.meltano.yml]\nplugins: {}\n")
    with caplog.at_level("WARNING"):
        assert resolve_bling(tmp_path, None, {}).client_secrets == ()
    assert "no tap-bling in meltano.yml" in caplog.text
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "bling.meltano.yml").write_text(
        "plugins:\n  extractors:\n    - name: tap-bling\n      config: {client_secret: $BLING_SECRET}\n"
        "      settings:\n        - {name: client_secret, kind: string, sensitive: true}\n"
        "        - {name: accounts, kind: array}\n"
    )
    assert resolve_bling(tmp_path, None, {"BLING_SECRET": "do-include"}).client_secrets == ("do-include",)
