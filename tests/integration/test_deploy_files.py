"""Deployment files without Docker: compose.yaml matches the Compose Specification (its JSON Schema, vendored in
deploy/schema), publishes PostgreSQL 16's port with a volume, keeps the sandboxes behind the `demo` profile, and
the image, compose and the systemd unit start exactly the command the service tests start (SERVE_COMMAND)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from serve_harness import SERVE_COMMAND

ROOT = Path(__file__).parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / "deploy/schema/compose-spec.json").read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/")  # a spelling jsonschema does not map
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def test_compose_yaml_matches_the_compose_specification() -> None:
    validator = _validator()
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(_compose())]
    assert errors == []
    broken = _compose()
    broken["services"]["postgres"]["healthcheck"]["retries"] = "many"
    broken["services"]["ponte"]["restart_policy"] = "always"
    assert len(list(validator.iter_errors(broken))) == 2  # the schema check does catch mistakes


def test_postgres_16_with_a_volume_and_5432_published_and_sandboxes_only_in_the_demo_profile() -> None:
    services = _compose()["services"]
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16" and "5432:5432" in postgres["ports"]
    assert postgres["volumes"][0].startswith("pgdata:") and "pgdata" in _compose()["volumes"]
    sandboxes = [name for name in services if name.startswith("sandbox-")]
    assert sandboxes and all(services[name]["profiles"] == ["demo"] for name in sandboxes)
    assert (
        "profiles" not in services["ponte"]
        and services["ponte"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    )


def _dockerfile(instruction: str) -> list[str]:
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    (line,) = [line for line in lines if line.startswith(instruction + " ")]
    return json.loads(line.removeprefix(instruction + " "))


def test_image_compose_and_systemd_start_the_command_the_tests_start() -> None:
    started = [*_dockerfile("ENTRYPOINT"), *_dockerfile("CMD")]
    assert tuple(started[: len(SERVE_COMMAND)]) == SERVE_COMMAND
    ponte = _compose()["services"]["ponte"]
    assert "entrypoint" not in ponte and "command" not in ponte  # the image's, as above
    unit = (ROOT / "deploy/ponte.service").read_text(encoding="utf-8")
    (exec_start,) = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")]
    argv = shlex.split(exec_start)
    assert (Path(argv[0]).name, *argv[1 : len(SERVE_COMMAND)]) == SERVE_COMMAND
    assert "USER ponte" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["PONTE_SERVE_TOKEN", "PONTE_SECRET_KEY", "PONTE_DB_DSN"])
def test_the_deployment_env_files_name_the_service_settings(name: str) -> None:
    assert f"{name}=" in (ROOT / "deploy/ponte.env").read_text(encoding="utf-8")
    assert name in _compose()["services"]["ponte"]["environment"]
