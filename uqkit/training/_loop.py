"""The training loop shared by every backend: one stack of members, trained in lock-step.

Members never interact: each has its own data order (its own generator), its own dropout masks,
and — because Adam's state is elementwise and the loss is a sum of per-member losses — its own
optimiser state. A member therefore follows exactly the same trajectory whether it is trained
alone (``"serial"``, ``"ray"``) or stacked with others (``"vectorized"``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from uqkit._random import ORDER_STREAM, member_generators
from uqkit.exceptions import DivergenceError, InvalidInputError
from uqkit.losses import MemberLoss
from uqkit.nn import MemberStack
from uqkit.training._early_stopping import EarlyStopping

__all__ = ["TrainConfig", "check_diverged", "member_losses", "train_stack"]

# The divergence rule (docs/reliability.md): at the end of training a member has diverged when
# its parameters are not finite, or when its loss on the training data exceeds its loss at
# initialisation by more than DIVERGENCE_MARGIN * max(1, |initial loss|). Training only lowers
# the training loss; a member that ends well above where it started has been thrown out of its
# basin by too large steps. The margin is additive because a Gaussian NLL grows only with the
# log of a blown-up variance: lr=10 gives an ensemble 400x off in RMSE whose NLL went from ~1.4
# to ~8, which a ratio rule ("1000x its start") would never flag.
DIVERGENCE_MARGIN = 1.0


@dataclass
class TrainConfig:
    """Optimisation settings of one training run (the same for every member).

    Parameters
    ----------
    epochs : int
        Maximum number of passes over the training data.
    batch_size : int
        Mini-batch size (each member draws its own batches).
    lr, weight_decay : float
        Adam learning rate and L2 penalty.
    patience : int or None
        Early stopping: a member stops after ``patience`` epochs without a lower validation
        loss and is restored to its best epoch. ``None`` disables it.
    adversarial_eps : sequence of float, optional
        Per-feature step of fast-gradient-sign adversarial training (Lakshminarayanan et al.,
        2017, Sec. 2.3), in standardised units; ``None`` disables it.
    optimizer : str, default "adam"
        A ``torch.optim`` class by its lower-case name (``"adam"``, ``"sgd"``, ``"rmsprop"``,
        ``"adagrad"``, ``"adadelta"``, ``"adamax"``, ``"nadam"``), at torch's defaults apart
        from ``lr`` and ``weight_decay``.
    lr_patience : int or None
        Reduce the learning rate tenfold after ``lr_patience`` epochs without a validation-loss
        drop of at least 1e-4 (Keras's ``ReduceLROnPlateau`` defaults), on the sum of the
        members' validation losses; ``None`` (default) keeps it constant.

    Examples
    --------
    >>> config = TrainConfig(epochs=5, batch_size=32, patience=None)
    >>> config.lr, config.adversarial_eps is None
    (0.001, True)
    """

    epochs: int = 200
    batch_size: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = 20
    adversarial_eps: Sequence[float] | None = None
    optimizer: str = "adam"
    lr_patience: int | None = None


_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
               "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "NAdam"}


def _optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    if config.optimizer not in _OPTIMIZERS:
        raise InvalidInputError(
            f"Unknown optimizer {config.optimizer!r}; use one of {sorted(_OPTIMIZERS)}."
        )
    cls = getattr(torch.optim, _OPTIMIZERS[config.optimizer])
    # torch steps CPU tensors one by one by default; foreach steps a network's many small
    # tensors together (benchmarks/search_step.py: up to 1.2x faster training steps)
    return cls(parameters, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


def _weighted(loss_fn, raw, yb, wb, validation: bool = False) -> torch.Tensor:
    """``loss_fn`` on a batch; the row weights are passed only when there are any, so a loss
    written without a ``weight`` argument still trains unweighted fits."""
    call = loss_fn.validation_loss if validation else loss_fn
    return call(raw, yb) if wb is None else call(raw, yb, wb)


def _check_weighted_loss(loss_fn) -> None:
    """Refuse row weights for a loss whose ``__call__`` has no third (``weight``) argument."""
    try:
        inspect.signature(loss_fn).bind(None, None, None)
    except TypeError:
        raise InvalidInputError(
            f"{type(loss_fn).__name__} takes no row weights, so sample_weight cannot be "
            "honoured: give its __call__ a weight=None argument (a (k, b) tensor) and reduce "
            "the per-row losses with uqkit.losses.row_mean(values, weight)."
        ) from None
    except ValueError:  # no signature to inspect (a builtin): let the call decide
        pass


def _batch_loss(stack, loss_fn, xb, yb, eps, wb=None) -> torch.Tensor:
    if eps is None:
        return _weighted(loss_fn, stack(xb), yb, wb)
    xb = xb.detach().requires_grad_(True)
    clean = _weighted(loss_fn, stack(xb), yb, wb)
    (grad,) = torch.autograd.grad(clean.sum(), xb, retain_graph=True)
    adversarial = (xb + eps * grad.sign()).detach()
    return clean + _weighted(loss_fn, stack(adversarial), yb, wb)


@torch.no_grad()
def member_losses(
    stack: MemberStack,
    loss_fn: MemberLoss,
    X: torch.Tensor,
    y: torch.Tensor,
    batch: int = 8192,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Validation loss of every member on the full data set ``(X, y)`` (eval mode), shape ``(k,)``.

    Parameters
    ----------
    stack : MemberStack
        Stacked model with ``n_members`` members.
    loss_fn : MemberLoss
        Per-member loss; its :meth:`~uqkit.losses.MemberLoss.validation_loss` scores the data.
    X, y : Tensor
        Data shared by all members, ``(n, in)`` and ``(n, ...)``.
    batch : int, default 8192
        Rows per forward pass.
    weight : Tensor of shape (n,), optional
        Row weights normalised to average 1 (see :func:`uqkit._data.normalised_weights`): the
        result is then the weighted mean ``sum(w * loss) / sum(w)``.

    Returns
    -------
    Tensor of shape (k,), float64
        Mean loss of each member over the ``n`` rows (weighted by ``weight`` when given).

    Examples
    --------
    >>> from uqkit.losses import GaussianMemberLoss
    >>> from uqkit.nn import StackSpec
    >>> stack = StackSpec(in_features=3, out_features=2, hidden_layers=(8,)).build([0, 1])
    >>> X, y = torch.randn(10, 3), torch.randn(10, 1)
    >>> losses = member_losses(stack, GaussianMemberLoss(), X, y, batch=4)
    >>> losses.shape, losses.dtype
    (torch.Size([2]), torch.float64)
    >>> raw = stack(X.expand(2, 10, 3))
    >>> torch.allclose(losses, GaussianMemberLoss()(raw, y.expand(2, 10, 1)).double())
    True
    """
    was_training = stack.training
    stack.eval()
    k = stack.n_members
    total = torch.zeros(k, dtype=torch.float64, device=X.device)
    for start in range(0, len(X), batch):
        xb, yb = X[start : start + batch], y[start : start + batch]
        xb, yb = xb.unsqueeze(0).expand(k, *xb.shape), yb.unsqueeze(0).expand(k, *yb.shape)
        wb = None if weight is None else weight[start : start + batch].expand(k, -1)
        total += _weighted(loss_fn, stack(xb), yb, wb, validation=True).double() * len(xb[0])
    stack.train(was_training)
    return total / len(X)


@torch.no_grad()
def _finite_members(stack: MemberStack, k: int) -> torch.Tensor:
    """``(k,)`` bool: whether every parameter of each member is finite."""
    finite = torch.ones(k, dtype=torch.bool)
    for parameter in stack.parameters():
        if parameter.dim() >= 1 and parameter.shape[0] == k:
            member_ok = torch.isfinite(parameter).reshape(k, -1).all(dim=1).cpu()
        else:  # a parameter without member axis is shared: it spoils every member
            member_ok = torch.isfinite(parameter).all().cpu().expand(k)
        finite &= member_ok
    return finite


def check_diverged(start, end, finite=None, *, members, epochs, lr) -> None:
    """Raise :class:`~uqkit.exceptions.DivergenceError` for the first member that diverged.

    The rule: a member diverged when its parameters are not finite, its final loss is not
    finite, or its final loss on the training data exceeds its loss at initialisation by more
    than ``DIVERGENCE_MARGIN * max(1, |start|)``.

    Parameters
    ----------
    start, end : sequence of float
        Each member's training-data loss at initialisation and at the end of training.
    finite : sequence of bool, optional
        Whether each member's parameters are finite.
    members : sequence of int or str
        Global member indices, or names such as ``"The DCA network"`` (for the message).
    epochs : sequence of int
        Epoch whose state each member holds (for the message).
    lr : float
        The learning rate used (for the message).

    Examples
    --------
    >>> check_diverged([1.4, 1.4], [0.3, 0.9], members=[0, 1], epochs=[5, 5], lr=1e-3)
    >>> try:
    ...     check_diverged([1.4], [7.9], members=[3], epochs=[20], lr=10.0)
    ... except DivergenceError as err:
    ...     print(str(err)[:59])
    Member 3 diverged: its training loss is 7.9 after epoch 20,
    """
    finite = [True] * len(start) if finite is None else list(finite)
    for i, (first, last) in enumerate(zip(start, end)):
        who = members[i] if isinstance(members[i], str) else f"Member {members[i]}"
        where = f"{who} diverged"
        fix = f"Lower lr (now {lr:g}), e.g. by a factor of 10."
        if not finite[i]:
            raise DivergenceError(
                f"{where}: its parameters are not finite after epoch {epochs[i]} (the last "
                f"optimiser steps blew up). {fix}"
            )
        if not math.isfinite(last):
            raise DivergenceError(
                f"{where}: its training loss is not finite after epoch {epochs[i]}. {fix}"
            )
        if math.isfinite(first) and last - first > DIVERGENCE_MARGIN * max(1.0, abs(first)):
            raise DivergenceError(
                f"{where}: its training loss is {last:.3g} after epoch {epochs[i]}, against "
                f"{first:.3g} at initialisation (training made it worse than its random "
                f"start). {fix}"
            )


def train_stack(
    stack: MemberStack,
    loss_fn: MemberLoss,
    X: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    member_ids: Sequence[int] | None = None,
    progress=None,
    weight: torch.Tensor | None = None,
    weight_val: torch.Tensor | None = None,
) -> list[dict]:
    """Train every member of ``stack`` in place; return each member's training history.

    Parameters
    ----------
    stack : MemberStack
        Stacked model mapping ``(k, b, in)`` to ``(k, b, out)``; ``k = len(seeds)``.
    loss_fn : MemberLoss
        ``loss_fn(raw_output, target) -> (k,)`` per-member losses; its ``set_epoch(epoch,
        epochs)`` hook is called at the start of every epoch (0-based).
    X, y : Tensor
        Training data on the stack's device (shared by all members).
    seeds : sequence of int
        Member seeds: they fix each member's data order and dropout masks.
    config : TrainConfig
    X_val, y_val : Tensor, optional
        Validation data for early stopping.
    member_ids : sequence of int, optional
        Global indices of the members (for error messages); defaults to ``0..k-1``.
    progress : Progress-like, optional
        Receives ``update(k)`` after each epoch (a :class:`~uqkit.training.Progress`, or the
        Ray task's stand-in that reports to the driver).
    weight, weight_val : Tensor, optional
        Row weights ``(n,)`` and ``(n_val,)``, each normalised to average 1 (``sample_weight``
        of ``fit``); every mini-batch loss, the validation loss and the divergence rule's
        losses are then weighted means. Weights of ones give exactly the unweighted run.

    Returns
    -------
    list of dict
        Per member: ``member`` (global index), ``epochs`` trained, ``best_epoch`` (whose
        parameters and buffers the member holds: restored when early stopping), and the
        per-epoch ``train_loss`` and ``val_loss`` (empty without validation data).

    Raises
    ------
    DivergenceError
        If a member's loss becomes non-finite during training, or at the end of training its
        parameters are not finite or its training loss is above its loss at initialisation by
        more than ``DIVERGENCE_MARGIN * max(1, |initial loss|)``; the message names the member,
        the epoch and what to change.

    Examples
    --------
    >>> from uqkit.losses import GaussianMemberLoss
    >>> from uqkit.nn import StackSpec
    >>> stack = StackSpec(in_features=3, out_features=2, hidden_layers=(8,)).build([0, 1])
    >>> g = torch.Generator().manual_seed(0)
    >>> X, y = torch.randn(20, 3, generator=g), torch.randn(20, 1, generator=g)
    >>> history = train_stack(
    ...     stack, GaussianMemberLoss(), X, y, seeds=[0, 1], config=TrainConfig(epochs=2)
    ... )
    >>> len(history), [h["member"] for h in history], len(history[0]["train_loss"])
    (2, [0, 1], 2)
    """
    k = len(seeds)
    if weight is not None:
        _check_weighted_loss(loss_fn)
    member_ids = list(range(k)) if member_ids is None else list(member_ids)
    device = X.device
    order_generators = member_generators(seeds, ORDER_STREAM)
    stack.seed_dropout(seeds, device=device)
    optimizer = _optimizer(config, stack.parameters())
    plateau = None
    if config.lr_patience is not None and X_val is not None:
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.1, patience=config.lr_patience, threshold=1e-4,
            threshold_mode="abs")
    eps = None
    if config.adversarial_eps is not None:
        eps = torch.as_tensor(config.adversarial_eps, dtype=X.dtype, device=device)
    # without validation data there is nothing to stop on; patience=None tracks, never stops
    stopper = None if X_val is None else EarlyStopping(config.patience, n_members=k)
    history: dict[str, list] = {"train_loss": [], "val_loss": []}
    n = len(X)
    batch_size = min(config.batch_size, n)
    n_batches = math.ceil(n / batch_size)
    # the reference of the divergence rule: each member's loss at its random initialisation
    start_loss = member_losses(stack, loss_fn, X, y, weight=weight)
    stack.train()
    for epoch in range(config.epochs):
        loss_fn.set_epoch(epoch, config.epochs)
        order = torch.stack([torch.randperm(n, generator=g) for g in order_generators]).to(device)
        epoch_loss = torch.zeros(k, dtype=torch.float64, device=device)
        for b in range(n_batches):
            index = order[:, b * batch_size : (b + 1) * batch_size]
            wb = None if weight is None else weight[index]
            losses = _batch_loss(stack, loss_fn, X[index], y[index], eps, wb)
            if not bool(torch.isfinite(losses).all()):
                bad = int(torch.nonzero(~torch.isfinite(losses))[0, 0])
                raise DivergenceError(
                    f"Member {member_ids[bad]} diverged in epoch {epoch + 1} (non-finite loss). "
                    "Lower lr, standardise the inputs, or raise min_variance."
                )
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            if stopper is not None:
                stopper.freeze(stack)  # stopped members stay at their best state
            epoch_loss += losses.detach().double() * index.shape[1]
        history["train_loss"].append((epoch_loss / n).tolist())
        if progress is not None:
            progress.update(k if stopper is None else int(stopper.active.sum()))
        if stopper is None:
            continue
        val = member_losses(stack, loss_fn, X_val, y_val, weight=weight_val)
        active = stopper.active.to(device)
        if not bool(torch.isfinite(val[active]).all()):
            bad = int(torch.nonzero(~torch.isfinite(val) & active)[0, 0])
            raise DivergenceError(
                f"Member {member_ids[bad]} diverged in epoch {epoch + 1} (non-finite validation "
                "loss). Lower lr or raise min_variance."
            )
        history["val_loss"].append(val.tolist())
        if plateau is not None:
            plateau.step(float(val[active].sum()))
        stopper.update(val, stack, epoch)
        if progress is not None and config.patience is not None:
            progress.set_postfix(val_loss=f"{float(val.mean()):.4g}",
                                 active=int(stopper.active.sum()))
        if stopper.stopped:
            break
    n_epochs = len(history["train_loss"])
    if stopper is None:
        epochs_trained, best_epoch = [n_epochs] * k, [n_epochs] * k
    else:
        stopper.restore(stack)
        epochs_trained, best_epoch = stopper.epochs_trained, stopper.best_epoch
    check_diverged(start_loss.tolist(), member_losses(stack, loss_fn, X, y, weight=weight).tolist(),
                   _finite_members(stack, k).tolist(), members=member_ids, epochs=best_epoch,
                   lr=config.lr)
    return [
        {
            "member": member_ids[i],
            "epochs": epochs_trained[i],
            "best_epoch": best_epoch[i],
            "train_loss": [row[i] for row in history["train_loss"][: epochs_trained[i]]],
            "val_loss": [row[i] for row in history["val_loss"][: epochs_trained[i]]],
        }
        for i in range(k)
    ]
