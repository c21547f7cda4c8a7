"""Finding or starting Ray: the caller's Ray, a cluster at an address, or a local one."""

from __future__ import annotations

import logging
import os

from uqkit.exceptions import require

__all__ = ["RAY_EXTRA", "connect_ray", "keeps_idle_workers"]

RAY_EXTRA = "search"

logger = logging.getLogger(__name__)

# Ray keeps at most `num_workers_soft_limit` idle workers (default: one per CPU) and ends the
# others after a second idle. Tune's trial actors count as workers, so with that default the
# task workers that train AutoDEUQ trials are ended between searches and their imports (torch,
# uqkit: seconds of CPU each) are paid again. A local Ray that uqkit starts keeps more.
IDLE_WORKERS_PER_CPU = 4
_started_here: str | None = None  # node id of the local Ray this module started


def connect_ray(address: str | None = None, *, verbose: int = 0) -> bool:
    """Use the running Ray, or connect to ``address``, or start a local Ray.

    An initialised Ray (the caller's) is used as it is and never shut down. ``address``
    connects to a cluster (``"auto"`` or ``"ray://host:port"``). Otherwise a local Ray starts
    with this machine's CPUs, no dashboard and quiet logging, keeping up to
    :data:`IDLE_WORKERS_PER_CPU` idle worker processes per CPU (:func:`keeps_idle_workers`:
    AutoDEUQ trials then train on workers that stay warm between trials and searches); it
    stays up for later fits in this process (``ray.shutdown()`` stops it).

    Parameters
    ----------
    address : str, optional
        Cluster address; ``None`` starts a local Ray when none is running.
    verbose : int, default 0
        2 and above forward the workers' logs to this process.

    Returns
    -------
    bool
        Whether a local Ray was started by this call.

    Raises
    ------
    MissingDependencyError
        Ray is not installed (``pip install 'uqkit[search]'``).

    Examples
    --------
    >>> started_here = connect_ray(verbose=0)  # doctest: +SKIP
    """
    ray = require("ray", RAY_EXTRA)
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": verbose >= 2}
    if address is not None:
        ray.init(address=address, **quiet)
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    ray.init(num_cpus=cpus, include_dashboard=False,
             _system_config={"num_workers_soft_limit": IDLE_WORKERS_PER_CPU * cpus}, **quiet)
    global _started_here
    _started_here = ray.get_runtime_context().get_node_id()
    logger.info("Started a local Ray with %d CPUs; it stays up for later fits.", cpus)
    return True


def keeps_idle_workers() -> bool:
    """Whether the running Ray is a local one :func:`connect_ray` started, which keeps
    :data:`IDLE_WORKERS_PER_CPU` idle workers per CPU alive (Ray's own default: one).

    Examples
    --------
    >>> keeps_idle_workers()  # no Ray is running here
    False
    """
    import ray

    return (ray.is_initialized() and _started_here is not None
            and ray.get_runtime_context().get_node_id() == _started_here)
