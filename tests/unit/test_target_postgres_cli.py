"""target-postgres console script: which invocations skip singer-sdk."""

from __future__ import annotations

from ponte.targets.postgres.target import needs_sdk, plain_load_arguments


def test_console_script_takes_the_fast_path_only_for_plain_loads() -> None:
    assert plain_load_arguments(["--config", "a.json", "--config=b.json", "--input", "in.jsonl"]) == (
        ["a.json", "b.json"],
        "in.jsonl",
    )
    assert plain_load_arguments([]) == ([], None)
    assert plain_load_arguments(["--about"]) is None
    assert plain_load_arguments(["--config", "ENV"]) is None
    assert plain_load_arguments(["--config"]) is None
    assert needs_sdk({"stream_maps": {"a": {}}}) and needs_sdk({"validate_records": True})
    assert not needs_sdk({"validate_records": False, "host": "x"})
