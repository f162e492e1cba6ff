"""Console script `target-postgres`.

A plain load (`target-postgres --config FILE [--config FILE…] [--input FILE]`, which is how Meltano runs
loaders) goes straight to the SDK-free `Loader`: importing singer-sdk costs about a second per run, which
would dominate small incremental syncs. Everything else — `--about`, `--version`, `--help`, `--config ENV`,
or a config using stream maps, flattening or record validation — runs the singer-sdk `TargetPostgres`,
which drives the same loader.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ponte.core.errors import PonteError
from ponte.core.log_level import misnamed_level_warning, plugin_log_level
from ponte.targets.postgres.loader import Loader, LoadInterrupted
from ponte.targets.postgres.settings import LoaderSettings

SDK_ONLY_SETTINGS = ("stream_maps", "stream_map_config", "faker_config", "flattening_enabled", "validate_records")
LOG_FORMAT = "%(asctime)s | %(levelname)-8s | %(name)-30s | %(message)s"


def __getattr__(name: str) -> Any:
    """`from ponte.targets.postgres.target import TargetPostgres` works without importing the SDK eagerly."""
    if name in ("TargetPostgres", "CONFIG_SCHEMA"):
        from ponte.targets.postgres import singer_target

        return getattr(singer_target, name)
    raise AttributeError(name)


def plain_load_arguments(argv: list[str]) -> tuple[list[str], str | None] | None:
    """(config files, input file) when argv asks for nothing but a load, else None (the SDK handles it)."""
    configs: list[str] = []
    input_file: str | None = None
    arguments = iter(argv)
    for argument in arguments:
        option, _, inline = argument.partition("=")
        if option not in ("--config", "--input"):
            return None
        value = inline or next(arguments, None)
        if value is None or value == "ENV":
            return None
        if option == "--config":
            configs.append(value)
        elif input_file is None:
            input_file = value
        else:
            return None
    return configs, input_file


def read_config(paths: list[str]) -> dict[str, Any]:
    """Merge JSON config files in order, like singer-sdk does."""
    config: dict[str, Any] = {}
    for path in paths:
        config |= json.loads(Path(path).read_text(encoding="utf-8"))
    return config


def needs_sdk(config: dict[str, Any]) -> bool:
    """Settings only singer-sdk implements (stream maps, flattening, JSON Schema validation)."""
    return any(config.get(name) for name in SDK_ONLY_SETTINGS)


def _run_with_sdk() -> None:
    from ponte.targets.postgres.singer_target import TargetPostgres

    gc.freeze()  # the SDK's import-time objects never need collecting; keeps collections cheap on the hot path
    try:
        TargetPostgres.cli()
    except PonteError as exc:  # an expected failure (e.g. the database stayed unreachable): one line, no traceback
        logging.getLogger("target-postgres").error("%s", exc)
        sys.exit(exc.exit_code)


def _version() -> str:
    try:
        return metadata.version("ponte-elt")
    except metadata.PackageNotFoundError:
        return "unknown"


def run_plain_load(configs: list[str], input_file: str | None) -> int:
    """Load stdin (or `input_file`) with the SDK-free loader; returns the exit code."""

    logging.basicConfig(level=plugin_log_level("target-postgres"), format=LOG_FORMAT)
    logger = logging.getLogger("target-postgres")
    if warning := misnamed_level_warning("target-postgres"):
        logger.warning("%s", warning)
    logger.info("target-postgres v%s (ponte loader; singer-sdk not loaded for a plain load)", _version())
    try:
        settings = LoaderSettings.from_config(read_config(configs))
    except (OSError, ValueError, PonteError) as exc:
        logger.error("invalid config: %s", exc)
        return 1

    def interrupt(signum: int, _frame: Any) -> None:
        logger.warning("received signal %d: rolling back open batches and stopping", signum)
        raise LoadInterrupted(signum)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    loader = Loader(settings, logger)
    gc.freeze()
    try:
        with open(input_file, encoding="utf-8") if input_file else sys.stdin as source:
            counts = loader.read(source)
        loader.finish()
    except LoadInterrupted as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except PonteError as exc:
        logger.error("%s", exc)
        return exc.exit_code
    except Exception as exc:
        logger.error("%s", exc.args[0] if exc.args else type(exc).__name__, exc_info=exc)
        return 1
    logger.info(
        "read %d lines (%d schemas, %d records, %d state, %d activate version messages)",
        sum(counts.values()),
        counts["SCHEMA"],
        counts["RECORD"],
        counts["STATE"],
        counts["ACTIVATE_VERSION"],
    )
    return 0


def main() -> None:
    """Console script entry point."""
    plain = plain_load_arguments(sys.argv[1:])
    if plain is not None:
        configs, input_file = plain
        try:
            sdk = needs_sdk(read_config(configs))
        except (OSError, ValueError):
            sdk = True  # let singer-sdk report the unreadable config the way it always does
        if not sdk:
            sys.exit(run_plain_load(configs, input_file))
    _run_with_sdk()


if __name__ == "__main__":
    main()
