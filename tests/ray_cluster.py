"""A Ray cluster of several nodes on this machine, for the tests of lost nodes and GPU fractions.

``ray.cluster_utils.Cluster`` starts each node as its own raylet (own object store, own worker
processes), so removing one kills its running tasks and trial actors as a lost machine would.
Every node sees the same disk, which plays the shared storage of a real cluster.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# a node gets few resources, and the object store the smallest size Ray accepts by default
_NODE = {"object_store_memory": 80 * 1024 * 1024, "include_dashboard": False}


@contextlib.contextmanager
def local_cluster(*workers: dict, head: dict | None = None) -> Iterator[tuple]:
    """Start a head node (``head``, default no CPU: nothing is scheduled on the driver's node)
    and one worker node per dict of ``workers``; connect this process; on exit, even after a
    failure, disconnect and stop every node.

    Yields ``(ray, cluster, worker_nodes)``.
    """
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # a Ray left running by an earlier test would be used instead
        ray.shutdown()
    # Ray writes the cluster's address to <temp>/ray/ray_current_cluster, where every plain
    # ray.init() on this machine (other test processes too) would find it and join this cluster
    # instead of starting its own Ray: keep Ray's files in a folder of this cluster (short,
    # since Ray's socket paths must stay under 108 characters)
    scratch = tempfile.mkdtemp(prefix="uqray-")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
            patch.setenv("RAY_TMPDIR", scratch)
            cluster = Cluster(initialize_head=True,
                              head_node_args={"num_cpus": 0, **_NODE, **(head or {})})
            try:
                nodes = [cluster.add_node(**{**_NODE, **w}) for w in workers]
                cluster.wait_for_nodes(timeout=120)
                ray.init(address=cluster.address, logging_level=logging.ERROR,
                         log_to_driver=False)
                yield ray, cluster, nodes
            finally:
                ray.shutdown()
                cluster.shutdown()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class NodeKiller(threading.Thread):
    """Removes the worker node named in ``signal`` as soon as that file appears.

    A task or trial that wants its node to die writes its node id (``ray.get_runtime_context()
    .get_node_id()``) to ``signal`` and then waits; ``before()`` runs just before the removal
    (to take a snapshot of what finished). ``removed_at`` is the ``time.time()`` of the removal.
    """

    def __init__(self, cluster, signal: Path, before: Callable[[], None] | None = None) -> None:
        super().__init__(daemon=True)
        self.cluster, self.signal, self.before = cluster, Path(signal), before
        self.stop = threading.Event()
        self.removed_at: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if self.signal.exists():
                    node_id = self.signal.read_text().strip()
                    (node,) = [n for n in self.cluster.worker_nodes if n.node_id == node_id]
                    if self.before is not None:
                        self.before()
                    self.cluster.remove_node(node)
                    self.removed_at = time.time()
                    return
                time.sleep(0.05)
        except BaseException as err:  # reported by the test, not lost in the thread
            self.error = err

    def __enter__(self) -> NodeKiller:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join(timeout=120)


def announcer(signal: Path) -> Callable[[], None]:
    """A function for a task or trial: name this node in ``signal`` (atomically), then wait
    for the node to be removed (the process dies in the sleep). A closure, so that Ray pickles
    it by value: the workers need not import the tests."""
    signal = str(signal)

    def announce_and_wait() -> None:
        import os
        import time

        import ray

        node_id = ray.get_runtime_context().get_node_id()
        partial = f"{signal}.{os.getpid()}"
        with open(partial, "w") as handle:
            handle.write(node_id)
        os.replace(partial, signal)
        time.sleep(300)
        raise RuntimeError("the node was not removed within 300 s")

    return announce_and_wait
