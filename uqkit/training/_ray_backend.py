"""``RayBackend``: where and how ensemble members run as Ray tasks, as one value.

A frozen dataclass of JSON values, so an estimator holding one can be cloned, compared, printed
and saved like any other hyperparameter. Its fields are checked by
:func:`uqkit.training.resolve_backend` when ``fit`` starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import torch

from uqkit.training._loop import TrainConfig
from uqkit.training._member_data import MemberData
from uqkit.training._ray_driver import train_members_ray

__all__ = ["RayBackend"]


@dataclass(frozen=True)
class RayBackend:
    """Train each member (or group of members) as a Ray task, locally or on a cluster.

    Parameters
    ----------
    address : str, optional
        Address of a running Ray cluster (``"auto"``, ``"ray://head:10001"``); ``None`` starts
        a local Ray on demand (an already initialised Ray is always used as it is).
    resources : dict, optional
        Ray resources of ONE member, e.g. ``{"num_cpus": 1, "num_gpus": 0.25}`` (keys
        ``num_cpus``, ``num_gpus``, ``memory``, ``resources``, ``accelerator_type``);
        ``None`` means ``{"num_cpus": 1}``. A task of several members asks for their sum,
        GPUs capped at one.
    max_retries : int, default 3
        Attempts of a failed task after the first (a diverging member is never retried).
    checkpoint_dir : str, optional
        Folder where every finished member is written at once, so that a re-run of ``fit``
        trains only the missing ones. With ``random_state=None`` the entropy of the first fit
        is stored there too, so that the re-run draws the same member seeds.
    members_per_task : int, default 1
        Members trained together (stacked, vectorized) in one Ray task.

    Examples
    --------
    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> backend = RayBackend(resources={"num_cpus": 1, "num_gpus": 0.25}, max_retries=1)
    >>> model = DeepEnsembleRegressor(n_members=8, backend=backend)
    >>> model.get_params()["backend"].max_retries
    1
    >>> RayBackend.from_dict(backend.to_dict()) == backend
    True
    """

    address: str | None = None
    resources: Mapping | None = None
    max_retries: int = 3
    checkpoint_dir: str | None = None
    members_per_task: int = 1

    def resources_per_member(self) -> dict:
        """The Ray resources of one member (``{"num_cpus": 1}`` when ``resources`` is None)."""
        return {"num_cpus": 1} if self.resources is None else dict(self.resources)

    def to_dict(self) -> dict:
        """The fields as plain JSON values (how a saved estimator stores this backend)."""
        data = asdict(self)
        data["resources"] = None if self.resources is None else dict(self.resources)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> RayBackend:
        """Inverse of :meth:`to_dict`; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"Unknown RayBackend fields {sorted(unknown)}; known: {sorted(known)}."
            )
        return cls(**dict(data))

    def train(
        self,
        spec,
        loss_fn,
        data: MemberData,
        seeds: Sequence[int],
        config: TrainConfig,
        *,
        device: torch.device | str = "cpu",
        verbose: int = 0,
    ) -> tuple[torch.nn.Module, list[dict]]:
        """Train one member per seed on Ray; ``(stack, history)`` like every backend.

        The per-member run records (host, device, attempts, seconds) are logged at INFO level on
        the ``uqkit.training`` logger; :func:`~uqkit.training.train_members_ray` returns them.
        """
        result = train_members_ray(spec, loss_fn, data, seeds, config, backend=self,
                                   device=device, verbose=verbose)
        return result.stack, result.history
