"""The panel's "Testar conexão": one cheap check of a plugin with the values in its form, answered in one line.

Extractors run their own `--test` (ponte.tap.lifecycle: the declaration's `connection_check`, one authenticated
request), from the plugin's virtualenv under the Meltano project, with `--config ENV` and every resolved setting as
its `TAP_*` variable, so no secret is written to disk. target-postgres opens a connection to its database. Other
loaders have no check: the answer says so. Every answer is redacted of the settings' secret values.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponte.core.errors import PonteError
from ponte.http.redaction import Redactor
from ponte.service.connection_settings import env_name
from ponte.service.plugin_settings import PluginDefinition, Resolved, as_text

TIMEOUT_SECONDS = 60.0
MAX_LINE = 600
_LOG_PREFIX = re.compile(r"^\S+ \S+ \| \w+\s+\| \S+\s+\| ")  # singer-sdk's `time | LEVEL | logger | `


@dataclass(frozen=True)
class ConnectionAnswer:
    """What the check said: worked or not, and its line (redacted)."""

    ok: bool
    line: str


def plugin_executable(project: Path, env: Mapping[str, str], plugin: PluginDefinition) -> Path:
    """The plugin's executable in the virtualenv `meltano install` made (MELTANO_SYS_DIR_ROOT, else .meltano)."""
    root = Path(env.get("MELTANO_SYS_DIR_ROOT") or project / ".meltano")
    if not root.is_absolute():
        root = project / root
    return root / plugin.kind / plugin.name / "venv" / "bin" / plugin.executable


def _secrets(plugin: PluginDefinition, values: Mapping[str, Resolved]) -> Redactor:
    redactor = Redactor()
    for setting in plugin.settings:
        value = values.get(setting.name)
        if setting.sensitive and value is not None and value.value not in (None, ""):
            redactor.add(as_text(value.value))
    return redactor


def _answer_line(output: str, name: str) -> str:
    """The tap's own verdict lines (`tap-x: connection OK — …`), else the last line it printed."""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in output.splitlines() if line.strip()]
    verdicts = [line for line in lines if line.startswith(f"{name}: connection")]
    return " · ".join(verdicts) if verdicts else (lines[-1] if lines else "sem resposta")


async def check_extractor(
    project: Path, env: Mapping[str, str], plugin: PluginDefinition, values: Mapping[str, Resolved],
    timeout: float = TIMEOUT_SECONDS,
) -> ConnectionAnswer:  # fmt: skip
    """`<tap> --config ENV --test` with `values` as the tap's variables (only those: no stray TAP_* of the service)."""
    executable = plugin_executable(project, env, plugin)
    if not executable.exists():
        return ConnectionAnswer(False, f"{plugin.name} não está instalado ({executable}): rode `meltano install`.")
    prefix = env_name(plugin.name, "")
    child = {k: v for k, v in env.items() if not k.startswith(prefix)}
    child.update({env_name(plugin.name, n): as_text(r.value) for n, r in values.items() if r.value not in (None, "")})
    redactor = _secrets(plugin, values)
    process = await asyncio.create_subprocess_exec(
        str(executable), "--config", "ENV", "--test", cwd=project, env=child, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        await process.wait()
        return ConnectionAnswer(False, f"{plugin.name}: sem resposta em {timeout:.0f} s (teste interrompido).")
    line = redactor.redact(_answer_line(output.decode("utf-8", "replace"), plugin.name))
    return ConnectionAnswer(process.returncode == 0, line[:MAX_LINE])


async def check_postgres(plugin: PluginDefinition, values: Mapping[str, Resolved]) -> ConnectionAnswer:
    """target-postgres: connect to its database and ask for the server version."""
    import psycopg

    from ponte.targets.postgres.settings import build_conninfo

    config: dict[str, Any] = {n: r.value for n, r in values.items() if r.value not in (None, "")}
    redactor = _secrets(plugin, values)
    try:
        conninfo = build_conninfo(config, application_name="ponte serve (teste de conexão)")
        redactor.add(conninfo)
        async with await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10) as conn:
            cur = await conn.execute("SELECT current_user, current_database(), current_setting('server_version')")
            row = await cur.fetchone()
    except (psycopg.Error, PonteError) as exc:
        text = " ".join(str(exc).split())
        return ConnectionAnswer(False, redactor.redact(f"{plugin.name}: conexão FALHOU — {text}")[:MAX_LINE])
    assert row is not None
    return ConnectionAnswer(
        True, f"{plugin.name}: conexão OK — usuário {row[0]} no banco {row[1]} (PostgreSQL {row[2]})"
    )


async def check(
    project: Path, env: Mapping[str, str], plugin: PluginDefinition, values: Mapping[str, Resolved]
) -> ConnectionAnswer:
    """The check that fits the plugin (see the module's docstring)."""
    if plugin.is_extractor:
        return await check_extractor(project, env, plugin, values)
    if plugin.name == "target-postgres":
        return await check_postgres(plugin, values)
    return ConnectionAnswer(
        False, f"Teste de conexão não disponível para {plugin.name}: só extratores e target-postgres."
    )
