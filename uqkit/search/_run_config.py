"""The settings a user's ``ray.tune.RunConfig`` makes, as opposed to Ray's fill-ins.

Ray fills every field left unset when the ``RunConfig`` is made: storage ``~/ray_results``,
``FailureConfig(max_failures=0)``, ``verbose`` 1, default checkpoint and sync configs. So
``RunConfig(name="mine")`` cannot be told from one that sets those values. uqkit reads a field
equal to Ray's fill-in as unset: ``RayBackend.checkpoint_dir`` and ``max_retries`` and the
estimator's ``verbose`` then stay in charge, instead of being overridden by defaults nobody
chose.
"""

from __future__ import annotations

import dataclasses
import warnings

from uqkit.exceptions import InvalidInputError

__all__ = ["run_config_settings"]


def run_config_settings(run_config) -> dict:
    """The fields of ``run_config`` whose values differ from those Ray fills in.

    Parameters
    ----------
    run_config : ray.tune.RunConfig

    Returns
    -------
    dict
        ``{field name: value}`` of the fields set to something other than Ray's default (a
        field set to its default value reads as unset).

    Raises
    ------
    InvalidInputError
        ``run_config`` is not a ``RunConfig``.

    Examples
    --------
    >>> from ray import tune
    >>> run_config_settings(tune.RunConfig(name="mine"))
    {'name': 'mine'}
    >>> settings = run_config_settings(tune.RunConfig(failure_config=tune.FailureConfig(2)))
    >>> settings["failure_config"].max_failures
    2
    """
    from ray import tune

    if not isinstance(run_config, tune.RunConfig):
        raise InvalidInputError(
            f"run_config must be a ray.tune.RunConfig; got {type(run_config).__name__}.")
    with warnings.catch_warnings():  # Ray warns about RAY_STORAGE at every RunConfig it makes
        warnings.simplefilter("ignore")
        default = tune.RunConfig()
    return {field.name: getattr(run_config, field.name)
            for field in dataclasses.fields(run_config)
            if getattr(run_config, field.name) != getattr(default, field.name)}
