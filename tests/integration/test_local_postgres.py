"""Where `ponte demo` loads: the server it was told about or found, else an embedded one — and it says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ponte.project import local_postgres
from ponte.testing import console_script

NOBODY = "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=3"


def test_a_pg_dsn_that_does_not_answer_stops_the_demo_instead_of_loading_elsewhere(tmp_path: Path) -> None:
    done = subprocess.run(
        [console_script("ponte"), "demo", "--project", str(tmp_path)],
        env={**os.environ, "PONTE_PG_DSN": NOBODY},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "PONTE_PG_DSN (127.0.0.1:1) does not answer:" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".ponte" / "pgdata" / "PG_VERSION").exists(), "the embedded server was started anyway"


FIND = """
import json, sys
from pathlib import Path
from ponte.project import local_postgres
local_postgres.DEFAULT_SERVER_DSN = sys.argv[1]  # the local server is down
endpoint = local_postgres.find_postgres(Path(sys.argv[2]))
print(json.dumps({"kind": endpoint.kind, "why": endpoint.why, "dsn": endpoint.admin_dsn}))
"""


def test_without_a_local_server_the_embedded_one_is_used_and_the_reason_given(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PONTE_PG_DSN"}
    pgdata = tmp_path / ".ponte" / "pgdata"
    pgdata.parent.mkdir()
    try:  # in a process of its own, as the demo runs it: pgserver keeps a handle per process
        found = subprocess.run(
            [sys.executable, "-c", FIND, NOBODY, str(pgdata)], env=env, capture_output=True, text=True, check=True
        )
        endpoint = json.loads(found.stdout)
        assert endpoint["kind"] == "embedded"
        assert endpoint["why"].startswith("no PostgreSQL answers at 127.0.0.1:1 (")
        assert "set PONTE_PG_DSN to use another server" in endpoint["why"]
        assert local_postgres.connection_problem(endpoint["dsn"]) is None
    finally:  # what the demo tells users to run
        stop = [console_script("ponte"), "demo", "--project", str(tmp_path), "--stop-embedded"]
        subprocess.run(stop, capture_output=True, timeout=60, check=True)
    assert local_postgres.connection_problem(endpoint["dsn"]) is not None, "the embedded server still runs"
