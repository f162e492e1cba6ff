"""Console scripts `target-bling`, `target-proextend`, `target-retailportal`, `target-totvs`: API targets built from `targets/<name>.yml`
(target-totvs: `targets/totvs-<flavour>.yml`).

Singer conventions: `--config FILE` (repeatable; `ENV` reads `TARGET_<NAME>_<SETTING>` variables), `--about`
(`--format json` or `markdown`), `--test` (one request proving URL and credentials), `--input FILE` instead of stdin.
That same request is made before the first input line is read, so a wrong key fails at once, not after the
tap has run for minutes.
Exit codes: 0 done (refused records are in the dead-letter store), 2 bad declaration or settings, 3 credentials
refused, 4 API error, 5 bad input, 6 dead letters with `fail_on_dead_letters`, 7 a job's outcome is unknown
(no STATE emitted: run again, the records are re-sent), 69 the API's circuit breaker opened (the API failed
`circuit_breaker.failures` times in a row: nothing more was sent, no STATE emitted, nothing dead-lettered for it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from ponte.auth.registry import build_authenticator
from ponte.core.errors import ApiError, CircuitOpen, ConfigError, PonteError
from ponte.core.log_level import misnamed_level_warning, plugin_log_level
from ponte.core.setting_text import read_setting
from ponte.declaration.declaration_paths import declaration_path
from ponte.declaration.setting_aliases import apply_aliases
from ponte.declaration.validation import load_declaration
from ponte.http import HttpClient
from ponte.http.circuit_breaker import CircuitRegistry
from ponte.http.client_factory import build_client
from ponte.http.redaction import Redactor, weak_secret_warnings
from ponte.notify import Alert, Alerter, AlertSettings
from ponte.runlog.report import CIRCUIT_OPEN, report, this_run_id
from ponte.tap.accounts import resolve_accounts, secret_fields
from ponte.tap.runtime import effective_config, secret_settings
from ponte.targets.api.about import FORMATS, about_info, render_about
from ponte.targets.api.common_settings import all_settings
from ponte.targets.api.definition import build_target_def
from ponte.targets.api.runner import TargetRun


def read_config(paths: list[str], name: str, settings: list[dict[str, Any]]) -> dict[str, Any]:
    """Config files in order (later wins); `ENV` (or no file at all) adds `TARGET_<NAME>_<SETTING>` variables."""
    config: dict[str, Any] = {}
    for path in paths:
        if path == "ENV":
            continue
        try:
            config.update(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"target-{name}: cannot read config file {path}: {exc}") from None
    if "ENV" in paths or not paths:
        prefix = f"TARGET_{name.upper()}_"
        for setting in settings:
            value = os.environ.get(prefix + setting["name"].upper())
            if value not in (None, "") and setting["name"] not in config:
                config[setting["name"]] = value
    return coerce(config, settings, name)


def coerce(config: Mapping[str, Any], settings: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Values from env vars and Meltano arrive as text: give each declared setting its kind."""
    kinds = {s["name"]: s.get("kind", "string") for s in settings}
    try:
        return {key: read_setting(kinds.get(key, "string"), value, key) for key, value in config.items()}
    except ConfigError as exc:
        raise ConfigError(f"target-{name}: {exc}") from None


def run_target(name: str, argv: list[str] | None = None, declaration_name: str | None = None) -> int:
    """Parse the command line, build the target from its declaration, run it; returns the exit code.

    `declaration_name`: the YAML when it is not targets/<name>.yml (target-totvs: totvs-<flavour>.yml).
    """
    parser = argparse.ArgumentParser(
        prog=f"target-{name}", description=f"Singer target for {name} (targets/{name}.yml)"
    )
    parser.add_argument("--config", action="append", default=[], help="config JSON file (repeatable) or ENV")
    parser.add_argument("--about", action="store_true")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output of --about")
    parser.add_argument("--test", action="store_true", help="check URL and credentials with one request")
    parser.add_argument("--input", help="read Singer messages from this file instead of stdin")
    args = parser.parse_args(argv)
    level = plugin_log_level(f"target-{name}", os.environ.get("PONTE_LOG_LEVEL", "INFO"))
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logger = logging.getLogger(f"target-{name}")
    config: dict[str, Any] = {}
    redactor = Redactor()
    run: TargetRun | None = None
    if warning := misnamed_level_warning(f"target-{name}"):
        logger.warning("%s", warning)
    try:
        declaration = load_declaration(declaration_path(declaration_name or name, "targets"), "target")
        settings = all_settings(list(declaration.data.get("settings") or []))
        if args.about:
            print(render_about(about_info(declaration, settings), args.format), end="")
            return 0
        config = effective_config(
            settings, apply_aliases(f"target-{name}", settings, read_config(args.config, name, settings))
        )
        missing = [s["name"] for s in settings if s.get("required") and config.get(s["name"]) in (None, "")]
        if missing:
            env = ", ".join(f"TARGET_{name.upper()}_{m.upper()}" for m in missing)
            raise ConfigError(f"target-{name}: missing required setting(s) {', '.join(missing)} (env {env})")
        secrets = secret_settings(settings, config)
        redactor = Redactor(secrets.values())
        redactor.install(logger, logging.getLogger())
        for warning in weak_secret_warnings(f"target-{name}", secrets):
            logger.warning(warning)
        target = build_target_def(declaration.data, declaration.base_dir, config)
        circuits = CircuitRegistry()  # the accounts of one API share its circuit breaker
        clients = account_clients(declaration.data, config, redactor, target, logger, name, circuits)
        client = next(iter(clients.values())) if clients else build_client(
            declaration.data, {"config": config}, redactor, target.timezone, logger, f"target-{name}",
            plugin=f"target-{name}", build_auth=build_authenticator, circuits=circuits,
        )  # fmt: skip
        checked = list(clients.values()) or [client]
        if args.test:
            for one in checked:
                check_connection(target.url((target.connection_check or {}).get("path", "/")), one, logger, name)
            return 0
        if target.connection_check:
            for one in checked:
                check_credentials(target.url(target.connection_check["path"]), one, logger, name)
        run = TargetRun(target, config, client, redactor, logger, sys.stdout, clients or None)
        with open(args.input, encoding="utf-8") if args.input else sys.stdin as source:
            return run.run(source).exit_code
    except PonteError as exc:
        text = str(exc)
        text = text if text.startswith(f"target-{name}:") else f"target-{name}: {text}"
        print(text, file=sys.stderr)
        if isinstance(exc, CircuitOpen):
            report(CIRCUIT_OPEN, plugin=f"target-{name}", message=text, api=exc.api, retry_at=exc.retry_at)
            if run is None:  # the credentials check found the API down; a run alerts for itself
                alert_circuit_open(exc, config, redactor, logger, f"target-{name}")
        return exc.exit_code


def account_clients(
    spec: Mapping[str, Any],
    config: Mapping[str, Any],
    redactor: Redactor,
    target: Any,
    logger: logging.Logger,
    name: str,
    circuits: CircuitRegistry | None = None,
) -> dict[str, HttpClient]:
    """With `accounts:`, one client per account (its own token and rate budget, as the tap has); else none."""
    accounts = resolve_accounts(spec, config)
    for account in accounts:
        redactor.add(*(str(account[k]) for k in secret_fields(spec) if account.get(k)))
    return {
        a["name"]: build_client(
            spec,
            {"config": config, "account": a},
            redactor,
            target.timezone,
            logger,
            f"target-{name} account '{a['name']}'",
            plugin=f"target-{name}",
            build_auth=build_authenticator,
            circuits=circuits,
        )
        for a in accounts
    }


def alert_circuit_open(
    error: CircuitOpen, config: Mapping[str, Any], redactor: Redactor, logger: logging.Logger, plugin: str
) -> None:
    """Alert (the target's `alert_*` settings) that the API was found down before any record was read."""
    try:
        settings = AlertSettings.from_config(config)
    except ConfigError:
        return  # the settings error itself is what the run ended with
    if settings.enabled:
        title = f"API unavailable: circuit open for {error.api}"
        alert = Alert(plugin, "error", title, redactor.redact(str(error)), {}, run_id=str(this_run_id()))
        Alerter(settings, redact=redactor.redact, logger=logger).send(alert)


def check_connection(url: str, client: HttpClient, logger: logging.Logger, name: str) -> None:
    """`--test`: one GET; any failure is the answer."""
    client.send(requests.Request("GET", url).prepare(), label="connection check", expect_json=False)
    logger.info("target-%s: connection check passed (%s)", name, url)


def check_credentials(url: str, client: HttpClient, logger: logging.Logger, name: str) -> None:
    """Before reading input: refused credentials (401/403) or an unreachable API end the run at once.

    Any other error answer only warns: the endpoint proves nothing about the data, and sending will tell.
    """
    try:
        client.send(requests.Request("GET", url).prepare(), label="credentials check", expect_json=False)
    except ApiError as exc:
        if exc.status is None:
            raise
        logger.warning("target-%s: the credentials check got HTTP %s from %s; going on (%s)", name, exc.status,
                       url, exc)  # fmt: skip


def target_proextend() -> None:
    """`target-proextend`: ProExtend integration API (seven academic entities in dependency order)."""
    sys.exit(run_target("proextend"))


def target_bling() -> None:
    """`target-bling`: Bling API v3 balance postings (`POST /estoques`), one client per account."""
    sys.exit(run_target("bling"))


TOTVS_WRITE_FLAVOURS = ("plant", "protheus")


def configured_flavour(argv: list[str]) -> str:
    """target-totvs's `flavour` before anything is built: the last `--config` file holding it, else
    TARGET_TOTVS_FLAVOUR, else plant (it picks the declaration, so it is read first)."""
    found = None
    for index, arg in enumerate(argv):
        path = argv[index + 1] if arg == "--config" and index + 1 < len(argv) else None
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        if path and path != "ENV" and Path(path).is_file():
            try:
                found = json.loads(Path(path).read_text(encoding="utf-8")).get("flavour", found)
            except (ValueError, AttributeError):
                continue
    return str(found or os.environ.get("TARGET_TOTVS_FLAVOUR") or "plant").strip().lower()


def target_totvs() -> None:
    """`target-totvs`: SicFar → TOTVS write-back (production appointments, lot status), by `flavour`."""
    flavour = configured_flavour(sys.argv[1:])
    if flavour not in TOTVS_WRITE_FLAVOURS:
        print(f"target-totvs: flavour '{flavour}' is not one of {', '.join(TOTVS_WRITE_FLAVOURS)}; set "
              "TARGET_TOTVS_FLAVOUR", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    sys.exit(run_target("totvs", declaration_name=f"totvs-{flavour}"))


def target_retailportal() -> None:
    """`target-retailportal`: RetailPortal ERP ingest API (product batches as asynchronous jobs)."""
    sys.exit(run_target("retailportal"))
