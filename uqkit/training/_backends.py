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
    """Training (and optional validation) tensors, already standardised and on the device.

    Parameters
    ----------
    X, y : Tensor
        Training features ``(n, in)`` and targets ``(n, ...)`` shared by all members.
    X_val, y_val : Tensor, optional
        Validation data for early stopping.

    Examples
    --------
    >>> data = MemberData(X=torch.zeros(20, 3), y=torch.zeros(20, 1))
    >>> data.X.shape, data.X_val is None
    (torch.Size([20, 3]), True)
    """

    X: torch.Tensor
    y: torch.Tensor
    X_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None


@dataclass
class RayOptions:
    """How members run on Ray (used by ``backend="ray"`` only).

    Parameters
    ----------
    resources_per_member : dict, default {"num_cpus": 1}
        Ray resources of one member (a task of several members asks for their sum).
    address : str, optional
        Address of a running Ray cluster; ``None`` starts a local one.
    max_retries : int, default 3
        Attempts of a failed task after the first.
    checkpoint_dir : str, optional
        Folder where finished members are checkpointed, so that a rerun skips them.
    members_per_task : int, default 1
        Members trained together (stacked) in one Ray task.

    Examples
    --------
    >>> options = RayOptions(resources_per_member={"num_cpus": 2}, members_per_task=4)
    >>> options.max_retries, options.address is None
    (3, True)
    """

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

    Examples
    --------
    The backend does not change a member: serial and vectorized training give the same stack.

    >>> from uqkit.training import GaussianMemberLoss
    >>> g = torch.Generator().manual_seed(0)
    >>> data = MemberData(X=torch.randn(20, 3, generator=g), y=torch.randn(20, 1, generator=g))
    >>> spec = StackSpec(in_features=3, out_features=2, hidden_layers=(8,))
    >>> config = TrainConfig(epochs=2, batch_size=10)
    >>> fits = [
    ...     fit_members(spec, GaussianMemberLoss(), data, [3, 4], config, backend=b, verbose=0)
    ...     for b in ("vectorized", "serial")
    ... ]
    >>> (stack, history), (serial, _) = fits
    >>> len(history), stack.n_members
    (2, 2)
    >>> x = data.X.expand(2, 20, 3)
    >>> torch.allclose(stack(x), serial(x), atol=1e-5)
    True
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
