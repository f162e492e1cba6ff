"""How `ponte serve` reads schedules and its settings: Meltano's cron (crontab weekdays, presets, a 6th field of
seconds), São Paulo time by default, per-schedule options, one catch-up for many missed times, and settings
that refuse an open API on a public address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ponte.core.errors import ConfigError
from ponte.core.meltano_project import MeltanoProject
from ponte.service.schedules import cron_trigger, load_schedules
from ponte.service.settings import ServeSettings, meltano_database_uri

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)  # a Wednesday, 09:00 in São Paulo


def _next(interval: str, zone: str = "America/Sao_Paulo") -> datetime:
    trigger = cron_trigger(interval, zone)
    assert trigger is not None
    return trigger.get_next_fire_time(None, NOW + timedelta(microseconds=1))  # strictly after, as the scheduler asks


def test_crontab_weekdays_count_sunday_as_zero_not_apschedulers_monday() -> None:
    assert _next("0 2 * * 0").strftime("%a %H:%M %z") == "Sun 02:00 -0300"
    assert _next("0 2 * * 1-5").strftime("%a %d") == "Thu 03"
    assert _next("0 2 * * 7").strftime("%a") == "Sun"
    assert _next("0 10 * * mon-fri").strftime("%a %H:%M") == "Wed 10:00"


def test_presets_seconds_and_manual_schedules() -> None:
    assert _next("@daily").isoformat() == "2026-12-03T00:00:00-03:00"
    assert _next("@hourly").isoformat() == "2026-12-02T10:00:00-03:00"
    assert _next("* * * * * */2") - NOW == timedelta(seconds=2)
    assert _next("0 6 * * *", "UTC").isoformat() == "2026-12-03T06:00:00+00:00"
    assert cron_trigger("@once", "UTC") is None
    with pytest.raises(ValueError):
        cron_trigger("every day", "UTC")


def _project(tmp_path: Path, schedules: str) -> MeltanoProject:
    (tmp_path / "meltano.yml").write_text(f"version: 1\nschedules:\n{schedules}", encoding="utf-8")
    return MeltanoProject.load(tmp_path)


def test_per_schedule_options_and_one_catch_up_for_many_missed_times(tmp_path: Path) -> None:
    project = _project(tmp_path, """\
  - {name: a, interval: "*/5 * * * *", job: j, env: {X: "1"},
     annotations: {ponte: {timezone: UTC, jitter_seconds: 30, catch_up: false}}}
  - {name: b, interval: "0 2 * * *", extractor: tap-x, loader: target-y}
""")  # fmt: skip
    a, b = load_schedules(project, ServeSettings(tmp_path))
    assert (a.timezone, a.jitter_seconds, a.catch_up, a.env) == ("UTC", 30.0, False, {"X": "1"})
    assert (b.pipeline, b.timezone, b.catch_up) == (["tap-x", "target-y"], "America/Sao_Paulo", True)
    first = a.following(NOW - timedelta(hours=1))
    latest, count = a.latest_until(first, NOW)
    assert (latest, count) == (NOW, 12)
    assert a.run_start("catch-up").extra_env == {"X": "1"}


def test_a_bad_schedule_fails_the_start_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="schedule 'x': interval"):
        load_schedules(_project(tmp_path, '  - {name: x, interval: "61 * * * *", job: j}\n'), ServeSettings(tmp_path))


def test_settings_refuse_a_public_address_without_a_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PONTE_SERVE_TOKEN"):
        ServeSettings.read(tmp_path, {"PONTE_SERVE_BIND": "0.0.0.0:8780"})
    settings = ServeSettings.read(tmp_path, {"PONTE_SERVE_BIND": "0.0.0.0:8780", "PONTE_SERVE_TOKEN": "t0ken-abc"})
    assert (settings.host, settings.port, settings.token) == ("0.0.0.0", 8780, "t0ken-abc")
    assert "t0ken-abc" in settings.secrets()
    with pytest.raises(ConfigError, match="PONTE_SERVE_TIMEZONE"):
        ServeSettings.read(tmp_path, {"PONTE_SERVE_TIMEZONE": "Brasilia"})
    (tmp_path / ".env").write_text("PONTE_SERVE_DRAIN_SECONDS=12\nPONTE_SERVE_BIND=127.0.0.1:9999\n")
    settings = ServeSettings.read(tmp_path, {"PONTE_SERVE_BIND": "127.0.0.1:0"})
    assert (settings.drain_seconds, settings.port) == (12.0, 0)  # .env read, the environment wins


def test_meltano_database_uri_from_the_service_dsn() -> None:
    uri = meltano_database_uri("postgresql://ponte:p%40ss@db.example:5433/ponte")
    assert uri == "postgresql+psycopg://ponte:p%40ss@db.example:5433/ponte?options=-csearch_path%3Dmeltano"
    socket = meltano_database_uri("host=/tmp/pg port=5432 user=postgres dbname=ponte_demo")
    assert (
        socket == "postgresql+psycopg://postgres@/ponte_demo?host=%2Ftmp%2Fpg&port=5432&options=-csearch_path%3Dmeltano"
    )
