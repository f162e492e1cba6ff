"""Accounts resolution and incremental windows: what a Bling user configures and what the tap asks for."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest

from ponte.core.errors import ConfigError
from ponte.tap.accounts import find_account, resolve_accounts
from ponte.tap.fanout import batched
from ponte.tap.windows import split_windows

SPEC = {
    "accounts": {
        "setting": "accounts",
        "field": "conta",
        "defaults": {"client_id": "{{ config.client_id }}", "client_secret": "{{ config.client_secret }}"},
    }
}


def test_accounts_take_shared_app_credentials_unless_they_have_their_own() -> None:
    config = {
        "client_id": "app",
        "client_secret": "s3cret",
        "accounts": '[{"name": "loja1"}, {"name": "loja2", "client_id": "own", "token_store_key": "k2"}]',
    }
    first, second = resolve_accounts(SPEC, config)
    assert first == {"name": "loja1", "client_id": "app", "client_secret": "s3cret", "token_store_key": "loja1"}
    assert second["client_id"] == "own" and second["client_secret"] == "s3cret" and second["token_store_key"] == "k2"
    assert find_account(SPEC, config, "loja2")["name"] == "loja2"


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ([], "lists no accounts"),
        ("not json", "not valid JSON"),
        ([{"client_id": "x"}], "accounts[0] needs a 'name'"),
        ([{"name": "a b"}], "may hold only letters"),
        ([{"name": "a"}, {"name": "a"}], "listed twice"),
    ],
)
def test_malformed_accounts_are_refused_with_the_entry_named(accounts: object, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_accounts(SPEC, {"accounts": accounts})


def test_unknown_account_lists_the_configured_ones() -> None:
    with pytest.raises(ConfigError, match="configured accounts: loja1"):
        find_account(SPEC, {"accounts": [{"name": "loja1"}]}, "loja9")


def test_windows_never_exceed_the_maximum_and_cover_the_span_without_gaps() -> None:
    start = dt.datetime(2021, 3, 1, 10, 0)
    end = dt.datetime(2026, 11, 23, 9, 30)
    windows = split_windows(start, end, 360)
    assert windows[0].start == start and windows[-1].end == end
    assert all(w.end - w.start <= dt.timedelta(days=360) for w in windows)
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert split_windows(start, end, None) == [(start, end)]


def test_ids_are_asked_in_batches() -> None:
    assert list(batched(list(range(250)), 100)) == [list(range(100)), list(range(100, 200)), list(range(200, 250))]
