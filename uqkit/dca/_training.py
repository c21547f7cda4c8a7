"""One DCA training step with the consistency-enforcing loss (Shen & Cremers, NeurIPS 2022,
Sec. 4): a reference proposal without gradient, then ``R`` proposals whose losses are each
divided by ``R`` and back-propagated (gradients accumulate), the reference moving along; one
optimizer step per mini-batch."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from uqkit.dca._module import DCAModule
from uqkit.exceptions import DivergenceError, InvalidInputError

__all__ = ["consistency_step"]


def consistency_step(
    model: DCAModule,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    n_proposals: int = 5,
) -> float:
    """Train ``model`` on one mini-batch with the consistency-enforcing loss.

    The step is, with ``R = n_proposals``::

        ref = model(x)                      # a random proposal, no gradient
        for t in 1..R:
            out_t = model(x)                # a new random proposal
            loss_t = loss_fn(out_t, y, ref) / R
            loss_t.backward()               # gradients accumulate over t
            ref = out_t.detach()
        optimizer.step()

    Each forward pass draws its own proposal, so only the instances chosen in some pass get a
    gradient; Adam skips parameters whose gradient stays ``None``.

    Parameters
    ----------
    model : DCAModule
        The DCA network (in training mode).
    optimizer : torch.optim.Optimizer
        Optimiser over ``model.parameters()``; it is zeroed (``set_to_none``) and stepped here.
    x, y : Tensor
        One mini-batch.
    loss_fn : callable
        ``loss_fn(output, target, reference) -> scalar`` such as
        :func:`~uqkit.dca.classification_consistency_loss`.
    n_proposals : int, default=5
        ``R``, the number of proposals trained on this mini-batch.

    Returns
    -------
    float
        ``sum_t loss_t`` (the mean of the ``R`` undivided losses).

    Raises
    ------
    DivergenceError
        If a loss is not finite (the optimiser has not stepped then).

    Examples
    --------
    >>> from torch import nn
    >>> from uqkit.dca import DCAModule, classification_consistency_loss
    >>> dca = DCAModule(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)), "layer", 4)
    >>> optimizer = torch.optim.Adam(dca.parameters(), lr=1e-2)
    >>> x, y = torch.randn(16, 3), torch.randint(2, (16,))
    >>> loss = consistency_step(dca, optimizer, x, y, classification_consistency_loss)
    >>> loss > 0
    True
    """
    if isinstance(n_proposals, bool) or not isinstance(n_proposals, int) or n_proposals < 1:
        raise InvalidInputError(f"n_proposals must be a positive int; got {n_proposals!r}.")
    optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        reference = model(x)
    total = 0.0
    for _ in range(n_proposals):
        output = model(x)
        loss = loss_fn(output, y, reference) / n_proposals
        value = float(loss.detach())
        if not math.isfinite(value):
            optimizer.zero_grad(set_to_none=True)
            raise DivergenceError(
                f"non-finite loss for proposal {model.last_proposal}. Lower lr, standardise the "
                "inputs, or raise min_variance."
            )
        loss.backward()
        total += value
        reference = output.detach()
    optimizer.step()
    return total
