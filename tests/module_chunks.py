"""xdist scheduling for this suite: the first tests of the collection each start on a worker of their own, and
a module's tests mostly share a worker.

xdist's `load` scheduling hands every worker a run of consecutive tests (a 24th of the collection with six
workers) before the first one starts, and never takes back what a worker has queued. tests/conftest.py puts
the minutes-long Meltano tests first, so they all landed on the first worker, one after the other, and ran
there while the other workers finished everything else and sat idle: the suite's last minutes.

Here a worker gets work only when it has fewer than two tests queued (it starts a test once it knows the next
one): the next run of consecutive tests from one module, at most `MAX_CHUNK`. So the slowest tests start in
parallel and in order, a long test holds back at most one run behind it, and the tests of a small module run
on one worker, sharing its module-scoped fixtures (a service, a browser).
"""

from __future__ import annotations

from xdist.scheduler import LoadScheduling
from xdist.workermanage import WorkerController

MAX_CHUNK = 8  # keeps a large module (30 target-postgres tests) spread over several workers
QUEUED = 2  # an xdist worker runs a test only when it has the next one


def module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class ModuleChunkScheduling(LoadScheduling):
    """`--dist load` with the hand-out described in the module docstring."""

    def schedule(self) -> None:
        """First hand-out, round robin so that the first tests start on different workers."""
        assert self.collection_is_completed
        if self.collection is None:
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = next(iter(self.node2collection.values()))
            self.pending[:] = range(len(self.collection))
        while self.pending and any(len(self.node2pending[n]) < QUEUED for n in self.nodes):
            for node in self.nodes:
                if self.pending and len(self.node2pending[node]) < QUEUED:
                    self._send_chunk(node)
        if not self.pending:
            for node in self.nodes:
                node.shutdown()

    def check_schedule(self, node: WorkerController, duration: float = 0) -> None:
        """After each test: top the worker's queue up to two tests, or let it finish when nothing is left."""
        if node.shutting_down:
            return
        while self.pending and len(self.node2pending[node]) < QUEUED:
            self._send_chunk(node)
        if not self.pending:
            node.shutdown()

    def _send_chunk(self, node: WorkerController) -> None:
        assert self.collection is not None
        first = module(self.collection[self.pending[0]])
        count = 1
        while (
            count < min(MAX_CHUNK, len(self.pending)) and module(self.collection[self.pending[count]]) == first
        ):  # fmt: skip
            count += 1
        self._send_tests(node, count)
