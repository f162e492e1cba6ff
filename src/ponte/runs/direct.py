"""`ponte run --direct`: a job's blocks as one pipe of the plugins' executables, without starting Meltano.

Why: `meltano run` spends seconds starting (and resolving every plugin's settings) before the first request; a
webhook-triggered stock sync must post within seconds of the sale. Each block's config (and an extractor's
catalog, selection applied) is asked of Meltano once — `meltano invoke --dump=config|catalog` — and kept in
`.ponte/direct/` (0600) until meltano.yml (or an included file), `.env` or any variable of the run's environment
other than the per-run ones changes (the panel's saved settings reach runs as variables, so saving them
changes the key). The per-run variables — `PONTE_WEBHOOK_*`, `PONTE_SKUS`, `PONTE_DRY_RUN` and the names in
`PONTE_RUN_OVERLAY` (the service's extras, e.g. a narrowed TAP_BLING_ACCOUNTS) — are left out of the
resolution and laid over each config: a setting whose meltano.yml value names one (`produto_ids:
$PONTE_WEBHOOK_IDS_BY_ACCOUNT`) is expanded again, and a plugin variable among them (`TAP_BLING_ACCOUNTS`) sets
its setting, as Meltano would.

What the pipe does not do: Meltano's state (a direct run neither reads nor saves the extractor's bookmarks: meant
for jobs whose extractor lists what it needs on every run, like the stock sync), `--full-refresh` and the other
`meltano run` options. Everything else of `ponte run` is unchanged (record, lock, log, alerts): the plugins'
stderr lines are fed to the launcher as Meltano's JSON lines would be.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ponte.core.errors import ConfigError
from ponte.core.meltano_project import MeltanoProject, meltano_sys_dir
from ponte.core.private_files import private_folder, replace_file

OVERLAY_ENV = "PONTE_RUN_OVERLAY"
PER_RUN_PREFIXES = ("PONTE_WEBHOOK_",)
PER_RUN_NAMES = frozenset({"PONTE_SKUS", "PONTE_DRY_RUN", OVERLAY_ENV})
ROLES = {"extractors": "extractor", "mappers": "mapper", "loaders": "loader"}
CACHE_DIR = ".ponte/direct"
KEEP = 8  # resolutions kept (projects, environments, tests side by side)
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Block:
    """One block of the pipe: what the job names, the plugin whose executable runs it, its resolved settings."""

    name: str
    plugin: str
    role: str
    executable: str
    config: dict[str, Any]
    catalog: dict[str, Any] | None = None
    prefixes: list[str] = field(default_factory=list)  # the plugin's variables: TAP_BLING__STOCK_*, TAP_BLING_*
    templates: dict[str, str] = field(default_factory=dict)  # setting → its meltano.yml text naming variables
    kinds: dict[str, str] = field(default_factory=dict)


def per_run_names(env: Mapping[str, str]) -> set[str]:
    """The variables that change from run to run: never part of the resolution, laid over it."""
    listed = {n.strip() for n in (env.get(OVERLAY_ENV) or "").split(",") if n.strip()}
    found = {n for n in env if n.startswith(PER_RUN_PREFIXES) or n in PER_RUN_NAMES} | listed
    return {n for n in found if not n.endswith(("__SELECT", "__METADATA"))}  # these change the catalog


def _env_prefix(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _chain(project: MeltanoProject, plugin: str) -> list[dict[str, Any]]:
    """The plugin's definition, then those it inherits from."""
    found: list[dict[str, Any]] = []
    name: str | None = plugin
    while name and name in project.definitions and len(found) < 10:
        found.append(project.definitions[name])
        name = project.definitions[name].get("inherit_from")
    return found


def _environment_config(project: MeltanoProject, environment: str | None, kind: str, name: str) -> dict[str, Any]:
    active = project.environments.get(environment or project.default_environment or "") or {}
    for entry in ((active.get("config") or {}).get("plugins") or {}).get(kind) or []:
        if entry.get("name") == name:
            return dict(entry.get("config") or {})
    return {}


def _executable(project: MeltanoProject, chain: list[dict[str, Any]], env: Mapping[str, str]) -> str:
    """The plugin's executable in its Meltano virtualenv, else next to this interpreter, else on PATH."""
    name = next((str(d["executable"]) for d in chain if d.get("executable")), str(chain[0]["name"]))
    root = chain[-1]
    candidates = [
        meltano_sys_dir(project.root, env) / str(root["type"]) / str(root["name"]) / "venv" / "bin" / name,
        Path(sys.executable).parent / name,
    ]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"{chain[0]['name']}: its executable {name} was not found; run `meltano install`")
    return found


def _cache_key(project: MeltanoProject, blocks: list[str], env: Mapping[str, str], environment: str | None,
               per_run: set[str]) -> str:  # fmt: skip
    digest = hashlib.sha256()
    for path in [*project.files, project.root / ".env"]:
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"-")
    stable = {k: v for k, v in env.items() if k not in per_run}
    digest.update(json.dumps([blocks, environment, sorted(stable.items())]).encode())
    return digest.hexdigest()[:32]


def _meltano_dump(meltano: str, what: str, name: str, root: Path, env: Mapping[str, str],
                  environment: str | None) -> dict[str, Any]:  # fmt: skip
    command = [meltano, *([f"--environment={environment}"] if environment else []), "invoke", f"--dump={what}", name]
    done = subprocess.run(command, cwd=root, env=dict(env), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join((done.stderr or "").strip().splitlines()[-3:])[-600:]
        raise ConfigError(f"`meltano invoke --dump={what} {name}` failed (exit {done.returncode}): {tail}")
    try:
        return json.loads(done.stdout)  # type: ignore[no-any-return]
    except ValueError:
        raise ConfigError(f"`meltano invoke --dump={what} {name}` printed no JSON") from None


def resolve_blocks(
    root: Path,
    blocks: list[str],
    env: Mapping[str, str],
    environment: str | None,
    meltano: str,
    say: Callable[[str], None] = lambda _text: None,
) -> list[Block]:
    """The job's blocks with their settings, from the cache when nothing they depend on changed."""
    project = MeltanoProject.load(root)
    expanded = project.blocks(blocks)
    per_run = per_run_names(env)
    folder = root / CACHE_DIR
    cache = folder / f"{_cache_key(project, expanded, env, environment, per_run)}.json"
    if cache.is_file():
        try:
            return [Block(**b) for b in json.loads(cache.read_text(encoding="utf-8"))]
        except (ValueError, TypeError):
            pass  # unreadable: resolve again
    say(f"direct run: resolving {', '.join(expanded)} through Meltano (once; kept until the settings change)")
    quiet = {k: v for k, v in env.items() if k not in per_run}
    plans = []
    for name in expanded:
        if ":" in name:
            raise ConfigError(f"a direct run cannot run the command block {name}; run it without --direct")
        plugin = project.mapping_plugins.get(name, name)
        chain = _chain(project, plugin)
        if not chain:
            raise ConfigError(f"{name} is not a plugin or mapping of {root / 'meltano.yml'}")
        kind = str(chain[-1]["type"])
        role = ROLES.get(kind)
        if role is None:
            raise ConfigError(f"{name} is a {kind} plugin; a direct run only runs extractors, mappers and loaders")
        plans.append((name, plugin, chain, kind, role))
    asks = [(name, "config") for name, *_ in plans] + [(p[0], "catalog") for p in plans if p[4] == "extractor"]
    def dump(ask: tuple[str, str]) -> dict[str, Any]:
        return _meltano_dump(meltano, ask[1], ask[0], root, quiet, environment)

    # the first alone (it may create Meltano's system database), then the others side by side
    dumps = {asks[0]: dump(asks[0])}
    with ThreadPoolExecutor(max_workers=max(1, len(asks) - 1)) as pool:
        dumps.update(zip(asks[1:], pool.map(dump, asks[1:]), strict=True))
    found = []
    for name, plugin, chain, kind, role in plans:
        templates: dict[str, str] = {}
        kinds: dict[str, str] = {}
        for definition in reversed(chain):
            kinds.update({str(s["name"]): str(s.get("kind") or "string") for s in definition.get("settings") or []})
        mapping = [m.get("config") or {} for d in chain for m in d.get("mappings") or [] if m.get("name") == name]
        for values in [*(d.get("config") or {} for d in reversed(chain)), *mapping]:
            templates.update({k: v for k, v in values.items() if isinstance(v, str)})
        for definition in reversed(chain):
            declared = _environment_config(project, environment, kind, str(definition["name"]))
            templates.update({k: v for k, v in declared.items() if isinstance(v, str)})
        found.append(Block(
            name=name, plugin=plugin, role=role, executable=_executable(project, chain, env),
            config=dumps[(name, "config")], catalog=dumps.get((name, "catalog")),
            prefixes=[_env_prefix(str(d["name"])) for d in chain],
            templates={k: v for k, v in templates.items() if _VARIABLE.search(v)}, kinds=kinds,
        ))  # fmt: skip
    private_folder(folder, "direct-run cache", CACHE_DIR)
    replace_file(cache, json.dumps([asdict(b) for b in found]).encode("utf-8"))
    kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime if p.exists() else 0, reverse=True)
    for old in kept[KEEP:]:  # keys are content hashes, so an old one is never wrong, only unused
        old.unlink(missing_ok=True)
    return found


def _parse(text: str, kind: str | None) -> Any:
    """A variable's text as the setting's value (JSON for arrays, objects and JSON-looking text)."""
    if kind in ("array", "object") or text.strip()[:1] in ("[", "{"):
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text
    if kind == "boolean":
        return text.strip().lower() in ("1", "true", "yes", "on")
    if kind == "integer" and text.strip().lstrip("-").isdigit():
        return int(text)
    return text


def run_config(block: Block, env: Mapping[str, str]) -> dict[str, Any]:
    """The block's resolved config with this run's variables laid over it."""
    per_run = per_run_names(env)
    config = copy.deepcopy(block.config)
    for setting, text in block.templates.items():
        names = {a or b for a, b in _VARIABLE.findall(text)}
        if names & per_run:
            value = _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)
            config[setting] = _parse(value, block.kinds.get(setting))
    for prefix in reversed(block.prefixes):  # the plugin's own variables win over its parent's
        for name in sorted(per_run):
            if name.startswith(prefix + "_") and not name.startswith(prefix + "__") and name in env:
                setting = name[len(prefix) + 1 :].lower()
                config[setting] = _parse(env[name], block.kinds.get(setting))
    return config


def run_pipe(
    blocks: list[Block],
    env: Mapping[str, str],
    cwd: Path,
    on_line: Callable[[Block, str], None],
    on_started: Callable[[list[subprocess.Popen[bytes]]], None] = lambda _procs: None,
) -> list[int]:
    """Start the blocks as one pipe (stdout → next stdin), hand every stderr line to `on_line` in this thread,
    and return the exit codes in block order."""
    lines: queue.Queue[tuple[Block, str] | None] = queue.Queue()
    with tempfile.TemporaryDirectory(prefix="ponte-direct-") as tmp:
        processes: list[subprocess.Popen[bytes]] = []
        previous = None
        for index, block in enumerate(blocks):
            config = Path(tmp) / f"{index}-config.json"
            replace_file(config, json.dumps(run_config(block, env)).encode("utf-8"))
            argv = [block.executable, "--config", str(config)]
            if block.catalog is not None:
                catalog = Path(tmp) / f"{index}-catalog.json"
                replace_file(catalog, json.dumps(block.catalog).encode("utf-8"))
                argv += ["--catalog", str(catalog)]
            last = index == len(blocks) - 1
            process = subprocess.Popen(
                argv, cwd=cwd, env=dict(env), stdin=previous if previous is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if last else subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            if previous is not None:
                previous.close()
            previous = process.stdout
            processes.append(process)
        on_started(processes)
        readers = [threading.Thread(target=_read, args=(block, process.stderr, lines), daemon=True)
                   for block, process in zip(blocks, processes, strict=True)]  # fmt: skip
        for reader in readers:
            reader.start()
        open_readers = len(readers)
        while open_readers:
            item = lines.get()
            if item is None:
                open_readers -= 1
                continue
            on_line(*item)
        return [process.wait() for process in processes]


def _read(block: Block, stream: Iterable[bytes] | None, out: queue.Queue[tuple[Block, str] | None]) -> None:
    try:
        for raw in stream or []:
            out.put((block, raw.decode("utf-8", "replace").rstrip("\r\n")))
    finally:
        out.put(None)


def meltano_event(block: Block, line: str) -> str:
    """The JSON line Meltano would have logged for a plugin's stderr line (what ponte run's log reader reads)."""
    producer = block.role in ("extractor", "mapper")
    consumer = block.role in ("loader", "mapper")
    return json.dumps({"event": line, "level": "info", "string_id": block.name, "name": block.plugin,
                       "stdio": "stderr", "producer": producer, "consumer": consumer})  # fmt: skip


def block_completed(blocks: list[Block], codes: list[int]) -> str:
    """Meltano's end-of-block line: success, and the exit code of each plugin that failed."""
    failed = {block.name: code for block, code in zip(blocks, codes, strict=True) if code}
    return json.dumps({"event": "Block run completed", "level": "info", "success": not failed,
                       "exit_codes": failed})  # fmt: skip
