"""The order the suite is collected in, so that xdist's `worksteal` scheduling ends all workers together.

`worksteal` hands worker k the k-th of W contiguous slices of the collection (equal counts), then a worker that
runs dry takes the tail half of the longest queue. A few tests take minutes (real Meltano runs, a browser) and
most take milliseconds, so the slices are built here: the slow units, longest first, each into the slice with the
least estimated time that still has room, then the quick tests in their collected order to fill every slice to
the count xdist will cut. Stealing from the tails (quick tests) evens out what the estimates missed.

A unit is one test, or a whole module when its tests share a module- or class-scoped fixture (a browser and a
service, a tap run): split over workers, each would pay that set-up. Estimates come from `durations.json`
beside this file (seconds per test id, measured; tests under a second are left out). Refresh it after the suite
changed much:

    pytest -n 6 -m "not alone and not acceptance" --junitxml=/tmp/junit.xml
    python tests/xdist_order.py /tmp/junit.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

DURATIONS = Path(__file__).with_name("durations.json")
SLOW = 1.0  # seconds: a unit at least this long is placed; shorter ones fill
UNKNOWN = 0.1  # a test not in durations.json (new, or quick)
UNKNOWN_MELTANO = 15.0  # a new test marked `meltano` runs the real CLI


class Item(Protocol):
    nodeid: str

    def get_closest_marker(self, name: str) -> object | None: ...


def slice_sizes(count: int, workers: int) -> list[int]:
    """The counts worksteal's first distribution gives each worker (xdist WorkStealingScheduling.check_schedule)."""
    sizes, left = [], count
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    return sizes


def shares_module_fixture(item: object) -> bool:
    """Whether the test uses a module-, class- or package-scoped fixture (set up once per worker that runs it)."""
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", {}) or {}
    return any(chain and chain[-1].scope in ("module", "class", "package") for chain in defs.values())


def order(items: Sequence[Item], workers: int, durations: dict[str, float]) -> list[Item]:
    """`items` rearranged into `workers` slices of worksteal's sizes, slow units first in each."""

    def estimate(item: Item) -> float:
        if item.nodeid in durations:
            return durations[item.nodeid]
        return UNKNOWN_MELTANO if item.get_closest_marker("meltano") else UNKNOWN

    units: dict[str, list[Item]] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        key = module if shares_module_fixture(item) else item.nodeid
        units.setdefault(key, []).append(item)
    sizes = slice_sizes(len(items), workers)
    slices: list[list[Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    placed: set[str] = set()
    timed = sorted(units.items(), key=lambda kv: -sum(estimate(i) for i in kv[1]))
    for key, unit in timed:
        seconds = sum(estimate(i) for i in unit)
        if seconds < SLOW:
            break
        room = [k for k in range(workers) if len(slices[k]) + len(unit) <= sizes[k]]
        if not room:
            continue  # bigger than any slice's room: its tests fill in, in order
        k = min(room, key=lambda k: loads[k])
        slices[k].extend(unit)
        loads[k] += seconds
        placed.add(key)
    rest = [item for key, unit in units.items() if key not in placed for item in unit]
    for k in range(workers):
        need = sizes[k] - len(slices[k])
        slices[k].extend(rest[:need])
        del rest[:need]
    return [item for chunk in slices for item in chunk] + rest


def load_durations(path: Path = DURATIONS) -> dict[str, float]:
    """The measured durations, or none (every test then counts as unknown)."""
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
    except (OSError, ValueError):
        return {}


def nodeid(classname: str, name: str, root: Path) -> str:
    """A JUnit testcase's pytest id: `tests.integration.test_x.TestY` + `test_z` → `tests/integration/test_x.py::TestY::test_z`."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if (root / module).is_file():
            return "::".join([module, *parts[cut:], name])
    return f"{classname}::{name}"


def record(junit: Path, root: Path = Path(__file__).parents[1]) -> dict[str, float]:
    """Every test of at least SLOW seconds in a JUnit report (set-up and tear-down included)."""
    found = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        seconds = float(case.get("time") or 0)
        if seconds >= SLOW:
            found[nodeid(case.get("classname", ""), case.get("name", ""), root)] = round(seconds, 1)
    return dict(sorted(found.items()))


if __name__ == "__main__":
    measured = record(Path(sys.argv[1]))
    DURATIONS.write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
    print(f"{DURATIONS}: {len(measured)} tests of {SLOW} s or more, {sum(measured.values()):.0f} s in all")
