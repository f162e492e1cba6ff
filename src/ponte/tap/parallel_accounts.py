"""Read the accounts of a multi-account tap at the same time, one thread per account.

APIs like Bling count their rate limit per account (3 requests/second each): read one after the other, two
accounts used 47% of their combined budget. Here each account is read by its own Tap instance (same class,
catalog, input state and run start; its runtime is the run's, narrowed to that account's client, so its
token, rate budget and daily quota are the ones a sequential run uses). The SDK keeps per-sync bookkeeping on
each stream object, so instances are never shared between threads. Every instance writes through one
`AccountsWriter`, the only thing that touches stdout:

* RECORD and SCHEMA messages go out whole, one at a time (an identical SCHEMA only once);
* every STATE is the input state with each account's partitions replaced by what that account's reader last
  emitted (after the records it covers), so bookmarks stay per account exactly as in a sequential read;
* ACTIVATE_VERSION of a full-table stream goes out once, after every account's reader asked for it (its account
  read to the end in this pass) and only if the run did not fail: one account alone must not retire the rows of
  the others, and the table version stays in the state until then.

The first failure stops the other readers at their next message; it is re-raised as the run's error.
`PONTE_PARALLEL_ACCOUNTS=0` reads the accounts one after the other, as before.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from singer_sdk.singerlib.encoding.simple import Message, SingerMessageType
from singer_sdk.singerlib.messages import ActivateVersionMessage, StateMessage

from ponte.tap.completion import VERSION_KEY
from ponte.tap.runtime import TapRuntime

PARALLEL_ENV = "PONTE_PARALLEL_ACCOUNTS"


class ReaderStopped(Exception):
    """Raised in an account's reader when another account's reader failed: the run stops."""


def parallel_enabled(runtime: TapRuntime) -> bool:
    """Whether this run reads its accounts in parallel: several accounts, not switched off."""
    switch = os.environ.get(PARALLEL_ENV, "1").strip().lower()
    return len(runtime.accounts) > 1 and switch not in ("0", "false", "no", "off")


def account_runtime(runtime: TapRuntime, account: str) -> TapRuntime:
    """The run's runtime narrowed to one account: its client (budget, token, quota), the shared config."""
    found = [a for a in runtime.accounts if a["name"] == account]
    client = runtime.clients[account]
    return replace(
        runtime, accounts=found, clients={account: client}, client=client, listed_ids={}, listed_records={}, spent={}
    )


class AccountsWriter:
    """The one writer of a parallel run (see the module docstring)."""

    def __init__(self, out: Any, input_state: Mapping[str, Any], account_field: str, accounts: list[str]) -> None:
        self._out = out
        self._base = copy.deepcopy(dict(input_state))
        self._field = account_field
        self._accounts = accounts
        self._lock = threading.Lock()
        self._states: dict[str, dict[str, Any]] = {}
        self._schemas: set[str] = set()
        self._activations: dict[str, dict[str, int]] = {}
        self._last_state: dict[str, Any] | None = None
        self.stopped = threading.Event()

    def for_account(self, account: str) -> AccountWriter:
        """The message writer handed to one account's Tap instance."""
        return AccountWriter(lambda message: self.write(account, message))

    def write(self, account: str, message: Message) -> None:
        """Write one account's message (or hold it, see the module docstring)."""
        if self.stopped.is_set():
            raise ReaderStopped
        with self._lock:
            if message.type == SingerMessageType.SCHEMA:
                text = json.dumps(message.to_dict(), sort_keys=True, default=str)
                if text in self._schemas:
                    return
                self._schemas.add(text)
            elif message.type == SingerMessageType.STATE:
                self._states[account] = copy.deepcopy(message.value)  # type: ignore[attr-defined]
                self._write_state()
                return
            elif message.type == SingerMessageType.ACTIVATE_VERSION:
                self._activations.setdefault(message.stream, {})[account] = message.version  # type: ignore[attr-defined]
                return
            self._out.write_message(message)

    def finish(self, final_states: Mapping[str, Mapping[str, Any]]) -> None:
        """After every reader ended well: the ACTIVATE_VERSIONs all accounts asked for, then the final STATE."""
        with self._lock:
            for stream, by_account in self._activations.items():
                versions = set(by_account.values())
                if set(by_account) == set(self._accounts) and len(versions) == 1:
                    self._out.write_message(ActivateVersionMessage(stream=stream, version=versions.pop()))
            self._states.update({a: copy.deepcopy(dict(s)) for a, s in final_states.items()})
            self._write_state()

    def _write_state(self) -> None:
        merged = self.merged_state()
        if merged != self._last_state:
            self._last_state = merged
            self._out.write_message(StateMessage(value=merged))

    def merged_state(self) -> dict[str, Any]:
        """The input state with each account's partitions (and stream-level changes) from its reader."""
        state = copy.deepcopy(self._base)
        bookmarks = state.setdefault("bookmarks", {})
        base_bookmarks = self._base.get("bookmarks") or {}
        for account, theirs in self._states.items():
            for stream, stream_state in (theirs.get("bookmarks") or {}).items():
                ours = bookmarks.setdefault(stream, {})
                base = base_bookmarks.get(stream) or {}
                for key, value in stream_state.items():
                    if key not in ("partitions", VERSION_KEY) and value != base.get(key):
                        ours[key] = value
                partitions = [p for p in ours.get("partitions") or [] if self._account_of(p) != account]
                partitions += [p for p in stream_state.get("partitions") or [] if self._account_of(p) == account]
                if partitions:  # in the accounts' order, as a sequential read leaves them
                    ours["partitions"] = sorted(partitions, key=self._order)
        for stream, ours in bookmarks.items():
            versions = [s["bookmarks"][stream][VERSION_KEY] for s in self._states.values()
                        if VERSION_KEY in ((s.get("bookmarks") or {}).get(stream) or {})]  # fmt: skip
            pending = [v for v in versions if v is not None]
            if pending:  # an account has not finished its pass: the table version stays
                ours[VERSION_KEY] = pending[0]
            elif versions and len(versions) == len(self._accounts):  # every account activated it
                ours[VERSION_KEY] = None
        return state

    def _order(self, partition: Mapping[str, Any]) -> int:
        account = self._account_of(partition)
        return self._accounts.index(account) if account in self._accounts else len(self._accounts)

    def _account_of(self, partition: Mapping[str, Any]) -> Any:
        return (partition.get("context") or {}).get(self._field)


class AccountWriter:
    """A Tap's message writer that hands every message to the run's AccountsWriter."""

    def __init__(self, write: Callable[[Message], None]) -> None:
        self._write = write

    def write_message(self, message: Message) -> None:
        """Pass the message on (singer-sdk's writer interface)."""
        self._write(message)


def sync_accounts_in_parallel(tap: Any) -> None:
    """Read every account of `tap` (a generated declarative Tap) in its own thread; see the module docstring."""
    runtime: TapRuntime = tap.runtime
    names = [a["name"] for a in runtime.accounts]
    field = runtime.account_field
    assert field is not None  # several accounts always name their record field
    input_state = copy.deepcopy(tap.state or {})
    writer = AccountsWriter(tap.message_writer, input_state, field, names)
    catalog = tap.input_catalog.to_dict() if tap.input_catalog is not None else None
    readers = {
        name: type(tap)(
            config=dict(tap.config),
            state=copy.deepcopy(input_state),
            catalog=copy.deepcopy(catalog),
            parse_env_config=False,
            validate_config=False,
            message_writer=writer.for_account(name),
            ponte_account_of=(tap, account_runtime(runtime, name)),
        )
        for name in names
    }
    errors: dict[str, BaseException] = {}

    def read(name: str) -> None:
        try:
            readers[name].sync_all()
        except ReaderStopped:
            pass
        except BaseException as exc:
            errors.setdefault(name, exc)
            writer.stopped.set()

    threads = [threading.Thread(target=read, args=(n,), name=f"{runtime.name}-{n}", daemon=True) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _name, reader in readers.items():
        runtime.spent.update(reader.runtime.spent)
    if errors:
        raise next(iter(errors.values()))
    writer.finish({name: reader.state for name, reader in readers.items()})
