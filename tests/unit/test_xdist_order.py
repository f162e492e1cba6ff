"""The suite's order for xdist worksteal (tests/xdist_order.py): every worker's first slice carries its share of
the slow tests, and a module that shares a costly fixture stays on one worker."""

from __future__ import annotations

from dataclasses import dataclass, field

import xdist_order  # tests/xdist_order.py: tests/conftest.py's folder is on sys.path


@dataclass(eq=False)
class FakeItem:
    nodeid: str
    markers: tuple[str, ...] = ()
    module_fixture: bool = False
    _fixtureinfo: object = field(init=False)

    def __post_init__(self) -> None:
        scope = "module" if self.module_fixture else "function"
        chain = [type("Def", (), {"scope": scope})()]
        self._fixtureinfo = type("Info", (), {"name2fixturedefs": {"fixture": chain}})()

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


def test_slice_sizes_are_the_counts_worksteal_cuts() -> None:
    assert xdist_order.slice_sizes(10, 3) == [3, 3, 4]
    assert sum(xdist_order.slice_sizes(1446, 6)) == 1446


def test_slow_tests_spread_over_the_workers_first_slices_and_modules_with_shared_fixtures_stay_whole() -> None:
    quick = [FakeItem(f"tests/unit/test_q.py::test_{i}") for i in range(60)]
    slow = [FakeItem(f"tests/integration/test_s.py::test_{i}") for i in range(6)]
    browser = [FakeItem(f"tests/browser/test_b.py::test_{i}", module_fixture=True) for i in range(3)]
    new_meltano = FakeItem("tests/integration/test_m.py::test_new", markers=("meltano",))
    items = [*quick, *slow, *browser, new_meltano]
    durations = {item.nodeid: 100.0 - i for i, item in enumerate(slow)} | {item.nodeid: 20.0 for item in browser}

    ordered = xdist_order.order(items, 3, durations)

    assert sorted(i.nodeid for i in ordered) == sorted(i.nodeid for i in items)
    slices, start = [], 0
    for size in xdist_order.slice_sizes(len(items), 3):
        slices.append(ordered[start : start + size])
        start += size
    assert [sum(1 for i in s if i in slow) for s in slices] == [2, 2, 2]
    assert [s for s in slices if any(i in browser for i in s)] == [s for s in slices if browser[0] in s]
    for s in slices:  # slow units lead their slice; quick tests follow in their collected order
        timed = [i for i in s if i.nodeid in durations or i is new_meltano]
        assert s[: len(timed)] == timed
        rest = [quick.index(i) for i in s if i in quick]
        assert rest == sorted(rest)
