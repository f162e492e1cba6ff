"""How a declarative tap starts, stops and resumes — the parts singer-sdk leaves to each tap.

* Expected failures (bad credentials, spent quota, bad declaration) end with one clear line and an exit code,
  not a traceback.
* A spent daily quota stops the run cleanly: the state written so far is emitted, the interrupted stream is
  marked (and keeps its position, see ponte.tap.resume), and the next run skips the streams this run already
  finished, so the quota goes to what is left. With `accounts:` each account has its own quota: a spent one
  stops only that account's streams, the others are read to the end, and the next run resumes that account.
  Runs that together finish one interrupted sync form a *pass*, named by the start of its first run; every
  marker of an unfinished pass carries that name, so a pass that needs three days skips on day three what days
  one and two finished. The exit code is 0, so the stop is also reported to `ponte run` (ponte.runlog.report)
  for the run record.
* An API whose circuit breaker opens (ponte.http.circuit_breaker) ends the run with exit code 69 and one line
  naming the API and when to retry; the STATE already emitted covers only the pages read, and the stop is
  reported to `ponte run`.
* `--test` makes one cheap request (the declaration's `connection_check`) and says whether it worked.
* Every configured secret is masked in log output.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import click
import requests
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.simple import Message, SingerMessageType

from ponte.core.errors import CircuitOpen, PonteError, QuotaExhausted
from ponte.declaration.models import TapOptions
from ponte.declaration.templates import render
from ponte.runlog.report import CIRCUIT_OPEN, STOPPED_QUOTA, report
from ponte.tap.completion import COMPLETED_KEY, INTERRUPTED_KEY
from ponte.tap.parallel_accounts import parallel_enabled, sync_accounts_in_parallel
from ponte.tap.runtime import TapRuntime


class BufferedMsgSpecWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer without a flush per record.

    RECORDs stay in the stdout buffer; any other message (SCHEMA, STATE, ACTIVATE_VERSION) flushes, so a
    target never sees a STATE before the records it covers.
    """

    def write_message(self, message: Message) -> None:
        """Write one message; flush unless it is a RECORD."""
        sys.stdout.buffer.write(self.format_message(message))
        if message.type != SingerMessageType.RECORD:
            sys.stdout.flush()


def tap_from_cli(cls: Any, config: Any, state: Any, catalog: Any) -> Any:
    """The Tap singer-sdk's `invoke` builds from the parsed `--config/--state/--catalog` options."""
    return cls(
        config=config.config if config else None,
        state=None if state is None else _load_json(state.read()),
        catalog=None if catalog is None else _load_json(catalog.read()),
        parse_env_config=config.parse_env if config else False,
        validate_config=True,
    )


def _load_json(text: str) -> Any:
    """A state or catalog file as singer-sdk's own `invoke` reads it: decimals stay exact."""
    return json.loads(text, parse_float=decimal.Decimal)


class LifecycleMixin:
    """Mixed into the generated Tap class (before singer_sdk.Tap)."""

    message_writer_class = BufferedMsgSpecWriter
    declaration: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # an account's reader of a parallel run (ponte.tap.parallel_accounts): the run's start and runtime
        parent, account_runtime = kwargs.pop("ponte_account_of", (None, None))
        self.started_at = parent.started_at if parent is not None else dt.datetime.now(dt.UTC)
        self.run_version = int(self.started_at.timestamp() * 1000)
        self._runtime: TapRuntime | None = account_runtime
        self._unfinished_passes: dict[str | None, str] = {}
        self._finished_in_pass: set[tuple[str, str | None]] = set()
        super().__init__(*args, **kwargs)
        self._plan_resume()

    # -- runtime -----------------------------------------------------------------------------------------
    def make_runtime(self) -> TapRuntime:  # pragma: no cover - provided by the generated class
        raise NotImplementedError

    @property
    def runtime(self) -> TapRuntime:
        """Client, budgets and effective config, built on first use (discovery needs no credentials)."""
        if self._runtime is None:
            self._runtime = self.make_runtime()
            loggers = [logging.getLogger(), self.logger, logging.getLogger("singer_sdk")]
            self._runtime.redactor.install(*loggers)
        return self._runtime

    def sync_all(self) -> None:
        """Every selected stream; several accounts are read at the same time (ponte.tap.parallel_accounts)."""
        if parallel_enabled(self.runtime):
            sync_accounts_in_parallel(self)
            return
        super().sync_all()  # type: ignore[misc]

    # -- resume after a spent quota ----------------------------------------------------------------------
    def pass_name(self, account: str | None) -> str:
        """The pass this run belongs to for an account: the unfinished one it continues, else this run's start."""
        return self._unfinished_passes.get(account) or self.started_at.isoformat()

    def finished_in_pass(self, stream: str, context: Mapping[str, Any] | None) -> bool:
        """Whether an earlier run of the account's unfinished pass already read this partition to the end."""
        return (stream, _context_key(context)) in self._finished_in_pass

    def _plan_resume(self) -> None:
        """Find each account's unfinished pass in the input state and which partitions its runs finished."""
        bookmarks = (self.state or {}).get("bookmarks", {})  # type: ignore[attr-defined]
        field = TapOptions.of(self.declaration).account_field  # type: ignore[attr-defined]
        roots = {
            name: bookmarks.get(name) or {}
            for name, stream in self.streams.items()  # type: ignore[attr-defined]
            if stream.parent_stream_type is None and stream.selected
        }
        entries = {name: _entries(stream_state, field) for name, stream_state in roots.items()}
        passes: dict[str | None, str] = {}
        for found in entries.values():
            for account, _, entry in found:
                marker = entry.get(INTERRUPTED_KEY)
                if marker:
                    passes[account] = max(passes.get(account, ""), str(marker))
        if field and None in passes:  # written by versions that marked the whole stream, not the account
            for account in {a for found in entries.values() for a, _, _ in found if a is not None}:
                passes[account] = max(passes.get(account, ""), passes[None])
        self._unfinished_passes = passes
        done: dict[str | None, set[str]] = {}
        for name, found in entries.items():
            for account, key, entry in found:
                started = passes.get(account)
                if started and str(entry.get(COMPLETED_KEY) or "") >= started:
                    self._finished_in_pass.add((name, key))
                    done.setdefault(account, set()).add(name)
        for account, started in sorted(passes.items(), key=lambda item: str(item[0])):
            whose = f" of account '{account}'" if account else ""
            self.logger.info(  # type: ignore[attr-defined]
                "resuming the run%s of %s stopped by the daily quota: skipping streams it finished: %s",
                whose,
                started,
                ", ".join(sorted(done.get(account, ()))) or "(none)",
            )

    # -- command line --------------------------------------------------------------------------------------
    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        state: Any = None,
        catalog: Any = None,
    ) -> None:
        """Like singer-sdk's, plus clean stops: quota → state + exit 0; expected errors → one line + code."""
        if about:
            cls.print_about(about_format)  # type: ignore[attr-defined]
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)  # type: ignore[attr-defined]
        tap = None
        try:
            tap = tap_from_cli(cls, config, state, catalog)
            tap.sync_all()
            if tap._runtime is not None and tap._runtime.spent:
                spent = tap._runtime.spent
                done = [a["name"] for a in tap._runtime.accounts if a["name"] not in spent]
                for account, exc in spent.items():
                    cls.logger.warning(  # type: ignore[attr-defined]
                        "account '%s' stopped for today and resumes on the next run (accounts read to the end: %s): %s",
                        account,
                        ", ".join(done) or "none",
                        exc,
                    )
                    report(STOPPED_QUOTA, plugin=cls.name, message=f"account '{account}': {exc}")  # type: ignore[attr-defined]
        except QuotaExhausted as exc:
            if tap is not None:
                tap.state_writer.write_state(tap.state)
            cls.logger.warning("%s", exc)  # type: ignore[attr-defined]
            report(STOPPED_QUOTA, plugin=cls.name, message=str(exc))  # type: ignore[attr-defined]
            sys.exit(0)
        except PonteError as exc:
            cls.logger.error("%s", exc)  # type: ignore[attr-defined]
            if isinstance(exc, CircuitOpen):  # STATE stays at the last page read before the API went down
                report(CIRCUIT_OPEN, plugin=cls.name, message=str(exc), api=exc.api, retry_at=exc.retry_at)  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)
        finally:
            sys.stdout.flush()

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: one cheap authenticated request; `--test=schema`: the SDK's schema dump."""
        if value in ("disabled", "schema"):
            super().cb_test(ctx, param, value)  # type: ignore[misc]
            return
        config = ctx.params.get("config")
        tap = cls(  # type: ignore[call-arg]
            config=config.config if config else None,
            parse_env_config=config.parse_env if config else False,
            validate_config=True,
            setup_mapper=False,
        )
        try:
            message = tap.check_connection()
        except PonteError as exc:
            click.echo(f"{cls.name}: connection test FAILED — {exc}", err=True)  # type: ignore[attr-defined]
            ctx.exit(exc.exit_code)
        click.echo(message, err=True)
        ctx.exit(0)

    def check_connection(self) -> str:
        """Send the declared connection check (once per account); return a sentence saying it worked."""
        runtime = self.runtime
        check = self.declaration.get("connection_check") or {}
        lines = []
        for account in [a["name"] for a in runtime.accounts] or [None]:
            scope = runtime.scope(account)
            path = str(render(check.get("path", "/"), scope))
            params = render(check.get("params") or {}, scope)
            client = runtime.client_for(account)
            prepared = client.session.prepare_request(requests.Request("GET", runtime.url(path), params=params))
            began = time.monotonic()
            label = "connection test" + (f" (account '{account}')" if account else "")
            response = client.send(prepared, label=label)
            elapsed = (time.monotonic() - began) * 1000
            lines.append(
                f"{self.name}: connection OK{f' for account {account!r}' if account else ''} — "  # type: ignore[attr-defined]
                f"credentials accepted: GET {path} answered HTTP {response.status_code} in {elapsed:.0f} ms "
                f"from {runtime.base_url}"
            )
        return "\n".join(lines)


def _entries(stream_state: dict[str, Any], field: str | None) -> list[tuple[str | None, str, dict[str, Any]]]:
    """(account, partition key, state) of a root stream's bookmark: the stream itself and each partition."""
    found: list[tuple[str | None, str, dict[str, Any]]] = [(None, _context_key(None), stream_state)]
    for partition in stream_state.get("partitions") or []:
        context = partition.get("context") or {}
        account = context.get(field) if field else None
        found.append((None if account is None else str(account), _context_key(context), partition))
    return found


def _context_key(context: Mapping[str, Any] | None) -> str:
    """A partition's context as comparable text (as it comes back from a state file)."""
    return json.dumps(dict(context or {}), sort_keys=True, default=str)
