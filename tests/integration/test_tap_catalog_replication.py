"""Incremental streams name their replication key in the catalog, and their records carry it.

Meltano (`meltano select --list`), catalog tooling and users overriding metadata read `replication-key` and
`valid-replication-keys`. The key is the record field holding the change time when the records carry one
(Sienge customers: modifiedAt; TOTVS plant: atualizadoEm). Where the API filters on a change time no record
carries (Bling's dataAlteracao, Sienge sales contracts, Protheus S_T_A_M_P_ outside the declared fields), the
bookmark is the end of the window asked for, and the tap stamps that window end on each record as
`_sdc_window_end`: the replication key of those streams.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ponte.declaration import load_tap_spec
from ponte.testing.in_process import SandboxThread, discover_in_process, run_tap_in_process

ROOT = Path(__file__).parents[2]
TOTVS = {"base_url": "http://127.0.0.1:9", "username": "u", "password": "p", "client_id": "c", "client_secret": "s"}
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "sienge": ("tap-sienge", {"subdomain": "demo", "username": "u", "password": "p"}),
    "bling": ("tap-bling", {"accounts": [{"name": "loja"}], "client_id": "c", "client_secret": "s"}),
    **{
        f"totvs-{flavour}": ("tap-totvs", {**TOTVS, "flavour": flavour, "academic_ids": ["1|1|1"]})
        for flavour in ("protheus", "plant", "rm")
    },
}


def root_metadata(entry: dict[str, Any]) -> dict[str, Any]:
    return next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])


@pytest.mark.parametrize("source", sorted(CONFIGS))
def test_every_incremental_stream_names_a_replication_key_its_schema_has(source: str) -> None:
    declared = {s["name"]: s for s in load_tap_spec(ROOT / "taps" / f"{source}.yml").data["streams"]}
    executable, config = CONFIGS[source]
    catalog = {entry["tap_stream_id"]: entry for entry in discover_in_process(executable, config)["streams"]}
    incremental = {n for n, s in declared.items() if (s.get("replication") or {}).get("method") == "incremental"}
    for name, entry in catalog.items():
        metadata = root_metadata(entry)
        if name not in incremental:
            assert not entry.get("replication_key") and not metadata.get("valid-replication-keys"), name
            continue
        key = entry.get("replication_key")
        assert key, f"{source}: incremental stream {name} names no replication key"
        assert metadata.get("replication-key") == key and metadata.get("valid-replication-keys") == [key], name
        assert key in entry["schema"]["properties"], f"{name}: replication key {key} is not in the schema"
        cursor = declared[name]["replication"].get("cursor_field")
        assert key == (cursor or "_sdc_window_end"), name
        field = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == ["properties", key])
        assert field.get("inclusion") == "automatic", name


def test_records_carry_the_window_end_their_bookmark_holds(sienge_config: dict[str, Any]) -> None:
    with SandboxThread.start("sienge", "--records", "5") as sandbox:
        run = run_tap_in_process(
            "tap-sienge", {**sienge_config, "base_url": sandbox.base_url}, streams={"sales_contracts"}
        )
    assert run.returncode == 0, run.stderr[-2000:]
    records = run.records("sales_contracts")
    assert records
    bookmark = run.last_state["bookmarks"]["sales_contracts"]
    assert {r["_sdc_window_end"] for r in records} == {bookmark["replication_key_value"]}
