"""Where members are trained: ``"vectorized"`` (one stacked model), ``"serial"`` (one member after
another) or a :class:`~uqkit.training.RayBackend` (Ray tasks; ``"ray"`` for its defaults). The
backend never decides a member: its seed does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Protocol

import torch
from tqdm.auto import tqdm

from uqkit.exceptions import InvalidInputError
from uqkit.losses import MemberLoss
from uqkit.nn import MemberStack, StackSpec, merge_members
from uqkit.training._loop import TrainConfig, train_stack
from uqkit.training._member_data import MemberData
from uqkit.training._ray_backend import RayBackend
from uqkit.training._ray_resources import check_resources

__all__ = [
    "BACKENDS",
    "Backend",
    "SerialBackend",
    "VectorizedBackend",
    "fit_members",
    "resolve_backend",
]

BACKENDS = ("vectorized", "serial", "ray")


class Backend(Protocol):
    """What :func:`fit_members` needs of a backend: train one member per seed.

    ``train(spec, loss_fn, data, seeds, config, device=, verbose=)`` returns ``(stack,
    history)``: the members stacked in the order of ``seeds`` and one history per member. The
    three backends are :class:`VectorizedBackend`, :class:`SerialBackend` and
    :class:`~uqkit.training.RayBackend`; :func:`resolve_backend` turns a ``backend`` value into
    one of them.

    Examples
    --------
    >>> from uqkit.losses import GaussianMemberLoss
    >>> backend: Backend = resolve_backend("vectorized")
    >>> data = MemberData(X=torch.zeros(8, 2), y=torch.zeros(8, 1))
    >>> stack, history = backend.train(StackSpec(2, 2, hidden_layers=(4,)), GaussianMemberLoss(),
    ...                                data, [0, 1], TrainConfig(epochs=1))
    >>> stack.n_members, [h["member"] for h in history]
    (2, [0, 1])
    """

    def train(
        self,
        spec: StackSpec,
        loss_fn: MemberLoss,
        data: MemberData,
        seeds: Sequence[int],
        config: TrainConfig,
        *,
        device: torch.device | str = "cpu",
        verbose: int = 0,
    ) -> tuple[MemberStack, list[dict]]: ...


def _progress(n_members: int, config: TrainConfig, verbose: int):
    return tqdm(total=n_members * config.epochs, desc=f"Training {n_members} members",
                unit="member-epoch", disable=verbose == 0, leave=False)


@dataclass(frozen=True)
class VectorizedBackend:
    """All members as one stacked model, trained in one pass (``backend="vectorized"``).

    Examples
    --------
    >>> resolve_backend("vectorized") == VectorizedBackend()
    True
    """

    def train(self, spec, loss_fn, data, seeds, config, *, device="cpu", verbose=0):
        with _progress(len(seeds), config, verbose) as progress:
            stack = spec.build(seeds).to(device)
            history = train_stack(stack, loss_fn, data.X, data.y, seeds, config,
                                  X_val=data.X_val, y_val=data.y_val, progress=progress)
        return stack, history


@dataclass(frozen=True)
class SerialBackend:
    """One member after another, each a stack of one (``backend="serial"``); the reference.

    Examples
    --------
    >>> resolve_backend("serial") == SerialBackend()
    True
    """

    def train(self, spec, loss_fn, data, seeds, config, *, device="cpu", verbose=0):
        stacks, history = [], []
        with _progress(len(seeds), config, verbose) as progress:
            for i, seed in enumerate(seeds):
                member = spec.build([seed]).to(device)
                history += train_stack(member, loss_fn, data.X, data.y, [seed], config,
                                       X_val=data.X_val, y_val=data.y_val, member_ids=[i],
                                       progress=progress)
                stacks.append(member)
        return merge_members(stacks, spec, seeds).to(device), history


def _check_count(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise InvalidInputError(f"RayBackend.{name} must be an int >= {minimum}; got {value!r}.")


def resolve_backend(value) -> Backend:
    """The backend object for a ``backend`` parameter, with every field checked.

    Parameters
    ----------
    value : {"vectorized", "serial", "ray"} or RayBackend
        ``"ray"`` is ``RayBackend()`` with its defaults.

    Returns
    -------
    Backend
        An object whose ``train(spec, loss_fn, data, seeds, config, device=, verbose=)``
        returns ``(stack, history)``.

    Raises
    ------
    InvalidInputError
        An unknown name, another type, or a RayBackend field out of range; the message says
        what is accepted.

    Examples
    --------
    >>> resolve_backend("serial")
    SerialBackend()
    >>> resolve_backend("ray")
    RayBackend(address=None, resources=None, max_retries=3, checkpoint_dir=None, members_per_task=1)
    >>> resolve_backend(RayBackend(max_retries=-1))
    Traceback (most recent call last):
    ...
    uqkit.exceptions.InvalidInputError: RayBackend.max_retries must be an int >= 0; got -1.
    """
    if isinstance(value, str):
        named = {"vectorized": VectorizedBackend, "serial": SerialBackend, "ray": RayBackend}
        if value not in named:
            raise InvalidInputError(
                f"backend must be one of {BACKENDS} or a RayBackend(...); got {value!r}."
            )
        return named[value]()
    if isinstance(value, (VectorizedBackend, SerialBackend)):
        return value
    if not isinstance(value, RayBackend):
        raise InvalidInputError(
            f"backend must be one of {BACKENDS} or a uqkit.training.RayBackend(...); "
            f"got {value!r}."
        )
    if value.address is not None and not isinstance(value.address, str):
        raise InvalidInputError(
            f"RayBackend.address must be a str such as 'auto' or None; got {value.address!r}."
        )
    if value.checkpoint_dir is not None and not isinstance(value.checkpoint_dir, str):
        raise InvalidInputError(
            f"RayBackend.checkpoint_dir must be a str (a folder) or None; "
            f"got {value.checkpoint_dir!r}."
        )
    _check_count(value.max_retries, "max_retries", 0)
    _check_count(value.members_per_task, "members_per_task", 1)
    check_resources(value.resources_per_member())
    return value


def fit_members(
    spec: StackSpec,
    loss_fn: MemberLoss,
    data: MemberData,
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    backend="vectorized",
    device: torch.device | str = "cpu",
    verbose: int = 0,
) -> tuple[MemberStack, list[dict]]:
    """Train one member per seed; return ``(stack, history)`` with all members stacked.

    Parameters
    ----------
    spec : StackSpec
        Architecture of a member.
    loss_fn : MemberLoss
        Per-member loss, see :func:`uqkit.training.train_stack`.
    data : MemberData
    seeds : sequence of int
        One seed per member (``derive_seed(random_state_, i)`` for member ``i``).
    config : TrainConfig
    backend : {"vectorized", "serial", "ray"} or RayBackend, default "vectorized"
        Checked by :func:`resolve_backend`.
    device : torch.device or str
    verbose : int, default 0
        0 silences the progress bar.

    Returns
    -------
    stack : MemberStack
        All members, stacked in the order of ``seeds``, in eval mode.
    history : list of dict
        One training history per member.

    Examples
    --------
    The backend does not change a member: serial and vectorized training give the same stack.

    >>> from uqkit.losses import GaussianMemberLoss
    >>> g = torch.Generator().manual_seed(0)
    >>> data = MemberData(X=torch.randn(20, 3, generator=g), y=torch.randn(20, 1, generator=g))
    >>> spec = StackSpec(in_features=3, out_features=2, hidden_layers=(8,))
    >>> config = TrainConfig(epochs=2, batch_size=10)
    >>> fits = [
    ...     fit_members(spec, GaussianMemberLoss(), data, [3, 4], config, backend=b)
    ...     for b in ("vectorized", "serial")
    ... ]
    >>> (stack, history), (serial, _) = fits
    >>> len(history), stack.n_members
    (2, 2)
    >>> x = data.X.expand(2, 20, 3)
    >>> torch.allclose(stack(x), serial(x), atol=1e-5)
    True
    """
    runner = resolve_backend(backend)
    stack, history = runner.train(spec, loss_fn, data, list(seeds), config, device=device,
                                  verbose=verbose)
    return stack.eval(), history
