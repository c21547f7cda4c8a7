"""Where members are trained: ``"vectorized"`` (one stacked model), ``"serial"`` (one member after
another) or a :class:`~uqkit.training.RayBackend` (Ray tasks; ``"ray"`` for its defaults). The
backend never decides a member: its seed does."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Protocol

import joblib
import numpy as np
import torch

from uqkit.exceptions import InvalidInputError
from uqkit.losses import MemberLoss
from uqkit.nn import MemberStack, StackSpec, merge_members
from uqkit.training._checkpoint import stored_entropy
from uqkit.training._loop import TrainConfig, train_stack
from uqkit.training._member_data import MemberData
from uqkit.training._progress import Progress
from uqkit.training._ray_backend import RayBackend
from uqkit.training._ray_resources import check_resources

__all__ = [
    "BACKENDS",
    "Backend",
    "SerialBackend",
    "VectorizedBackend",
    "fit_members",
    "resolve_backend",
    "resume_entropy",
]

BACKENDS = ("vectorized", "serial", "ray")

logger = logging.getLogger(__name__)

# Parameters that do not change the members a fit trains: a re-run that changes them resumes.
_NOT_IN_SEED_KEY = ("random_state", "verbose", "backend", "device", "predict_batch_size")


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


def _progress(n_members: int, config: TrainConfig, verbose: int) -> Progress:
    return Progress(n_members * config.epochs, f"Training {n_members} members",
                    verbose=verbose, logger=logger, unit="member-epoch")


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
                                  X_val=data.X_val, y_val=data.y_val, progress=progress,
                                  weight=data.weight, weight_val=data.weight_val)
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
                                       progress=progress, weight=data.weight,
                                       weight_val=data.weight_val)
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
        0: nothing is written; 1: progress (a bar on an interactive terminal, else at most
        one INFO line per tenth of the member-epochs); 2: also per-epoch validation loss at
        DEBUG (:class:`~uqkit.training.Progress`).

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


def resume_entropy(backend, estimator, fresh: int, inputs) -> int:
    """The entropy of a fit: ``fresh``, or the one stored in ``checkpoint_dir`` for this fit.

    With a :class:`~uqkit.training.RayBackend` that has a ``checkpoint_dir`` and a
    ``random_state`` that is not an int (``None``, a ``RandomState`` or a ``Generator``), the
    first fit stores the entropy it drew in ``checkpoint_dir`` (keyed by the estimator class,
    its parameters other than ``random_state``, ``verbose``, ``backend``, ``device`` and
    ``predict_batch_size``, and a digest of the data given to ``fit``); a later fit of the same
    problem finds it, gets the same member seeds and validation split, and so trains only the
    members that are not saved yet. Every other fit gets ``fresh``.

    Parameters
    ----------
    backend : str or RayBackend
        The estimator's ``backend`` value (checked by :func:`resolve_backend`).
    estimator : UQEstimator
        The estimator being fitted.
    fresh : int
        The entropy this fit drew from ``random_state``.
    inputs : tuple
        ``(X, y, X_val, y_val)`` of ``fit``, as validated.

    Returns
    -------
    int

    Examples
    --------
    >>> import tempfile
    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> X = np.zeros((4, 1))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     model = DeepEnsembleRegressor(backend=RayBackend(checkpoint_dir=folder))
    ...     first = resume_entropy(model.backend, model, 5, (X, X[:, 0], None, None))
    ...     again = resume_entropy(model.backend, model, 6, (X, X[:, 0], None, None))
    >>> first, again, resume_entropy("serial", model, 7, (X, X[:, 0], None, None))
    (5, 5, 7)
    """
    random_state = getattr(estimator, "random_state", None)
    if isinstance(random_state, (Integral, np.integer)) and not isinstance(random_state, bool):
        return fresh
    runner = resolve_backend(backend)
    if not isinstance(runner, RayBackend) or runner.checkpoint_dir is None:
        return fresh
    params = estimator.get_params(deep=False)
    description = {
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "params": {k: v for k, v in params.items() if k not in _NOT_IN_SEED_KEY},
        "inputs": joblib.hash(inputs),
    }
    entropy, stored = stored_entropy(runner.checkpoint_dir, description, fresh)
    if stored:
        logger.info("random_state=%r: using entropy %d stored in %r by an earlier fit of this "
                    "problem, so that saved members are reused.", random_state, entropy,
                    runner.checkpoint_dir)
    return entropy
