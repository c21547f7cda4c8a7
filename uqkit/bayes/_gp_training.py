"""The GP optimisation loops: L-BFGS (or Adam) on the marginal likelihood, mini-batch SVGP ELBO.

- :func:`train_exact`: maximise the log marginal likelihood (Rasmussen & Williams 2006, Eq. 2.30)
  with L-BFGS and a strong-Wolfe line search, or Adam when a deep kernel is learned.
- :func:`train_svgp`: the mini-batch ELBO of the sparse variational GP (Hensman, Matthews &
  Ghahramani, AISTATS 2015, Eq. 5), natural gradients on ``q(u)`` (Salimbeni et al., AISTATS
  2018) and Adam on the rest.
- :func:`optimal_q`: one natural-gradient step of size one, which lands on the optimal ``q(u)``
  (Titsias, AISTATS 2009, Eq. 10) for a Gaussian likelihood.

Each function receives its collaborators (model, data, settings); none reads an estimator.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

import gpytorch
import torch
from linear_operator.utils.errors import NotPSDError

from uqkit.exceptions import ConvergenceWarning, DivergenceError
from uqkit.training import EarlyStopping

__all__ = ["NGD_LR", "optimal_q", "train_exact", "train_svgp"]

NGD_LR = 0.1  # natural-gradient step for q(u) during mini-batch training (Salimbeni et al. 2018)
_NEVER = sys.maxsize  # patience of the best-state tracker of the exact GP: it never stops it


def train_exact(
    model: gpytorch.models.ExactGP,
    loss_fn: Callable[[gpytorch.models.ExactGP], torch.Tensor],
    *,
    epochs: int,
    adam_lr: float | None = None,
    name: str = "GP",
) -> tuple[list[float], int]:
    """Maximise the log marginal likelihood (R&W Eq. 2.30): L-BFGS, or Adam with ``adam_lr``.

    The best hyperparameters evaluated are kept (snapshotted and restored, parameters and
    buffers, by :class:`uqkit.training.EarlyStopping`). When a trial step of the line search
    makes the kernel matrix numerically singular (e.g. a near-linear fit drifting to huge output
    scales and lengthscales), optimisation stops there with a ``ConvergenceWarning`` and the
    best hyperparameters are restored; without any valid evaluation it raises.

    Parameters
    ----------
    model : gpytorch.models.ExactGP
        Trained in place; its likelihood is a submodule.
    loss_fn : callable
        ``loss_fn(model)`` → scalar loss to minimise.
    epochs : int
        L-BFGS iterations (``max_iter``), or Adam steps when ``adam_lr`` is given.
    adam_lr : float, optional
        Use Adam with this learning rate instead of L-BFGS (deep kernels).
    name : str
        Estimator name for messages.

    Returns
    -------
    losses : list of float
        One value per objective evaluation (L-BFGS line-search trials included).
    best_epoch : int
        1-based index in ``losses`` of the kept (best) state; 0 without evaluations.
    """
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    losses: list[float] = []
    # Keeps a snapshot of the best evaluation and restores it at the end. The budget is the
    # optimiser's (L-BFGS stops inside one step), so the patience is never reached.
    best = EarlyStopping(patience=_NEVER)

    def objective() -> torch.Tensor:
        loss = loss_fn(model)
        if not torch.isfinite(loss):
            raise NotPSDError(f"the loss became {loss.item()}.")
        losses.append(float(loss.item()))
        best.update(losses[-1], model, len(losses) - 1)
        return loss

    try:
        if adam_lr is None:
            optimizer = torch.optim.LBFGS(
                params,
                lr=1.0,
                max_iter=epochs,
                line_search_fn="strong_wolfe",
                tolerance_grad=1e-7,
                tolerance_change=1e-10,
            )

            def closure() -> torch.Tensor:
                optimizer.zero_grad()
                loss = objective()
                loss.backward()
                return loss

            if epochs > 0:
                optimizer.step(closure)
        else:
            optimizer = torch.optim.Adam(params, lr=adam_lr)
            for _ in range(epochs):
                optimizer.zero_grad()
                objective().backward()
                optimizer.step()
    except NotPSDError as err:
        if best.best_epoch[0] == 0:  # not one valid evaluation
            raise DivergenceError(
                f"{name}: the kernel matrix is not positive definite at the initial "
                f"hyperparameters ({err}). Use dtype='float64' or remove duplicated rows."
            ) from err
        warnings.warn(
            f"{name}: optimisation stopped after {len(losses)} evaluations because a trial step "
            f"made the kernel matrix singular ({err}); the best hyperparameters found (loss "
            f"{best.best_loss[0]:.6g}) are used.",
            ConvergenceWarning,
            stacklevel=3,
        )
    best.restore(model)
    return losses, best.best_epoch[0]


def train_svgp(
    model: gpytorch.models.ApproximateGP,
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    natural: bool,
    name: str = "GP",
) -> list[float]:
    """Mini-batch ELBO (Hensman et al. 2015, Eq. 5): NGD on q(u) when ``natural``, Adam on the rest.

    Parameters
    ----------
    model : gpytorch.models.ApproximateGP
        Holds its likelihood as ``model.likelihood``; trained in place.
    X : Tensor of shape (n, p)
    Y : Tensor of shape (n,)
        Targets (or labels), indexed on their last axis.
    epochs : int
        Passes over the data.
    lr : float
        Adam learning rate.
    batch_size : int
    seed : int
        Seeds the local generator of the mini-batch order.
    natural : bool
        Move ``q(u)`` by natural gradients (its natural parametrisation is required).
    name : str
        Estimator name for messages.

    Returns
    -------
    list of float
        Negative ELBO per training row, one value per epoch.
    """
    n = X.shape[0]
    likelihood = model.likelihood
    model.train()
    elbo = gpytorch.mlls.VariationalELBO(likelihood, model, num_data=n)
    if natural:
        ngd = gpytorch.optim.NGD(model.variational_parameters(), num_data=n, lr=NGD_LR)
        params = list(model.hyperparameters())  # the likelihood is a submodule of the model
    else:
        ngd = None
        params = list(model.parameters())
    adam = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    for epoch in range(epochs):
        total = 0.0
        for index in torch.randperm(n, generator=generator).split(batch_size):
            index = index.to(X.device)
            adam.zero_grad()
            if ngd is not None:
                ngd.zero_grad()
            loss = -elbo(model(X[index]), Y[..., index])
            if not torch.isfinite(loss):
                raise DivergenceError(
                    f"{name}: the ELBO became {loss.item()} in epoch {epoch}. Lower lr or use "
                    "dtype='float64'."
                )
            loss.backward()
            adam.step()
            if ngd is not None:
                ngd.step()
            total += float(loss.item()) * len(index)
        losses.append(total / n)
    return losses


def optimal_q(
    model: gpytorch.models.ApproximateGP, X: torch.Tensor, Y: torch.Tensor, *, batch_size: int
) -> None:
    """One full-batch natural-gradient step of size 1 on q(u).

    For a Gaussian likelihood this step lands exactly on the optimal ``q(u)`` for the current
    hyperparameters and inducing inputs (Salimbeni et al., AISTATS 2018, Sec. 3; the optimum
    is Titsias's, AISTATS 2009, Eq. 10), so the mini-batch noise of the last updates is removed.
    The full-data gradient is accumulated over mini-batches weighted by ``b / N``.

    Parameters
    ----------
    model : gpytorch.models.ApproximateGP
        With a natural-parameter ``q(u)`` and a Gaussian ``model.likelihood``.
    X : Tensor of shape (n, p)
    Y : Tensor of shape (n,)
    batch_size : int
        Rows per accumulated mini-batch (memory only; the step is full batch).
    """
    n = X.shape[0]
    model.train()
    elbo = gpytorch.mlls.VariationalELBO(model.likelihood, model, num_data=n)
    ngd = gpytorch.optim.NGD(model.variational_parameters(), num_data=n, lr=1.0)
    ngd.zero_grad()
    frozen = [p for p in model.hyperparameters() if p.requires_grad]
    for p in frozen:  # only q(u) moves: skip the hyperparameter gradients
        p.requires_grad_(False)
    try:
        for index in torch.arange(n, device=X.device).split(batch_size):
            loss = -elbo(model(X[index]), Y[index]) * (len(index) / n)
            loss.backward()
        ngd.step()
    finally:
        ngd.zero_grad()
        for p in frozen:
            p.requires_grad_(True)
