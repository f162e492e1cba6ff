"""`ponte run --direct`: what varies per run is laid over the cached settings; the rest comes from the cache."""

from __future__ import annotations

import json

from ponte.runs.direct import Block, per_run_names, run_config


def stock_tap() -> Block:
    return Block(
        name="tap-bling--stock",
        plugin="tap-bling--stock",
        role="extractor",
        executable="tap-bling",
        config={"accounts": [{"name": "a"}, {"name": "b"}], "produto_ids": None, "sync_principal": [1]},
        prefixes=["TAP_BLING__STOCK", "TAP_BLING"],
        templates={"produto_ids": "$PONTE_WEBHOOK_IDS_BY_ACCOUNT", "sync_principal": "${BLING_SYNC_PRINCIPAL}"},
        kinds={"produto_ids": "object", "accounts": "array", "sync_principal": "array"},
    )


def test_the_batch_variables_are_laid_over_the_cached_config_and_nothing_else() -> None:
    env = {
        "PONTE_WEBHOOK_IDS_BY_ACCOUNT": json.dumps({"a": ["7"]}),
        "PONTE_RUN_OVERLAY": "PONTE_WEBHOOK_IDS_BY_ACCOUNT,TAP_BLING_ACCOUNTS",
        "TAP_BLING_ACCOUNTS": json.dumps([{"name": "a"}]),
        "BLING_SYNC_PRINCIPAL": "[2]",  # not per run: its value is the cached one (a change means a new cache key)
        "TAP_BLING__STOCK__SELECT": '["x.*"]',  # changes the catalog: never laid over
    }
    assert per_run_names(env) == {"PONTE_WEBHOOK_IDS_BY_ACCOUNT", "PONTE_RUN_OVERLAY", "TAP_BLING_ACCOUNTS"}
    config = run_config(stock_tap(), env)
    assert config["produto_ids"] == {"a": ["7"]}
    assert config["accounts"] == [{"name": "a"}]
    assert config["sync_principal"] == [1]
    assert stock_tap().config["produto_ids"] is None  # the cached block is left as it was


def test_a_run_without_batch_variables_uses_the_cached_config_as_is() -> None:
    assert run_config(stock_tap(), {"BLING_SYNC_PRINCIPAL": "[2]"}) == stock_tap().config
