"""Fixtures of the common test base: one fitted estimator per class, shared by the checks."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import make_case


@pytest.fixture(scope="session")
def fitted():
    """``fitted(cls) -> (case, estimator)``: one fit per class and test process.

    The checks that only read a fitted estimator (save/load, prediction types, feature count)
    share it, so that a slow fit (an AutoDEUQ search) runs once.
    """
    cache: dict[type, tuple] = {}

    def get(cls: type):
        if cls not in cache:
            case = make_case(cls)
            cache[cls] = (case, case.fit())
        return cache[cls]

    yield get
    cache.clear()


@pytest.fixture(scope="session", autouse=True)
def _stop_ray_started_here():
    """Shut down a local Ray that an AutoDEUQ fit started on demand during these tests."""
    ray = sys.modules.get("ray")
    was_running = ray is not None and ray.is_initialized()
    yield
    ray = sys.modules.get("ray")
    if ray is not None and not was_running and ray.is_initialized():
        ray.shutdown()
