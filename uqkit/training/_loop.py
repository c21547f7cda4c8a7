"""The training loop shared by every backend: one stack of members, trained in lock-step.

Members never interact: each has its own data order (its own generator), its own dropout masks,
and — because Adam's state is elementwise and the loss is a sum of per-member losses — its own
optimiser state. A member therefore follows exactly the same trajectory whether it is trained
alone (``"serial"``, ``"ray"``) or stacked with others (``"vectorized"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from uqkit._random import DROPOUT_STREAM, ORDER_STREAM, member_generators
from uqkit.exceptions import DivergenceError
from uqkit.losses import gaussian_nll
from uqkit.nn import gaussian_head

__all__ = ["CrossEntropyMemberLoss", "GaussianMemberLoss", "TrainConfig", "train_stack"]


@dataclass
class GaussianMemberLoss:
    """Per-member Gaussian NLL of a mean/variance head; ``(k, b, 2d)`` → ``(k,)``.

    The raw output is split by :func:`uqkit.nn.gaussian_head` into a mean and a variance
    ``softplus(raw) + min_variance``; the loss is :func:`uqkit.losses.gaussian_nll` averaged over
    the batch and the target columns of each member.

    Parameters
    ----------
    min_variance : float, default 1e-6
        Variance floor of the head.
    beta : float, default 0.0
        β of the β-NLL (Seitzer et al., 2022); 0 is the plain Gaussian NLL.

    Examples
    --------
    A mean of 0 and a variance of 1 (``softplus(log(e - 1)) = 1``) at target 0 give
    ``0.5 * log(2 * pi)`` for every member:

    >>> loss = GaussianMemberLoss(min_variance=0.0)
    >>> raw = torch.zeros(3, 4, 2)
    >>> raw[..., 1] = math.log(math.e - 1)
    >>> values = loss(raw, torch.zeros(3, 4, 1))
    >>> values.shape, torch.allclose(values, torch.tensor(0.5 * math.log(2 * math.pi)))
    (torch.Size([3]), True)
    """

    min_variance: float = 1e-6
    beta: float = 0.0

    def __call__(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mean, var = gaussian_head(raw, self.min_variance)
        nll = gaussian_nll(mean, var, target, beta=self.beta, reduction="none")
        return nll.flatten(1).mean(dim=1)


@dataclass
class CrossEntropyMemberLoss:
    """Per-member cross-entropy of logits ``(k, b, C)`` against labels ``(k, b)`` → ``(k,)``.

    Examples
    --------
    Uniform logits over 4 classes cost ``log 4`` whatever the label:

    >>> loss = CrossEntropyMemberLoss()
    >>> values = loss(torch.zeros(2, 5, 4), torch.randint(0, 4, (2, 5)))
    >>> values.shape, torch.allclose(values, torch.tensor(math.log(4.0)))
    (torch.Size([2]), True)
    """

    def __call__(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        k, b, c = raw.shape
        loss = F.cross_entropy(raw.reshape(k * b, c), target.reshape(k * b), reduction="none")
        return loss.reshape(k, b).mean(dim=1)


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


def _batch_loss(stack, loss_fn, xb, yb, eps) -> torch.Tensor:
    if eps is None:
        return loss_fn(stack(xb), yb)
    xb = xb.detach().requires_grad_(True)
    clean = loss_fn(stack(xb), yb)
    (grad,) = torch.autograd.grad(clean.sum(), xb, retain_graph=True)
    adversarial = (xb + eps * grad.sign()).detach()
    return clean + loss_fn(stack(adversarial), yb)


@torch.no_grad()
def member_losses(stack: nn.Module, loss_fn, X: torch.Tensor, y: torch.Tensor, batch: int = 8192):
    """Loss of every member on the full data set ``(X, y)`` (eval mode), shape ``(k,)``.

    Parameters
    ----------
    stack : nn.Module
        Stacked model with ``n_members`` members.
    loss_fn : callable
        Per-member loss (its ``validation_loss`` attribute is used instead when present).
    X, y : Tensor
        Data shared by all members, ``(n, in)`` and ``(n, ...)``.
    batch : int, default 8192
        Rows per forward pass.

    Returns
    -------
    Tensor of shape (k,), float64
        Mean loss of each member over the ``n`` rows.

    Examples
    --------
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
    # a loss whose training objective changes over epochs (annealing) scores validation data
    # with a fixed criterion, its ``validation_loss``
    score = getattr(loss_fn, "validation_loss", loss_fn)
    total = torch.zeros(k, dtype=torch.float64, device=X.device)
    for start in range(0, len(X), batch):
        xb, yb = X[start : start + batch], y[start : start + batch]
        xb, yb = xb.unsqueeze(0).expand(k, *xb.shape), yb.unsqueeze(0).expand(k, *yb.shape)
        total += score(stack(xb), yb).double() * len(xb[0])
    stack.train(was_training)
    return total / len(X)


def train_stack(
    stack: nn.Module,
    loss_fn,
    X: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    member_ids: Sequence[int] | None = None,
    progress=None,
) -> list[dict]:
    """Train every member of ``stack`` in place; return each member's training history.

    Parameters
    ----------
    stack : nn.Module
        Stacked model mapping ``(k, b, in)`` to ``(k, b, out)``; ``k = len(seeds)``.
    loss_fn : callable
        ``loss_fn(raw_output, target) -> (k,)`` per-member losses. If it has a
        ``set_epoch(epoch)`` method, it is called at the start of every epoch (0-based).
    X, y : Tensor
        Training data on the stack's device (shared by all members).
    seeds : sequence of int
        Member seeds: they fix each member's data order and dropout masks.
    config : TrainConfig
    X_val, y_val : Tensor, optional
        Validation data for early stopping.
    member_ids : sequence of int, optional
        Global indices of the members (for error messages); defaults to ``0..k-1``.
    progress : tqdm-like, optional
        Receives ``update(k)`` after each epoch.

    Returns
    -------
    list of dict
        Per member: ``member`` (global index), ``epochs`` trained, ``best_epoch`` (restored when
        early stopping), and the per-epoch ``train_loss`` and ``val_loss``.

    Raises
    ------
    DivergenceError
        If a member's loss becomes non-finite; the message names the member and the epoch.

    Examples
    --------
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
    member_ids = list(range(k)) if member_ids is None else list(member_ids)
    device = X.device
    order_generators = member_generators(seeds, ORDER_STREAM)
    if hasattr(stack, "dropout_generators"):
        stack.dropout_generators = member_generators(seeds, DROPOUT_STREAM, device=device)
    optimizer = torch.optim.Adam(stack.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    eps = None
    if config.adversarial_eps is not None:
        eps = torch.as_tensor(config.adversarial_eps, dtype=X.dtype, device=device)
    early_stopping = X_val is not None and config.patience is not None
    best_loss = torch.full((k,), math.inf, dtype=torch.float64, device=device)
    best_epoch = [0] * k
    best_state = (
        {name: p.detach().clone() for name, p in stack.named_parameters()} if early_stopping else {}
    )
    active = torch.ones(k, dtype=torch.bool, device=device)
    epochs_trained = [config.epochs] * k
    waited = torch.zeros(k, dtype=torch.long, device=device)
    history: dict[str, list] = {"train_loss": [], "val_loss": []}
    n = len(X)
    batch_size = min(config.batch_size, n)
    n_batches = math.ceil(n / batch_size)
    stack.train()
    for epoch in range(config.epochs):
        if hasattr(loss_fn, "set_epoch"):  # e.g. annealed regularisers
            loss_fn.set_epoch(epoch)
        order = torch.stack([torch.randperm(n, generator=g) for g in order_generators]).to(device)
        epoch_loss = torch.zeros(k, dtype=torch.float64, device=device)
        for b in range(n_batches):
            index = order[:, b * batch_size : (b + 1) * batch_size]
            losses = _batch_loss(stack, loss_fn, X[index], y[index], eps)
            if not bool(torch.isfinite(losses).all()):
                bad = int(torch.nonzero(~torch.isfinite(losses))[0, 0])
                raise DivergenceError(
                    f"Member {member_ids[bad]} diverged in epoch {epoch + 1} (non-finite loss). "
                    "Lower lr, standardise the inputs, or raise min_variance."
                )
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            if not bool(active.all()):
                _freeze(stack, best_state, ~active)
            epoch_loss += losses.detach().double() * index.shape[1]
        history["train_loss"].append((epoch_loss / n).tolist())
        if progress is not None:
            progress.update(int(active.sum()))
        if X_val is None:
            continue
        val = member_losses(stack, loss_fn, X_val, y_val)
        if not bool(torch.isfinite(val[active]).all()):
            bad = int(torch.nonzero(~torch.isfinite(val) & active)[0, 0])
            raise DivergenceError(
                f"Member {member_ids[bad]} diverged in epoch {epoch + 1} (non-finite validation "
                "loss). Lower lr or raise min_variance."
            )
        history["val_loss"].append(val.tolist())
        if not early_stopping:
            continue
        improved = (val < best_loss) & active
        best_loss = torch.where(improved, val, best_loss)
        waited = torch.where(improved, torch.zeros_like(waited), waited + 1)
        for i in torch.nonzero(improved).flatten().tolist():
            best_epoch[i] = epoch + 1
        with torch.no_grad():
            for name, p in stack.named_parameters():
                best_state[name][improved] = p.detach()[improved]
        stopping = active & (waited >= config.patience)
        for i in torch.nonzero(stopping).flatten().tolist():
            epochs_trained[i] = epoch + 1
        active &= ~stopping
        if progress is not None:
            progress.set_postfix(val_loss=f"{float(val.mean()):.4g}", active=int(active.sum()))
        if not bool(active.any()):
            break
    n_epochs = len(history["train_loss"])
    if early_stopping:
        _freeze(stack, best_state, torch.ones(k, dtype=torch.bool, device=device))
    else:
        best_epoch = [n_epochs] * k
    return [
        {
            "member": member_ids[i],
            "epochs": min(epochs_trained[i], n_epochs),
            "best_epoch": best_epoch[i],
            "train_loss": [row[i] for row in history["train_loss"][: epochs_trained[i]]],
            "val_loss": [row[i] for row in history["val_loss"][: epochs_trained[i]]],
        }
        for i in range(k)
    ]


@torch.no_grad()
def _freeze(stack: nn.Module, state: dict[str, torch.Tensor], members: torch.Tensor) -> None:
    """Put the stored parameters of the selected members back (stopped members stay fixed)."""
    for name, p in stack.named_parameters():
        p[members] = state[name][members]
