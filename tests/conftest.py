"""Shared pytest set-up: one torch thread per test process (the suite runs with xdist), and a
local Ray started once per test module that asks for it."""

import logging
import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ray_session():
    """A local 2-CPU Ray for one test module (someone else's running Ray is used and left on)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        for attempt in range(2):  # Ray gives its node 30 s to start: once more if busy
            try:
                ray.init(address="local", num_cpus=2, include_dashboard=False,
                         logging_level=logging.ERROR, log_to_driver=False)
                break
            except Exception:
                ray.shutdown()
                if attempt:
                    raise
    yield ray
    ray.shutdown()
