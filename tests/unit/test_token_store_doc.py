"""docs/token-store.md tells operators the truth: its JSON example is the file format, its `--status` sample is
what `ponte auth bling --status` prints (the console script in a subprocess)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from ponte.auth.token_store import FileTokenStore, TokenRecord
from ponte.testing import console_script

DOC = Path(__file__).parents[2] / "docs" / "token-store.md"
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+")


def block(kind: str) -> str:
    """The first fenced block of that kind in the doc."""
    found = re.search(rf"```{kind}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert found, f"docs/token-store.md has no {kind} example"
    return found.group(1)


def test_the_documented_json_is_the_file_format(tmp_path: Path) -> None:
    example = json.loads(block("json"))
    documented = tmp_path / "documented.json"
    documented.write_text(block("json"), encoding="utf-8")
    record = FileTokenStore(documented).load("bling-loja1")
    assert record is not None and record.access_token.startswith("FAKE") and record.lifetime == 21600

    written = FileTokenStore(tmp_path / "written.json")
    written.save("bling-loja1", record)
    for called in example["token_calls"]:
        written.reserve_token_call(5, 60.0, called)
    assert json.loads((tmp_path / "written.json").read_text(encoding="utf-8")) == example


def test_the_documented_status_is_what_ponte_auth_prints(tmp_path: Path) -> None:
    now = time.time()
    store = FileTokenStore(tmp_path / ".ponte" / "bling-tokens.json")  # tap-bling's default path
    store.save("bling-loja1", TokenRecord("FAKE-a", "FAKE-r", now + 5 * 3600, "98309", updated_at=now - 3600))
    config = {"accounts": [{"name": "loja1"}, {"name": "loja2"}], "client_id": "id", "client_secret": "secret"}
    (tmp_path / "bling.json").write_text(json.dumps(config), encoding="utf-8")
    command = [console_script("ponte"), "auth", "bling", "--config", "bling.json", "--status", "--account"]

    shown = subprocess.run([*command, "loja1"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert TIME.sub("<time>", shown.stdout) == TIME.sub("<time>", block("text"))

    missing = subprocess.run([*command, "loja2"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert missing.returncode == 3  # as the doc says
    assert "run `ponte auth bling --account loja2`" in missing.stderr
