"""What :class:`GPRegressor` and :class:`GPClassifier` share: set-up, numerics, batched prediction.

The training loops live in :mod:`uqkit.bayes._gp_training`, the models in
:mod:`uqkit.bayes._gp_models`.
"""

from __future__ import annotations

import itertools
import warnings
from contextlib import ExitStack
from numbers import Integral

import gpytorch
import numpy as np
import torch

from uqkit._data import Standardizer, resolve_device, resolve_dtype
from uqkit.base import UQEstimator
from uqkit.bayes._context import eval_mode
from uqkit.exceptions import InvalidInputError
from uqkit.training import check_finite_outputs, check_finite_parameters, check_representable

__all__ = ["GPBase", "check_sizes", "gp_settings"]

_PREDICT_BATCH = 2048


def gp_settings() -> ExitStack:
    """Numerics for one call: dense Cholesky solves (no CG/Lanczos), exact predictive variances."""
    stack = ExitStack()
    stack.enter_context(gpytorch.settings.max_cholesky_size(10**7))
    stack.enter_context(gpytorch.settings.fast_pred_var(False))
    stack.enter_context(gpytorch.settings.cholesky_max_tries(6))  # jitter up to 1e-3 if needed
    return stack


def check_sizes(sizes, name: str) -> tuple[int, ...] | None:
    """``None`` or a non-empty tuple of positive ints (the widths of a deep kernel)."""
    if sizes is None:
        return None
    sizes = tuple(sizes) if isinstance(sizes, (list, tuple)) else (sizes,)
    if not sizes or not all(isinstance(s, Integral) and s > 0 for s in sizes):
        raise InvalidInputError(
            f"{name} must be None or a non-empty tuple of positive ints (hidden widths followed "
            f"by the feature dimension), e.g. (64, 2); got {sizes!r}."
        )
    return tuple(int(s) for s in sizes)


class GPBase(UQEstimator):
    """Shared pieces: device/dtype, scaling, inducing inputs and batched latent prediction."""

    # -- set-up ------------------------------------------------------------------------
    def _setup(self) -> None:
        self._check_params()
        self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        self._deep = check_sizes(self.deep_kernel, "deep_kernel")

    def _tensor(self, values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=resolve_dtype(self.dtype), device=self.device_)

    def _adam_lr(self) -> float | None:
        """The exact GP's optimiser: L-BFGS (``None``), or Adam at ``lr`` with a deep kernel."""
        return None if self._deep is None else self.lr

    @property
    def likelihood_(self) -> gpytorch.likelihoods.Likelihood:
        """The fitted likelihood (a submodule of ``model_``)."""
        return self.model_.likelihood

    def _x_scaler(self) -> Standardizer:
        return Standardizer(mean=self.x_mean_, scale=self.x_scale_)

    def _inducing_init(self, X: np.ndarray, n_inducing: int, seed: int) -> torch.Tensor:
        """Inducing inputs: the training inputs themselves when M >= N, else a random subset."""
        if n_inducing >= len(X):
            return self._tensor(X).clone()
        generator = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(X), generator=generator)[:n_inducing]
        return self._tensor(X[index.numpy()]).clone()

    # -- prediction ------------------------------------------------------------------------
    def _latent_moments(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and variance of the latent f, batched over rows.

        The model is put in eval mode for the call and every submodule gets its own mode back.
        """
        model = self.model_
        check_finite_parameters(model, type(self).__name__)
        means, variances = [], []
        Xs = self._x_scaler().transform(X)
        check_representable(Xs, self.x_mean_, self.x_scale_, self.dtype, "X")
        Xt = self._tensor(Xs)
        with eval_mode(model), torch.no_grad(), gp_settings(), warnings.catch_warnings():
            # predicting at the training inputs is legitimate; GPyTorch warns about it
            warnings.simplefilter("ignore", gpytorch.utils.warnings.GPInputWarning)
            # k** - k*'K^-1 k* a few ulps below zero where the data pin f down (a constant y):
            # clamped to 0 below, the noise keeps the predictive variance positive
            warnings.simplefilter("ignore", gpytorch.utils.warnings.NumericalWarning)
            for rows in Xt.split(_PREDICT_BATCH):
                latent = model(rows)
                means.append(latent.mean)
                variances.append(latent.variance)
        # rows are the last axis, except for the (n, C) output of a multitask SVGP
        dim = 0 if means[0].dim() == 2 and not self._latent_rows_last() else -1
        mean, variance = torch.cat(means, dim=dim), torch.cat(variances, dim=dim)
        name = type(self).__name__
        check_finite_outputs(mean[None], name), check_finite_outputs(variance[None], name)
        return mean, variance.clamp_min(0.0)

    def _declared_elements(self, name: str, stored: dict[str, torch.Tensor]) -> int | None:
        if name != "model_":
            return None
        # inducing points (n_inducing_ x n_features_in_, SVGP only) and the deep kernel's weights
        widths = [self.n_features_in_, *(check_sizes(self.deep_kernel, "deep_kernel") or [])]
        count = sum(a * b for a, b in itertools.pairwise(widths))
        if any(key.endswith("inducing_points") for key in stored):  # a sparse GP
            count += int(self.n_inducing_) * int(self.n_features_in_)
        return count

    def _latent_rows_last(self) -> bool:
        return True
