"""Early stopping written once: per-member patience on a validation loss, with snapshots of the
best parameters *and* buffers (BatchNorm running statistics are part of a trained network)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Per-member early stopping that snapshots the best parameters AND buffers.

    Call :meth:`update` once per epoch with the validation loss(es). A member whose loss has not
    improved for ``patience`` epochs stops (it becomes inactive); :meth:`restore` puts every
    member's best parameters and buffers back at the end, and :meth:`freeze` keeps stopped
    members at their best state while the others go on training in the same stack.

    Parameters
    ----------
    patience : int or None
        Epochs without a lower validation loss before a member stops. ``None`` never stops:
        nothing is snapshotted, :meth:`restore` keeps the last state and ``best_epoch`` is the
        last epoch seen (the epoch whose weights the model holds).
    n_members : int or None, default None
        ``None``: one model, losses are floats. An int ``k``: a stacked module whose parameters
        and buffers carry the member axis first, losses a ``(k,)`` tensor.

    Attributes
    ----------
    active : torch.Tensor of bool (k,) or bool
        Members still training (a plain ``bool`` for one model).
    best_loss : list of float
        Lowest validation loss of each member so far.
    best_epoch : list of int
        1-based epoch whose state :meth:`restore` puts back, per member (0 before any update).
    epochs_trained : list of int
        Epochs each member trained (its stopping epoch, or the last epoch seen).

    Examples
    --------
    Two stacked members: member 0 keeps improving, member 1 stops after two epochs without
    improvement and is restored to its best epoch.

    >>> layer = nn.Linear(1, 1)
    >>> stack = nn.Module()
    >>> stack.weight = nn.Parameter(torch.zeros(2, 1))
    >>> stopper = EarlyStopping(patience=2, n_members=2)
    >>> for epoch, losses in enumerate([[3.0, 1.0], [2.0, 2.0], [1.0, 3.0]]):
    ...     with torch.no_grad():
    ...         stack.weight += 1.0  # "training"
    ...     stopper.update(torch.tensor(losses), stack, epoch)
    >>> stopper.active.tolist(), stopper.best_epoch, stopper.epochs_trained
    ([True, False], [3, 1], [3, 3])
    >>> stopper.restore(stack)
    >>> stack.weight.flatten().tolist()
    [3.0, 1.0]

    One model, losses as floats:

    >>> stopper = EarlyStopping(patience=1)
    >>> for epoch, loss in enumerate([0.5, 0.7]):
    ...     stopper.update(loss, layer, epoch)
    >>> stopper.stopped, stopper.best_epoch
    (True, [1])
    """

    def __init__(self, patience: int | None, n_members: int | None = None) -> None:
        if patience is not None and (isinstance(patience, bool) or int(patience) < 1):
            raise ValueError(f"patience must be an int >= 1 or None; got {patience!r}.")
        if n_members is not None and int(n_members) < 1:
            raise ValueError(f"n_members must be an int >= 1 or None; got {n_members!r}.")
        self.patience = patience
        self.n_members = n_members
        k = 1 if n_members is None else int(n_members)
        self._active = torch.ones(k, dtype=torch.bool)
        self._waited = torch.zeros(k, dtype=torch.long)
        self._best = torch.full((k,), math.inf, dtype=torch.float64)
        self.best_epoch: list[int] = [0] * k
        self.epochs_trained: list[int] = [0] * k
        self._snapshot: dict[str, torch.Tensor] | None = None

    # -- state -----------------------------------------------------------------------------------
    @property
    def active(self) -> torch.Tensor | bool:
        """Members still training: a ``(k,)`` bool tensor, or one ``bool`` for one model."""
        if self.n_members is None:
            return bool(self._active[0])
        return self._active

    @property
    def stopped(self) -> bool:
        """Whether every member has stopped."""
        return not bool(self._active.any())

    @property
    def best_loss(self) -> list[float]:
        """Lowest validation loss of each member so far (``inf`` before any update)."""
        return self._best.tolist()

    # -- per epoch -------------------------------------------------------------------------------
    def update(self, losses, module: nn.Module, epoch: int) -> None:
        """Record the validation loss(es) of 0-based ``epoch``; snapshot improved members.

        Parameters
        ----------
        losses : float or Tensor of shape (k,)
            Validation loss of the model, or of each member.
        module : nn.Module
            The model being trained (stacked: member axis first in every parameter and buffer).
        epoch : int
            0-based epoch the losses belong to.
        """
        values = torch.as_tensor(losses, dtype=torch.float64).detach().cpu().reshape(-1)
        if values.numel() != len(self._active):
            raise ValueError(f"Expected {len(self._active)} loss value(s); got {values.numel()}.")
        active = self._active.clone()
        improved = (values < self._best) & active
        self._best = torch.where(improved, values, self._best)
        self._waited = torch.where(improved, torch.zeros_like(self._waited), self._waited + 1)
        for i in torch.nonzero(active).flatten().tolist():
            self.epochs_trained[i] = epoch + 1
        if self.patience is None:  # never stops: the kept state is the latest one
            for i in torch.nonzero(active).flatten().tolist():
                self.best_epoch[i] = epoch + 1
            return
        for i in torch.nonzero(improved).flatten().tolist():
            self.best_epoch[i] = epoch + 1
        if bool(improved.any()):
            self._save(module, improved)
        self._active = active & (self._waited < self.patience)

    # -- weights ---------------------------------------------------------------------------------
    def _tensors(self, module: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
        yield from module.named_parameters()
        for name, buffer in module.named_buffers():
            yield f"buffer:{name}", buffer

    @torch.no_grad()
    def _save(self, module: nn.Module, members: torch.Tensor) -> None:
        if self._snapshot is None:
            self._snapshot = {}
            for name, tensor in self._tensors(module):
                self._check_member_axis(name, tensor)
                self._snapshot[name] = tensor.detach().clone()
            return
        for name, tensor in self._tensors(module):
            if self.n_members is None:
                self._snapshot[name].copy_(tensor)
            else:
                rows = members.to(tensor.device)
                self._snapshot[name][rows] = tensor.detach()[rows]

    @torch.no_grad()
    def _load(self, module: nn.Module, members: torch.Tensor) -> None:
        if self._snapshot is None:
            return
        for name, tensor in self._tensors(module):
            if self.n_members is None:
                tensor.copy_(self._snapshot[name])
            else:
                rows = members.to(tensor.device)
                tensor[rows] = self._snapshot[name][rows]

    def _check_member_axis(self, name: str, tensor: torch.Tensor) -> None:
        if self.n_members is not None and (tensor.dim() == 0 or tensor.shape[0] != self.n_members):
            raise ValueError(
                f"{name!r} of shape {tuple(tensor.shape)} has no member axis of length "
                f"{self.n_members} first; pass n_members=None for a single model."
            )

    def freeze(self, module: nn.Module) -> None:
        """Put the stopped members' best parameters and buffers back (after each optimiser step),
        so that a stopped member stays as it was while the others train on in the same stack."""
        if self.n_members is not None and not bool(self._active.all()):
            self._load(module, ~self._active)

    def restore(self, module: nn.Module) -> None:
        """Put every member's best parameters and buffers back (a no-op when ``patience=None``)."""
        self._load(module, torch.ones_like(self._active))
