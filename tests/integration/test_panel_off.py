"""Without PONTE_SECRET_KEY the service runs (API, health) but its panel stays off and says why."""

from __future__ import annotations

from pathlib import Path

from serve_harness import ServiceThread, drop_schemas, schema_name, service_env, tick_project


def test_the_panel_answers_503_without_a_secret_key_and_the_api_still_works(tmp_path: Path) -> None:
    schema = schema_name("panel_off")
    try:
        with ServiceThread(tick_project(tmp_path / "project", {}), service_env(schema)) as service:
            page = service.get("/", allow_redirects=False)
            assert page.status_code == 503 and "PONTE_SECRET_KEY" in page.text
            assert service.get("/login").status_code == 503 and service.post("/login").status_code == 503
            assert service.get("/healthz").status_code == 200
            assert service.get("/api/runs").json() == {"runs": [], "next": None}
    finally:
        drop_schemas(schema)
