"""A separate Meltano project adds tap-sienge and target-postgres from plugins/ and runs the demo pipeline.

What a Meltano user outside this repository does: `meltano init`, `meltano add --from-ref` the definitions,
settings from environment variables (no Hub, no call home), `meltano run`. The definitions install the
published distribution (`ponte-elt==<version>`); here `pip_url` is switched to the wheel built from this
checkout (through its sdist), so the test also proves the wheel carries what the plugins read at run time:
before the declarations were packaged, tap-sienge failed with `…/taps/sienge.yml file not found`.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
import yaml
from psycopg.conninfo import make_conninfo

from ponte.testing import SandboxProcess
from ponte.testing import postgres as pg
from ponte.testing.meltano_run import meltano_cli

pytestmark = pytest.mark.meltano

ROOT = Path(__file__).parents[2]
PLUGINS = {"tap-sienge": "extractors", "target-postgres": "loaders"}


def meltano(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    run = meltano_cli(project, list(args), {**os.environ, **(env or {})})
    assert run.returncode == 0, f"meltano {' '.join(args)}:\n{run.stderr[-3000:]}"
    return run.stdout


@pytest.fixture(scope="module")
def other_project(tmp_path_factory: pytest.TempPathFactory, ponte_wheel: Path) -> Path:
    """A new project (the meltano.yml `meltano init --no_usage_stats` writes, without its empty folders: 6 s less)
    with both plugins added from their definitions and installed from the wheel, with uv like ours."""
    project = tmp_path_factory.mktemp("warehouse")
    fresh = {"default_environment": "dev", "project_id": str(uuid.uuid4()), "send_anonymous_usage_stats": False,
             "environments": [{"name": "dev"}], "venv": {"backend": "uv"}}  # fmt: skip
    (project / "meltano.yml").write_text(yaml.safe_dump(fresh, sort_keys=False), encoding="utf-8")
    for name, kind in PLUGINS.items():
        meltano(project, "add", "--from-ref", str(ROOT / "plugins" / kind / f"{name}--ponte.yml"), name, "--no-install")
    config = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))
    for kind in PLUGINS.values():
        for plugin in config["plugins"][kind]:
            assert plugin["pip_url"].startswith("ponte-elt==")  # what a user gets; the test installs this checkout
            plugin["pip_url"] = str(ponte_wheel)
    (project / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    meltano(project, "install")
    assert not (project / "taps").exists()
    return project


@pytest.fixture
def scratch_database() -> Iterator[str]:
    with pg.scratch_database("ponte_elsewhere") as name:
        yield name


def test_the_demo_pipeline_runs_from_the_definitions(other_project: Path, scratch_database: str) -> None:
    with SandboxProcess.start("sienge", "--records", "30") as sandbox:  # every stream, fewer customers
        env = {
            "TAP_SIENGE_SUBDOMAIN": "demo",
            "TAP_SIENGE_USERNAME": "demo-api",
            "TAP_SIENGE_PASSWORD": "demo-secret",
            "TAP_SIENGE_BASE_URL": sandbox.base_url,
            "TARGET_POSTGRES_SQLALCHEMY_URL": pg.sqlalchemy_url(scratch_database, driver="psycopg2"),
        }
        meltano(other_project, "run", "tap-sienge", "target-postgres", env=env)
        customers = requests.get(f"{sandbox.base_url}/customers?limit=1", auth=("demo-api", "demo-secret"), timeout=10)
        expected = customers.json()["resultSetMetadata"]["count"]
    with psycopg.connect(make_conninfo(pg.ADMIN_DSN, dbname=scratch_database)) as conn:
        # the loader's default schema is the extractor's load_schema: in a new project, its namespace
        assert conn.execute("SELECT count(*) FROM tap_sienge.customers").fetchone() == (expected,)
        tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'tap_sienge'")
        assert tables.fetchone()[0] >= 20
        assert conn.execute("SELECT count(*) FROM tap_sienge.sales_contracts WHERE _sdc_window_end IS NULL").fetchone() == (0,)  # fmt: skip
    state = json.loads(meltano(other_project, "state", "get", "dev:tap-sienge-to-target-postgres"))
    assert state["singer_state"]["bookmarks"]["customers"]["replication_key"] == "modifiedAt"
