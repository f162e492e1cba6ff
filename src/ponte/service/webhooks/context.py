"""What the webhook intake and processor need from the service that hosts them, and the settings they read.

The service (`ponte serve`) builds one `WebhookContext` and hands it to `routes(ctx)` and `Processor(ctx)`;
tests and `python -m ponte.service.webhooks.standalone` build their own. Everything has a default read from the
environment and the project's `.env`, so the service passes only what it owns (database, run launcher, alerts).

Settings (env or `.env`):
  TAP_BLING_CLIENT_SECRET   the Bling app's client secret: the key of `X-Bling-Signature-256` (tap-bling's own).
  TAP_BLING_ACCOUNTS        tap-bling's accounts; an account's own `client_secret` is accepted too, and its
                            `company_id` (the webhook `companyId`) names the account without a database lookup.
  PONTE_WEBHOOK_RULES       the rules file (default `webhooks/bling.yml` in the project).
  PONTE_WEBHOOK_MAX_BODY_BYTES  largest body accepted (default 262144; Bling's events are < 2 KB).
  PONTE_WEBHOOK_LEASE_SECONDS   how long a claimed event is held before another processor may take it (120).
  PONTE_WEBHOOK_RUN_TIMEOUT_SECONDS  a started run that reports no outcome for this long counts as failed (21600).
  PONTE_WEBHOOK_COMPANY_TABLE   where tap-bling landed its `empresa` stream (default `bling.empresa`): its
                                (id, conta) rows tell which account a companyId is; `none` turns the lookup off.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponte.core.errors import ConfigError
from ponte.core.project_env import project_env
from ponte.core.setting_text import env_number
from ponte.notify import Alert
from ponte.service import plugin_settings
from ponte.service.runs import RunStart

logger = logging.getLogger("ponte.service.webhooks")

DEFAULT_RULES = "webhooks/bling.yml"
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_LEASE_SECONDS = 120.0
DEFAULT_RUN_TIMEOUT_SECONDS = 6 * 3600.0
DEFAULT_COMPANY_TABLE = "bling.empresa"

StartRun = Callable[[RunStart], Awaitable[str]]
RunStatus = Callable[[str], Awaitable[str | None]]
FindRun = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class BlingAccount:
    """One configured tap-bling account: its name, and the companyId it answers to when configured."""

    name: str
    company_id: str | None = None


@dataclass(frozen=True)
class BlingSettings:
    """The signing keys and accounts of tap-bling, as the service sees them (its env and `.env`)."""

    client_secrets: tuple[str, ...] = ()
    accounts: tuple[BlingAccount, ...] = ()
    accounts_json: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def read(cls, env: Mapping[str, str]) -> BlingSettings:
        """From `TAP_BLING_CLIENT_SECRET` and `TAP_BLING_ACCOUNTS` (a JSON list, as tap-bling reads it)."""
        secrets = [env.get("TAP_BLING_CLIENT_SECRET") or ""]
        raw = (env.get("TAP_BLING_ACCOUNTS") or "").strip()
        entries: list[Mapping[str, Any]] = []
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise ConfigError("TAP_BLING_ACCOUNTS is not valid JSON; expected a list of accounts") from None
            if not isinstance(parsed, list) or not all(isinstance(e, dict) and e.get("name") for e in parsed):
                raise ConfigError('TAP_BLING_ACCOUNTS must be a JSON list like [{"name": "loja1"}]')
            entries = parsed
        secrets += [str(e.get("client_secret") or "") for e in entries]
        accounts = tuple(BlingAccount(str(e["name"]), str(e["company_id"]) if e.get("company_id") else None)
                         for e in entries)  # fmt: skip
        unique = tuple(dict.fromkeys(s for s in secrets if s))
        return cls(client_secrets=unique, accounts=accounts, accounts_json=tuple(entries))


def resolve_bling(project: Path, environment: str | None, env: Mapping[str, str]) -> BlingSettings:
    """tap-bling's secret and accounts from `env`; when it names neither, from tap-bling's config in meltano.yml
    and its environment (the dev environment's sandbox app), read from the YAML: asking `meltano config` took
    seconds (23 s on a loaded machine) of every service start."""
    settings = BlingSettings.read(env)
    if settings.client_secrets or settings.accounts:
        return settings
    plugin = plugin_settings.plugins(project).get("tap-bling")
    if plugin is None:
        logger.warning("webhooks: no TAP_BLING_CLIENT_SECRET and no tap-bling in meltano.yml: every webhook will be "
                       "refused with 401 until it is set")  # fmt: skip
        return settings
    resolved = plugin_settings.resolve(project, plugin, env, {}, environment)
    secret, accounts = resolved["client_secret"].value, resolved["accounts"].value
    return BlingSettings.read({
        "TAP_BLING_CLIENT_SECRET": expand_env(plugin_settings.as_text(secret), env),
        "TAP_BLING_ACCOUNTS": expand_env(plugin_settings.as_text(accounts or []), env),
    })  # fmt: skip


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """`$VAR` and `${VAR}` in a meltano.yml value, as Meltano expands them (unset: empty)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)


UNSET: Any = None  # a setting left to the environment (PONTE_WEBHOOK_*), read in __post_init__


@dataclass
class WebhookContext:
    """The service's side of the webhook intake (agreed with `ponte serve`): where events are stored, how a run
    starts and how a person is told. `start_run` returns the run id; the run's outcome is read from
    `<schema>.pipeline_runs` (ponte run's record) unless `run_status` is given. Settings not passed are read
    from `env` (default: the process environment over the project's `.env`; see the module docstring).

    `find_run(batch_id)` is optional: it answers whether a run for a batch (`PONTE_WEBHOOK_BATCH` in its
    `extra_env`) was already started. With it, a processor killed between starting a run and recording it does
    not start that run again after a restart; without it, that one batch starts again (a harmless incremental run).
    """

    dsn: str
    project: Path
    start_run: StartRun
    schema: str = "ponte"
    notify: Callable[[Alert], None] | None = None
    bling: BlingSettings | None = None
    rules_path: Path | None = UNSET
    max_body_bytes: int = UNSET
    lease_seconds: float = UNSET
    run_timeout_seconds: float = UNSET
    company_table: str | None = UNSET
    poll_seconds: float = 0.5
    busy_retry_seconds: float = 30.0
    run_status: RunStatus | None = None
    find_run: FindRun | None = None
    environment: str | None = None
    env: Mapping[str, str] | None = field(default=None, repr=False)
    _store: Any = field(default=None, repr=False)
    on_bling_change: list[Callable[[BlingSettings], None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        merged = project_env(self.project, self.env)
        self.env = merged
        self._base_env = dict(merged)
        if self.rules_path is UNSET and merged.get("PONTE_WEBHOOK_RULES"):
            rules = Path(merged["PONTE_WEBHOOK_RULES"])
            self.rules_path = rules if rules.is_absolute() else self.project / rules
        if self.max_body_bytes is UNSET:
            self.max_body_bytes = int(
                env_number(merged, "PONTE_WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, above=True)
            )
        if self.lease_seconds is UNSET:
            self.lease_seconds = env_number(merged, "PONTE_WEBHOOK_LEASE_SECONDS", DEFAULT_LEASE_SECONDS, above=True)
        if self.run_timeout_seconds is UNSET:
            self.run_timeout_seconds = env_number(
                merged, "PONTE_WEBHOOK_RUN_TIMEOUT_SECONDS", DEFAULT_RUN_TIMEOUT_SECONDS, above=True
            )
        if self.company_table is UNSET:
            table = (merged.get("PONTE_WEBHOOK_COMPANY_TABLE") or "").strip() or DEFAULT_COMPANY_TABLE
            self.company_table = "" if table.lower() == "none" else table

    @classmethod
    def from_env(
        cls, dsn: str, project: Path, start_run: StartRun, env: Mapping[str, str] | None = None, **values: Any
    ) -> WebhookContext:
        """A context whose settings, the Bling secrets included, are resolved now from `env` and `.env`."""
        ctx = cls(dsn=dsn, project=project, start_run=start_run, env=env, **values)
        ctx.bling_settings  # noqa: B018 (resolved now: it may ask Meltano)
        return ctx

    def use_saved(self, saved: Mapping[str, str]) -> None:
        """Settings saved in the control panel (as the variables runs get) over the environment and `.env`: the
        Bling secret and accounts the signatures are checked with are then the panel's, from the next request on."""
        self.env = {**self._base_env, **saved}
        self.bling = None
        for listener in self.on_bling_change:
            listener(self.bling_settings)

    @property
    def bling_settings(self) -> BlingSettings:
        if self.bling is None:
            self.bling = resolve_bling(self.project, self.environment, self.env or {})
        return self.bling

    def event_store(self) -> Any:
        """The pool-backed store the intake and the processor of this context share (opened on first use)."""
        if self._store is None:
            from ponte.service.webhooks.event_store import EventStore

            self._store = EventStore(self.dsn, self.schema)
        return self._store

    @property
    def rules_file(self) -> Path:
        """The rules: PONTE_WEBHOOK_RULES, else the project's `webhooks/bling.yml`, else the one Ponte ships."""
        if self.rules_path is not None:
            return self.rules_path
        own = self.project / DEFAULT_RULES
        if own.is_file():
            return own
        from ponte.declaration.declaration_paths import declaration_path

        return declaration_path("bling", "webhooks")
