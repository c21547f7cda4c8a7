"""The hand-over of trial slots from one search to the next search of the same process.

Ray frees a finished Tune run's trial actors and placement groups asynchronously: right after
``Tuner.fit`` returns, a trial's CPU can stay taken for a second or more. A search that starts
in that time gets fewer trial slots than it asked for at first, and Tune does not always catch
up: with ``reuse_actors=True`` a waiting trial takes the actor of a trial that just finished
and cancels its own, still starting, actor. Where trials are shorter than an actor's start
(a second or two on a loaded machine; pooled trials of small networks take less), every later
trial does the same, and the search keeps the slots it started with to its end (measured: 24
trials on 2 slots took 30 s instead of 15 s when one CPU was taken for the first 4 s).

So a search notes when it ended, and the next one of the same process waits (briefly) for the
resources its trials need before Tune starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["await_free_slots", "note_search_end"]

logger = logging.getLogger(__name__)

WAIT_S = 10.0  # longest wait after an earlier search of this process
_POLL_S = 0.05
_RAY_NAMES = {"cpu": "CPU", "gpu": "GPU"}  # Tune's spelling -> Ray's
_last_end: float | None = None


def note_search_end() -> None:
    """Record that a search of this process has just ended (its resources are being freed)."""
    global _last_end
    _last_end = time.monotonic()


def await_free_slots(resources: dict, slots: int, *, available: Callable[[], dict] | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> bool:
    """Wait until ``slots`` trials of ``resources`` each fit in Ray's free resources, for up to
    :data:`WAIT_S` seconds after the end of the previous search of this process (no wait when
    there was none, or it ended longer ago: the resources are taken by something else).

    Parameters
    ----------
    resources : dict
        One trial's resources in Tune's spelling (``{"cpu": 1.0, "gpu": 0.0}``).
    slots : int
        Trials that should start at once.
    available : callable, optional
        Ray's free resources (default ``ray.available_resources``).
    sleep : callable, optional
        How to wait between two looks.

    Returns
    -------
    bool
        Whether the slots' resources are free; if not, an INFO line on the ``uqkit`` logger says
        how many are missing (Tune starts those trials when their resources free up).

    Examples
    --------
    >>> free = iter([{"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 2.0}])
    >>> note_search_end()
    >>> await_free_slots({"cpu": 1.0, "gpu": 0.0}, 2, available=lambda: next(free),
    ...                  sleep=lambda s: None)
    True
    """
    if available is None:
        import ray

        available = ray.available_resources
    needed = {_RAY_NAMES.get(k, k): v * slots for k, v in resources.items() if v}
    waited_for = _last_end
    while True:
        free = available()
        short = {k: v for k, v in needed.items() if free.get(k, 0.0) + 1e-9 < v}
        if not short:
            return True
        if waited_for is None or time.monotonic() - waited_for > WAIT_S:
            break
        sleep(_POLL_S)
    logger.info("The search starts with fewer free resources than %d trial slot(s) need "
                "(%s); Tune starts those trials when the resources free up.", slots,
                ", ".join(f"{k}: {free.get(k, 0.0):g} free of {v:g}" for k, v in short.items()))
    return False
