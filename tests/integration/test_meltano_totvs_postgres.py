"""`meltano run tap-totvs--<flavour> target-postgres` for each TOTVS flavour, one after the other into one database:
each lands typed tables in a schema of its own (totvs_<flavour>) under a state ID of its own.

All flavours used to share the schema `totvs` and one state ID, so `plant` after `protheus` failed on the
`lotes` table `protheus` had created, and would have started from `protheus`'s bookmarks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ponte.testing import SandboxProcess
from ponte.testing import postgres as pg
from ponte.testing.in_process import discover_in_process
from ponte.testing.meltano_run import meltano_cli, meltano_run
from ponte.testing.pg_types import mistyped_columns

pytestmark = pytest.mark.meltano  # minutes long: tests/xdist_order.py starts it first on its worker

PROJECT = Path(__file__).parents[2]
PATHS = {"protheus": "/rest", "plant": "/plant/api", "rm": ""}  # the dev environment has each one's credentials
CREDENTIALS = {
    "protheus": {"username": "admin", "password": "totvs-sandbox"},
    "plant": {"client_id": "plant-client", "client_secret": "plant-secret"},
    "rm": {"username": "mestre", "password": "totvs", "academic_ids": ["1|1|1", "1|1|2"]},
}
EXPECTED_TYPES = {
    "protheus": {
        "produtos.b1_xvelnom": "numeric",
        "ordens_producao.c2_emissao": "date",
        "ordens_producao.c2_quant": "numeric",
        "lotes.b8_dtvalid": "date",
        "ordens_producao._sdc_deleted_at": "timestamp with time zone",
    },
    "plant": {},
    "rm": {"disciplinas_grade.workload": "numeric", "turmas.is_finished_term": "boolean"},
}


@pytest.fixture
def database() -> Iterator[str]:
    """A database of the test's own, so the flavours load into their default schemas."""
    with pg.scratch_database("ponte_t") as name:
        yield name


def test_each_flavour_lands_in_its_own_schema_under_its_own_state_id(
    meltano_installed: None, database: str, tmp_path: Path
) -> None:
    dsn = psycopg.conninfo.make_conninfo(pg.ADMIN_DSN, dbname=database)
    suffix = database  # the run's state IDs are this test's own
    with SandboxProcess.start("totvs", "--students", "60", "--orders", "30") as sandbox:  # counts are not the point
        env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_RUN_STATE_ID_SUFFIX": suffix,
            "TAP_TOTVS_STATE_DIR": str(tmp_path),
            "TARGET_POSTGRES_DSN": dsn,
            **{f"TAP_TOTVS__{f.upper()}_BASE_URL": sandbox.url + path for f, path in PATHS.items()},
        }
        # one `meltano run` of three pairs, one after the other, in the order of the old failure: plant after
        # protheus (three runs cost two more Meltano start-ups; the state IDs are per pair either way)
        blocks = [block for f in ("protheus", "plant", "rm") for block in (f"tap-totvs--{f}", "target-postgres")]
        run = meltano_run(PROJECT, blocks, env)
        assert run.returncode == 0, run.stderr[-3000:]
        states = meltano_cli(PROJECT, ["state", "list", "--pattern", f"*{suffix}"], env)
    assert states.returncode == 0, states.stderr[-2000:]
    assert set(states.stdout.split()) == {
        f"dev:tap-totvs--{flavour}-to-target-postgres:{suffix}" for flavour in ("protheus", "plant", "rm")
    }
    with psycopg.connect(dsn) as conn:
        for flavour in ("protheus", "plant", "rm"):
            schema = f"totvs_{flavour}"
            config = {"flavour": flavour, "base_url": "http://x", **CREDENTIALS[flavour]}
            streams = discover_in_process("tap-totvs", config)["streams"]
            catalog = {s["tap_stream_id"]: s["schema"]["properties"] for s in streams}
            counts = {t: conn.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0] for t in catalog}
            assert all(counts.values()), (flavour, counts)
            # fields the declaration lacks are kept in columns typed from their values (the plant sandbox's
            # produtos.tipo): not in the catalog, so not compared here
            wrong = [m for m in mistyped_columns(conn, schema, catalog) if "not in the catalog" not in m]
            assert not wrong, (flavour, wrong)
            types = dict(
                conn.execute(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s",
                    (schema,),
                ).fetchall()
            )
            assert {k: types.get(k) for k in EXPECTED_TYPES[flavour]} == EXPECTED_TYPES[flavour]
        assert conn.execute("SELECT count(*) FROM ponte.dead_letters").fetchone()[0] == 0
        # the state the next plant run starts from is plant's own
        plant = meltano_cli(PROJECT, ["state", "get", f"dev:tap-totvs--plant-to-target-postgres:{suffix}"], env)
    bookmarks = json.loads(plant.stdout)["singer_state"]["bookmarks"]
    assert "ordens_producao_mrp" not in bookmarks, "a protheus stream in plant's state"
    assert {b.get("replication_key") for b in bookmarks.values()} == {"atualizadoEm"}  # plant's, not S_T_A_M_P_
