"""How a declarative tap starts, stops and resumes — the parts singer-sdk leaves to each tap.

* Expected failures (bad credentials, spent quota, bad declaration) end with one clear line and an exit code,
  not a traceback.
* A spent daily quota stops the run cleanly: the state written so far is emitted, the interrupted stream is
  marked, and the next run skips the streams this run already finished, so the quota goes to what is left.
  The exit code is 0, so the stop is also reported to `ponte run` (ponte.runs.report) for the run record.
* `--test` makes one cheap request (the declaration's `connection_check`) and says whether it worked.
* Every configured secret is masked in log output.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from typing import Any

import click
import requests
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers._util import load_json
from singer_sdk.singerlib.encoding.simple import Message, SingerMessageType

from ponte.errors import PonteError, QuotaExhausted
from ponte.runs.report import STOPPED_QUOTA, report
from ponte.tap.runtime import TapRuntime
from ponte.tap.stream import COMPLETED_KEY, INTERRUPTED_KEY
from ponte.tap.templates import render


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
        state=None if state is None else load_json(state.read()),
        catalog=None if catalog is None else load_json(catalog.read()),
        parse_env_config=config.parse_env if config else False,
        validate_config=True,
    )


class LifecycleMixin:
    """Mixed into the generated Tap class (before singer_sdk.Tap)."""

    message_writer_class = BufferedMsgSpecWriter
    declaration: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.started_at = dt.datetime.now(dt.UTC)
        self.run_version = int(self.started_at.timestamp() * 1000)
        self._runtime: TapRuntime | None = None
        super().__init__(*args, **kwargs)
        self._skip_streams_finished_before_interruption()

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

    # -- resume after a spent quota ----------------------------------------------------------------------
    def _skip_streams_finished_before_interruption(self) -> None:
        bookmarks = (self.state or {}).get("bookmarks", {})  # type: ignore[attr-defined]
        interrupted = [s.get(INTERRUPTED_KEY) for s in bookmarks.values() if s.get(INTERRUPTED_KEY)]
        if not interrupted:
            return
        run = max(interrupted)
        skipped = []
        for name, stream in self.streams.items():  # type: ignore[attr-defined]
            state = bookmarks.get(name, {})
            if stream.parent_stream_type is None and state.get(COMPLETED_KEY, "") >= run and stream.selected:
                stream.selected = False
                skipped.append(name)
        if skipped:
            self.logger.info(  # type: ignore[attr-defined]
                "resuming the run of %s stopped by the daily quota: skipping streams it finished: %s",
                run,
                ", ".join(skipped),
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
        except QuotaExhausted as exc:
            if tap is not None:
                tap._state_writer.write_state(tap.state)
            cls.logger.warning("%s", exc)  # type: ignore[attr-defined]
            report(STOPPED_QUOTA, plugin=cls.name, message=str(exc))  # type: ignore[attr-defined]
            sys.exit(0)
        except PonteError as exc:
            cls.logger.error("%s", exc)  # type: ignore[attr-defined]
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
