"""Every private singer-sdk member Ponte's taps still use, in one place, each with why no public hook serves.

Everything else in `ponte.tap` goes through singer-sdk's public hooks (`request_decorator`, `get_url_params`
with the paginator's token, `get_new_paginator`, `parse_response`, `post_process`, `get_records`,
`get_child_context`, `apply_catalog`/`effective_schema`, `Tap.state_writer`, `Tap.input_catalog`, ...). What
remains here has no public equivalent in the pinned singer-sdk (pyproject.toml: `singer-sdk[msgspec]==0.54.9`).
`tests/unit/test_sdk_private_hooks.py` checks that the installed SDK is that version and that each member below
still exists with the signature relied on, so an SDK upgrade fails there, with a message naming the member,
instead of deep inside a sync.
"""

from __future__ import annotations

from typing import Any

import singer_sdk.singerlib as singer
from singer_sdk.helpers._state import PROGRESS_MARKERS

__all__ = [
    "PROGRESS_MARKERS",
    "PrivateStreamHooks",
    "reset_stream_maps",
    "set_table_version",
    "write_activate_version",
    "write_schema_message",
]

# PROGRESS_MARKERS: the state key under which the SDK keeps the cursor values of an unsorted stream until the
# partition is finalized. A `window_end` bookmark replaces the cursor bookmark, so its stale markers are dropped
# (ponte.tap.stream); the SDK exports the key only from its private state helpers.


class PrivateStreamHooks:
    """The private Stream methods a DeclarativeStream overrides (mixed in before singer-sdk's RESTStream).

    The host stream provides `record_held_back(record)`, `record_written(record)` (whether the SDK should
    advance its cursor) and `catalog_replication_key`.
    """

    def _write_record_message(self, record: dict[str, Any]) -> None:
        """Hold back a record whose account's quota ran out while its child streams were read.

        The SDK syncs a record's children before writing the record, and offers no public hook between the
        two (post_process runs before the children, so it cannot know); held back, the record goes out with
        its children on the next run, so nothing is written twice.
        """
        if not self.record_held_back(record):  # type: ignore[attr-defined]
            super()._write_record_message(record)  # type: ignore[misc]

    def _increment_stream_state(self, latest_record: dict[str, Any], *, context: Any = None) -> None:
        """Count a written record in the resume position, and advance the SDK's cursor only where it tracks one.

        The SDK calls this right after writing the record and before its periodic STATE message; public code
        (the `get_records` generator) only resumes after that STATE went out, so a position counted there would
        lag one record behind the state a stopped run leaves. The SDK would also advance its cursor for a
        held-back record and raise for the `window_end` streams whose bookmark Ponte keeps itself.
        """
        if self.record_written(latest_record):  # type: ignore[attr-defined]
            super()._increment_stream_state(latest_record, context=context)  # type: ignore[misc]

    @property
    def _singer_catalog_entry(self) -> singer.CatalogEntry:
        """The SDK's catalog entry, naming the replication key of every incremental stream.

        The SDK fills the entry's `replication_key` from `Stream.replication_key`, which must stay None for
        `window_end` streams (else the SDK tracks and bookmarks a cursor on them); `Tap.catalog`/`catalog_dict`
        build the catalog from this private property, so it is the one place to name their key.
        """
        entry = super()._singer_catalog_entry  # type: ignore[misc]
        entry.replication_key = self.catalog_replication_key  # type: ignore[attr-defined]
        return entry  # type: ignore[no-any-return]


def set_table_version(stream: Any, version: int) -> None:
    """Stamp the stream's RECORD messages with `version` (one table version for a whole pass of several runs).

    The SDK keeps the version in `_stream_version` and only sets it itself, to the run's start, together with an
    ACTIVATE_VERSION sent before the records (which Ponte sends after the last one instead).
    """
    stream._stream_version = version


def write_activate_version(stream: Any, version: int) -> None:
    """Send ACTIVATE_VERSION for the stream (once per stream-map alias, as the SDK does).

    The SDK sends it only at the start of a full-table sync, through this private method; Ponte sends it once
    every partition of a pass was read to the end, so an interrupted run retires nothing.
    """
    stream._write_activate_version_message(version)


def reset_stream_maps(stream: Any) -> None:
    """Make the stream pick up the stream maps just re-registered with a grown schema (undeclared fields).

    `Stream.stream_maps` caches the maps in `_stream_maps` on first use and has no public way to refresh them.
    """
    stream._stream_maps = None


def write_schema_message(stream: Any) -> None:
    """Send the stream's SCHEMA again, mid-sync, after an undeclared field grew it.

    The SDK sends SCHEMA only at the start of `sync`, through this private method (which applies the stream
    maps and aliases); there is no public one.
    """
    stream._write_schema_message()
