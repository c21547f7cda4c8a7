"""Where members are trained: ``"vectorized"`` (one stacked model), ``"serial"`` (one member after
another) or ``"ray"`` (Ray tasks). The backend never decides a member: its seed does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from uqkit.nn._stacked import StackSpec, merge_members
from uqkit.training._loop import TrainConfig, train_stack

__all__ = ["BACKENDS", "MemberData", "RayOptions", "fit_members"]

BACKENDS = ("vectorized", "serial", "ray")


@dataclass
class MemberData:
    """Training (and optional validation) tensors, already standardised and on the device."""

    X: torch.Tensor
    y: torch.Tensor
    X_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None


@dataclass
class RayOptions:
    """How members run on Ray (used by ``backend="ray"`` only)."""

    resources_per_member: dict = field(default_factory=lambda: {"num_cpus": 1})
    address: str | None = None
    max_retries: int = 3
    checkpoint_dir: str | None = None
    members_per_task: int = 1


def fit_members(
    spec: StackSpec,
    loss_fn,
    data: MemberData,
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    backend: str = "vectorized",
    device: torch.device | str = "cpu",
    verbose: int = 1,
    ray_options: RayOptions | None = None,
):
    """Train one member per seed; return ``(stack, history)`` with all members stacked.

    Parameters
    ----------
    spec : StackSpec
        Architecture of a member.
    loss_fn : callable
        Per-member loss, see :func:`uqkit.training.train_stack`.
    data : MemberData
    seeds : sequence of int
        One seed per member (``derive_seed(random_state_, i)`` for member ``i``).
    config : TrainConfig
    backend : {"vectorized", "serial", "ray"}
    device : torch.device or str
    verbose : int
        0 silences the progress bar.
    ray_options : RayOptions, optional

    Returns
    -------
    stack : nn.Module
        All members, stacked in the order of ``seeds``, in eval mode.
    history : list of dict
        One training history per member.
    """
    seeds = list(seeds)
    if backend == "ray":
        from uqkit.training._ray import fit_members_ray

        return fit_members_ray(
            spec, loss_fn, data, seeds, config, device=device, verbose=verbose,
            options=ray_options or RayOptions(),
        )
    total = len(seeds) * config.epochs
    with tqdm(total=total, desc=f"Training {len(seeds)} members", unit="member-epoch",
              disable=verbose == 0, leave=False) as progress:
        if backend == "vectorized":
            stack = spec.build(seeds).to(device)
            history = train_stack(
                stack, loss_fn, data.X, data.y, seeds, config,
                X_val=data.X_val, y_val=data.y_val, progress=progress,
            )
        elif backend == "serial":
            stacks, history = [], []
            for i, seed in enumerate(seeds):
                member = spec.build([seed]).to(device)
                history += train_stack(
                    member, loss_fn, data.X, data.y, [seed], config,
                    X_val=data.X_val, y_val=data.y_val, member_ids=[i], progress=progress,
                )
                stacks.append(member)
            stack = merge_members(stacks, spec, seeds).to(device)
        else:
            raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}.")
    return stack.eval(), history
