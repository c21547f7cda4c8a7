"""The member-loss protocol of the stacked training loop, and the two losses of deep ensembles.

A member loss maps the raw outputs of ``k`` stacked members ``(k, b, out)`` and their targets
``(k, b, ...)`` to one loss per member ``(k,)``; the loop sums them, so members never interact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from uqkit.losses._gaussian import gaussian_nll
from uqkit.nn import gaussian_head

__all__ = ["CrossEntropyMemberLoss", "GaussianMemberLoss", "MemberLoss", "row_mean"]


def row_mean(values: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-member mean of per-row values ``(k, b, ...)`` → ``(k,)``, optionally row-weighted.

    With ``weight`` ``(k, b)`` (rows' weights, normalised to average 1 over the data set, see
    :func:`uqkit._data.normalised_weights`) it is ``mean(weight * values)``: an unbiased
    mini-batch estimate of the weighted loss ``sum(w * loss) / sum(w)``. Weights of ones
    multiply by exactly 1, so the result, and its gradient, are bit for bit the unweighted mean.

    Examples
    --------
    >>> values = torch.tensor([[1.0, 3.0]])
    >>> row_mean(values), row_mean(values, torch.tensor([[0.5, 1.5]]))
    (tensor([2.]), tensor([2.5000]))
    >>> torch.equal(row_mean(values, torch.ones(1, 2)), row_mean(values))
    True
    """
    if weight is not None:
        values = values * weight.reshape(*weight.shape, *([1] * (values.dim() - weight.dim())))
    return values.flatten(1).mean(dim=1)


class MemberLoss:
    """Base of every per-member loss trained by :func:`uqkit.training.train_stack`.

    Subclasses implement ``__call__(raw, target, weight=None) -> (k,)``, where ``weight``
    ``(k, b)`` holds the rows' ``sample_weight`` (normalised to average 1; reduce the per-row
    losses with :func:`row_mean`). Two hooks have safe defaults:
    :meth:`set_epoch` (called at the start of every epoch, e.g. for an annealed regulariser) and
    :meth:`validation_loss` (the fixed criterion early stopping scores validation data with).

    Examples
    --------
    >>> class AbsoluteError(MemberLoss):
    ...     def __call__(self, raw, target):
    ...         return (raw - target).abs().flatten(1).mean(dim=1)
    >>> loss = AbsoluteError()
    >>> loss.set_epoch(0, 10)  # the default hook does nothing
    >>> loss.validation_loss(torch.ones(2, 3, 1), torch.zeros(2, 3, 1))
    tensor([1., 1.])
    """

    def __call__(
        self, raw: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-member loss of raw outputs ``(k, b, out)`` against targets ``(k, b, ...)``,
        rows weighted by ``weight`` ``(k, b)`` when given."""
        raise NotImplementedError

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Called at the start of 0-based ``epoch`` of ``epochs``; a no-op by default."""

    def validation_loss(
        self, raw: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The criterion of early stopping; by default the training loss itself.

        A loss whose training objective changes over epochs overrides it with a fixed one, or a
        changing weight alone would make some epochs look best.
        """
        return self(raw, target) if weight is None else self(raw, target, weight)


@dataclass
class GaussianMemberLoss(MemberLoss):
    """Per-member Gaussian NLL of a mean/variance head; ``(k, b, 2d)`` → ``(k,)``.

    The raw output is split by :func:`uqkit.nn.gaussian_head` into a mean and a variance
    ``softplus(raw) + min_variance``; the loss is :func:`uqkit.losses.gaussian_nll`
    (Lakshminarayanan et al., 2017, Eq. 1) averaged over the batch and the target columns of each
    member.

    Parameters
    ----------
    min_variance : float, default 1e-6
        Variance floor of the head.
    beta : float, default 0.0
        β of the β-NLL (Seitzer et al., 2022, Eq. 4); 0 is the plain Gaussian NLL.

    Examples
    --------
    A mean of 0 and a variance of 1 (``softplus(log(e - 1)) = 1``) at target 0 give
    ``0.5 * log(2 * pi)`` for every member:

    >>> import math
    >>> loss = GaussianMemberLoss(min_variance=0.0)
    >>> raw = torch.zeros(3, 4, 2)
    >>> raw[..., 1] = math.log(math.e - 1)
    >>> values = loss(raw, torch.zeros(3, 4, 1))
    >>> values.shape, torch.allclose(values, torch.tensor(0.5 * math.log(2 * math.pi)))
    (torch.Size([3]), True)
    """

    min_variance: float = 1e-6
    beta: float = 0.0

    def __call__(self, raw, target, weight=None) -> torch.Tensor:
        mean, var = gaussian_head(raw, self.min_variance)
        nll = gaussian_nll(mean, var, target, beta=self.beta, reduction="none")
        return row_mean(nll, weight)


@dataclass
class CrossEntropyMemberLoss(MemberLoss):
    """Per-member cross-entropy of logits ``(k, b, C)`` against labels ``(k, b)`` → ``(k,)``.

    Examples
    --------
    Uniform logits over 4 classes cost ``log 4`` whatever the label:

    >>> import math
    >>> loss = CrossEntropyMemberLoss()
    >>> values = loss(torch.zeros(2, 5, 4), torch.randint(0, 4, (2, 5)))
    >>> values.shape, torch.allclose(values, torch.tensor(math.log(4.0)))
    (torch.Size([2]), True)
    """

    def __call__(self, raw, target, weight=None) -> torch.Tensor:
        k, b, c = raw.shape
        loss = F.cross_entropy(raw.reshape(k * b, c), target.reshape(k * b), reduction="none")
        return row_mean(loss.reshape(k, b), weight)
