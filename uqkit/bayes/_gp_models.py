"""GPyTorch models behind :class:`GPRegressor` and :class:`GPClassifier`: swappable parts.

A model is assembled from a mean, a kernel and (optionally) a deep-kernel feature extractor:

- :class:`ExactGPModel`: the exact GP of Rasmussen & Williams (2006), Alg. 2.1, trained on the log
  marginal likelihood (Eq. 2.30); with ``batch_shape=(C,)`` it is the Dirichlet-based GP
  classifier of Milios et al. (NeurIPS 2018), one GP per class.
- :class:`SVGPModel`: the stochastic variational GP of Hensman, Matthews & Ghahramani (AISTATS
  2015), Eq. 5/Sec. 3.1: inducing inputs ``Z`` and a whitened Gaussian ``q(u)``, trained on the
  mini-batch ELBO. ``q(u)`` is held in natural parameters so that it can be moved by natural
  gradients (Salimbeni, Eleftheriadis & Hensman, AISTATS 2018).
- :class:`FeatureExtractor`: the MLP of deep kernel learning (Wilson et al., AISTATS 2016, Eq. 5),
  ``k(x, x') = k_base(g(x), g(x'))`` with ``g`` trained jointly with the GP hyperparameters.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import gpytorch
import torch
from torch import nn

KERNELS = ("rbf", "matern12", "matern32", "matern52")
_MATERN_NU = {"matern12": 0.5, "matern32": 1.5, "matern52": 2.5}


class FeatureExtractor(nn.Sequential):
    """MLP ``g`` of a deep kernel: Linear-ReLU blocks, then a linear map to the feature space.

    Parameters
    ----------
    n_inputs : int
        Number of input features.
    sizes : sequence of int
        Hidden widths followed by the feature dimension, e.g. ``(64, 2)``.

    Examples
    --------
    >>> FeatureExtractor(3, (8, 2))(torch.zeros(5, 3)).shape
    torch.Size([5, 2])
    """

    def __init__(self, n_inputs: int, sizes: Sequence[int]) -> None:
        layers: list[nn.Module] = []
        widths = [n_inputs, *sizes]
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


def make_kernel(
    kind: str, n_dims: int, *, ard: bool, batch_shape: torch.Size | None = None
) -> gpytorch.kernels.ScaleKernel:
    """``outputscale * k(x, x')`` with an RBF or Matérn ``k``, ARD lengthscales when ``ard``.

    With ARD (automatic relevance determination; Rasmussen & Williams 2006, Eq. 5.2) each input
    dimension has its own lengthscale.

    Examples
    --------
    >>> make_kernel("matern52", 3, ard=True).base_kernel.lengthscale.shape
    torch.Size([1, 3])
    """
    ard_num_dims = n_dims if ard else None
    batch_shape = torch.Size() if batch_shape is None else batch_shape
    if kind == "rbf":
        base = gpytorch.kernels.RBFKernel(ard_num_dims=ard_num_dims, batch_shape=batch_shape)
    elif kind in _MATERN_NU:
        base = gpytorch.kernels.MaternKernel(
            nu=_MATERN_NU[kind], ard_num_dims=ard_num_dims, batch_shape=batch_shape
        )
    else:
        raise ValueError(f"kernel must be one of {KERNELS}; got {kind!r}.")
    return gpytorch.kernels.ScaleKernel(base, batch_shape=batch_shape)


def make_mean(kind: str, batch_shape: torch.Size | None = None) -> gpytorch.means.Mean:
    """A learned constant mean or the zero mean."""
    batch_shape = torch.Size() if batch_shape is None else batch_shape
    if kind == "constant":
        return gpytorch.means.ConstantMean(batch_shape=batch_shape)
    return gpytorch.means.ZeroMean(batch_shape=batch_shape)


class ExactGPModel(gpytorch.models.ExactGP):
    """Exact GP prior ``f ~ GP(m, k)``; with a Gaussian likelihood the posterior is closed form.

    Parameters
    ----------
    train_x : Tensor of shape (n, p)
    train_y : Tensor of shape (n,) or (C, n) for ``batch_shape=(C,)``
    likelihood : gpytorch.likelihoods.Likelihood
    kernel, mean : str
        Kernel name (see :func:`make_kernel`) and ``"constant"`` or ``"zero"``.
    ard : bool
        One lengthscale per (feature-space) dimension.
    deep_kernel : sequence of int, optional
        Sizes of a :class:`FeatureExtractor` applied before the kernel.
    batch_shape : torch.Size
        ``(C,)`` for independent GPs per class (Dirichlet classification).
    """

    def __init__(
        self,
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        likelihood: gpytorch.likelihoods.Likelihood,
        *,
        kernel: str,
        mean: str,
        ard: bool,
        deep_kernel: Sequence[int] | None = None,
        batch_shape: torch.Size | None = None,
    ) -> None:
        super().__init__(train_x, train_y, likelihood)
        n_dims = train_x.shape[-1]
        self.feature_extractor = None
        if deep_kernel:
            self.feature_extractor = FeatureExtractor(n_dims, deep_kernel)
            n_dims = int(deep_kernel[-1])
        self.mean_module = make_mean(mean, batch_shape)
        self.covar_module = make_kernel(kernel, n_dims, ard=ard, batch_shape=batch_shape)

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        if self.feature_extractor is not None:
            x = self.feature_extractor(x)
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


class SVGPModel(gpytorch.models.ApproximateGP):
    """Sparse variational GP with ``M`` inducing inputs (Hensman et al., 2015).

    ``q(u) = N(m, S)`` over whitened inducing values ``u = L^{-1} f(Z)`` (``K_ZZ = L L^T``) is
    stored in natural parameters (:class:`gpytorch.variational.NaturalVariationalDistribution`)
    or, with ``natural=False``, as ``m`` and a Cholesky factor of ``S``.
    With ``n_latents = C > 1`` the model holds ``C`` independent GPs (one per class) and returns a
    multitask distribution of shape ``(n, C)``.

    Parameters
    ----------
    inducing_points : Tensor of shape (M, p)
        Initial inducing inputs (in input space, also with a deep kernel).
    kernel, mean : str
    ard : bool
    learn_inducing : bool
        Optimise the inducing inputs with the hyperparameters.
    deep_kernel : sequence of int, optional
    n_latents : int
        Number of independent latent GPs.
    natural : bool
        Natural parameters for ``q(u)`` (to be moved by natural gradients), else the Cholesky
        parametrisation ``S = L L^T`` for plain gradient descent.
    likelihood : gpytorch.likelihoods.Likelihood, optional
        Held as a submodule (as :class:`ExactGPModel` holds its own), so that model and likelihood
        are saved and restored as one module.
    """

    def __init__(
        self,
        inducing_points: torch.Tensor,
        *,
        likelihood: gpytorch.likelihoods.Likelihood | None = None,
        kernel: str,
        mean: str,
        ard: bool,
        learn_inducing: bool = True,
        deep_kernel: Sequence[int] | None = None,
        n_latents: int = 1,
        natural: bool = True,
    ) -> None:
        batch_shape = torch.Size([n_latents]) if n_latents > 1 else torch.Size()
        n_inducing = inducing_points.shape[-2]
        if not natural:
            distribution = gpytorch.variational.CholeskyVariationalDistribution(
                n_inducing, batch_shape=batch_shape
            )
        elif inducing_points.dtype == torch.float64:
            distribution = gpytorch.variational.NaturalVariationalDistribution(
                n_inducing, batch_shape=batch_shape
            )
        else:  # the Cholesky-parametrised version is the stable one in single precision
            distribution = gpytorch.variational.TrilNaturalVariationalDistribution(
                n_inducing, batch_shape=batch_shape
            )
        if n_latents > 1:
            inducing_points = inducing_points.expand(n_latents, *inducing_points.shape).clone()
        strategy = gpytorch.variational.VariationalStrategy(
            self, inducing_points, distribution, learn_inducing_locations=learn_inducing
        )
        if n_latents > 1:
            strategy = gpytorch.variational.IndependentMultitaskVariationalStrategy(
                strategy, num_tasks=n_latents
            )
        super().__init__(strategy)
        self.likelihood = likelihood
        n_dims = inducing_points.shape[-1]
        self.feature_extractor = None
        if deep_kernel:
            self.feature_extractor = FeatureExtractor(n_dims, deep_kernel)
            n_dims = int(deep_kernel[-1])
        self.mean_module = make_mean(mean, batch_shape)
        self.covar_module = make_kernel(kernel, n_dims, ard=ard, batch_shape=batch_shape)

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        if self.feature_extractor is not None:
            x = self.feature_extractor(x)
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def init_hyperparameters(model: gpytorch.Module, n_dims: int, *, lengthscale: float) -> None:
    """Start the kernel at output scale 1 and lengthscale ``lengthscale`` (standardised data)."""
    kernel = model.covar_module
    kernel.outputscale = torch.ones_like(kernel.outputscale)
    kernel.base_kernel.lengthscale = torch.full_like(kernel.base_kernel.lengthscale, lengthscale)
