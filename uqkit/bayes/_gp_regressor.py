"""Gaussian-process regression on GPyTorch: :class:`GPRegressor`.

Rasmussen & Williams, *Gaussian Processes for Machine Learning*, 2006. With ``f ~ GP(m, k)`` and
``y = f(x) + eps``, ``eps ~ N(0, sigma^2)``, the posterior of ``f`` at ``x*`` is Gaussian with
(Eq. 2.25-2.26)

.. math::

    \\mu_* = m(x_*) + k_*^\\top (K + \\sigma^2 I)^{-1}(y - m), \\qquad
    \\operatorname{var} f_* = k(x_*, x_*) - k_*^\\top (K + \\sigma^2 I)^{-1} k_* ,

and the predictive of ``y*`` adds ``sigma^2``. uqkit reports **epistemic = var f*** (what more
data would remove) and **aleatoric = sigma^2** (noise). Hyperparameters maximise the log marginal
likelihood (Eq. 2.30) for the exact GP, or the ELBO of the sparse variational GP (Hensman et al.,
AISTATS 2015, Eq. 5) past ``max_exact_samples`` training rows.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from numbers import Integral, Real

import gpytorch
import numpy as np
import torch
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import Standardizer, refuse_sample_weight, resolve_dtype
from uqkit._random import derive_seed
from uqkit.base import UQRegressorMixin, check_fitted
from uqkit.bayes._context import forked_rng
from uqkit.bayes._gp_base import GPBase, check_sizes, gp_settings
from uqkit.bayes._gp_loss import exact_gp_loss
from uqkit.bayes._gp_models import KERNELS, ExactGPModel, SVGPModel, init_hyperparameters
from uqkit.bayes._gp_training import optimal_q, train_exact, train_svgp
from uqkit.bayes._history import single_model_history
from uqkit.exceptions import InvalidInputError
from uqkit.prediction import RegressionPrediction
from uqkit.training import check_target_scale, log_verbose

__all__ = ["GPRegressor"]

logger = logging.getLogger(__name__)

_MIN_NOISE = 1e-6  # lower bound on the noise variance, in standardised target units
_DEFAULT_EPOCHS = {"exact": 200, "svgp": 50}  # epochs=None: L-BFGS iterations / SVGP passes


class GPRegressor(UQRegressorMixin, GPBase):
    """Gaussian-process regression on GPyTorch: exact for small data, SVGP past a size threshold.

    The exact GP (Rasmussen & Williams 2006, Alg. 2.1) is used up to ``max_exact_samples``
    training rows; beyond that (or with ``method="svgp"``) a sparse variational GP with
    ``n_inducing`` inducing inputs is trained on mini-batches (Hensman, Matthews & Ghahramani,
    AISTATS 2015, Eq. 5), its ``q(u)`` moved by natural gradients (Salimbeni et al., AISTATS 2018)
    and the kernel hyperparameters, the noise and the inducing inputs by Adam. The
    hyperparameters start from an exact GP on a random subset (``init_exact_samples``), and a
    full-batch natural-gradient step of size one, which sets ``q(u)`` to its optimum for the
    current hyperparameters (Titsias 2009, Eq. 10), opens and closes the mini-batch phase.

    Features and targets are standardised on the training data; predictions come back in the
    user's units. ``predict_uncertainty`` returns a normal ``RegressionPrediction`` with
    ``epistemic = var f(x)`` (R&W Eq. 2.26) and ``aleatoric = sigma^2``.

    Parameters
    ----------
    kernel : {"rbf", "matern12", "matern32", "matern52"}, default="rbf"
        Stationary kernel, scaled by a learned output variance.
    ard : bool, default=True
        One lengthscale per input dimension (automatic relevance determination, R&W Eq. 5.2).
    mean : {"constant", "zero"}, default="constant"
        Prior mean function (learned constant or zero), in standardised target units.
    method : {"auto", "exact", "svgp"}, default="auto"
        ``"auto"``: exact when ``n_samples <= max_exact_samples``, else SVGP.
    max_exact_samples : int, default=2000
        Size threshold of ``method="auto"``.
    n_inducing : int, default=1000
        Number of inducing inputs of the SVGP; when it is at least the number of training rows,
        the inducing inputs are the training inputs.
    learn_inducing : bool, default=True
        Optimise the inducing inputs (SVGP).
    init_exact_samples : int, default=1000
        SVGP only: the kernel hyperparameters, mean and noise start from an exact GP fitted on a
        random subset of this many rows (all rows when fewer), which shortens the mini-batch
        phase a lot; 0 starts from the defaults (lengthscale sqrt(p), output scale 1, noise 0.1).
    init_exact_epochs : int, default=200
        SVGP only: optimiser iterations of that initial exact GP (as ``epochs`` for the exact GP).
    deep_kernel : tuple of int, optional
        Deep kernel learning (Wilson et al., AISTATS 2016): an MLP with these hidden widths and
        output dimension maps the inputs before the kernel; trained jointly (Adam).
    epochs : int, optional
        The optimiser's budget for the method in use: the maximum number of L-BFGS iterations of
        the exact GP (Adam steps with a deep kernel), or the number of passes over the data of
        the SVGP. ``None``: 200 for the exact GP, 50 for the SVGP.
    batch_size : int, default=1024
        Mini-batch size of the SVGP.
    lr : float, default=0.01
        Adam learning rate (SVGP hyperparameters, deep kernels).
    dtype : {"float64", "float32"}, default="float64"
    random_state : int, RandomState, Generator or None, default=None
        Seeds the inducing-input subset and the mini-batch order (local generators only).
    device : str, default="auto"
    verbose : int, default=0
        0: nothing is written; 1 or more: the final training loss as one INFO line on the
        ``uqkit`` logger (to stderr when logging is not configured).

    Attributes
    ----------
    model_, likelihood_ : gpytorch modules
        The fitted GP and Gaussian likelihood (standardised units).
    method_ : str
        ``"exact"`` or ``"svgp"``.
    history_ : list of dict
        One entry (member 0): ``train_loss`` is the negative log marginal likelihood per
        objective evaluation (exact; L-BFGS line-search trials included, ``best_epoch`` the
        evaluation whose hyperparameters were kept) or the negative ELBO per epoch (SVGP), per
        training row, in standardised units; ``val_loss`` is empty.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-3, 3, size=(40, 1))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=40)
    >>> gp = GPRegressor(epochs=50, random_state=0).fit(X, y)
    >>> pred = gp.predict_uncertainty(np.array([[0.0], [8.0]]))
    >>> bool(pred.epistemic[1] > pred.epistemic[0])  # far from the data the GP is unsure
    True
    """

    _parameter_constraints: dict = {
        "kernel": [StrOptions(set(KERNELS))],
        "ard": ["boolean"],
        "mean": [StrOptions({"constant", "zero"})],
        "method": [StrOptions({"auto", "exact", "svgp"})],
        "max_exact_samples": [Interval(Integral, 1, None, closed="left")],
        "n_inducing": [Interval(Integral, 1, None, closed="left")],
        "learn_inducing": ["boolean"],
        "init_exact_samples": [Interval(Integral, 0, None, closed="left")],
        "init_exact_epochs": [Interval(Integral, 0, None, closed="left")],
        "deep_kernel": [None, tuple, list],
        "epochs": [None, Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "device": [str],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        kernel: str = "rbf",
        ard: bool = True,
        mean: str = "constant",
        method: str = "auto",
        max_exact_samples: int = 2000,
        n_inducing: int = 1000,
        learn_inducing: bool = True,
        init_exact_samples: int = 1000,
        init_exact_epochs: int = 200,
        deep_kernel: Sequence[int] | None = None,
        epochs: int | None = None,
        batch_size: int = 1024,
        lr: float = 0.01,
        dtype: str = "float64",
        random_state=None,
        device: str = "auto",
        verbose: int = 0,
    ) -> None:
        self.kernel = kernel
        self.ard = ard
        self.mean = mean
        self.method = method
        self.max_exact_samples = max_exact_samples
        self.n_inducing = n_inducing
        self.learn_inducing = learn_inducing
        self.init_exact_samples = init_exact_samples
        self.init_exact_epochs = init_exact_epochs
        self.deep_kernel = deep_kernel
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.dtype = dtype
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X, y, *, X_val=None, y_val=None, **fit_params) -> GPRegressor:
        """Fit the GP hyperparameters (and ``q(u)`` for the SVGP) on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        X_val, y_val : array-like, optional
            Scored after fitting into ``validation_scores_`` (no early stopping: the marginal
            likelihood / ELBO is the model-selection criterion).
        **fit_params
            ``sample_weight`` is not supported: passing it raises
            :class:`~uqkit.exceptions.InvalidInputError` (a weighted exact-GP marginal
            likelihood is not standard; repeat rows instead, or use an estimator that takes
            weights, such as :class:`~uqkit.bayes.BayesianMLPRegressor`).

        Returns
        -------
        self : GPRegressor
        """
        refuse_sample_weight(
            fit_params, "GPRegressor",
            "a weighted exact-GP marginal likelihood is not standard (a weight is not a fixed "
            "noise scale once the noise is learned), and the SVGP starts from an exact GP on "
            "a subset. Repeat rows to weight them, or use BayesianMLPRegressor or "
            "DeepEnsembleRegressor, which take sample_weight.",
        )
        self._setup()
        X, y = self._check_X_y(X, y, regression=True)
        if y.ndim == 2:
            if y.shape[1] != 1:
                raise InvalidInputError(
                    "GPRegressor models one target; fit one GPRegressor per column of y "
                    f"(got y with {y.shape[1]} columns)."
                )
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; GPRegressor models "
                "one target and uses y[:, 0]. Pass y.ravel() to silence this warning.",
                DataConversionWarning,
                stacklevel=2,
            )
            y = y[:, 0]
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=True)
        x_scaler = Standardizer.fit(X)
        y_scaler = Standardizer.fit(y[:, None])
        check_target_scale(y_scaler.scale)
        self.x_mean_, self.x_scale_ = x_scaler.mean, x_scaler.scale
        self.y_mean_, self.y_scale_ = float(y_scaler.mean[0]), float(y_scaler.scale[0])
        Xs = x_scaler.transform(X)
        ys = (y - self.y_mean_) / self.y_scale_
        n = len(X)
        exact = self.method == "exact" or (self.method == "auto" and n <= self.max_exact_samples)
        self.method_ = "exact" if exact else "svgp"
        epochs = _DEFAULT_EPOCHS[self.method_] if self.epochs is None else self.epochs
        with forked_rng(derive_seed(self.random_state_, 0), self.device_), gp_settings():
            if exact:
                self.X_train_, self.y_train_ = Xs, ys
                self.model_ = self._build_module("model_")
                self._init(self.model_, self.likelihood_, Xs.shape[1])
                Xt, yt = self._tensor(Xs), self._tensor(ys)
                losses, best = train_exact(
                    self.model_,
                    lambda m: exact_gp_loss(m, m.likelihood, Xt, yt),
                    epochs=epochs,
                    adam_lr=self._adam_lr(),
                    name=type(self).__name__,
                )
                self.history_ = single_model_history(losses, best)
            else:
                self.n_inducing_ = min(self.n_inducing, n)
                inducing = self._inducing_init(
                    Xs, self.n_inducing_, derive_seed(self.random_state_, 1)
                )
                self.model_ = self._build_svgp(inducing)
                self._init(self.model_, self.likelihood_, Xs.shape[1])
                if self.init_exact_samples > 0:
                    self._init_from_subset(Xs, ys)
                Xt, yt = self._tensor(Xs), self._tensor(ys)
                if epochs > 0:
                    # start the mini-batch phase from the optimal q(u) for the initial
                    # hyperparameters, not from the prior (which would first push them off,
                    # towards a large noise that explains the poor q(u))
                    optimal_q(self.model_, Xt, yt, batch_size=self.batch_size)
                losses = train_svgp(
                    self.model_,
                    Xt,
                    yt,
                    epochs=epochs,
                    lr=self.lr,
                    batch_size=self.batch_size,
                    seed=derive_seed(self.random_state_, 2),
                    natural=True,
                    name=type(self).__name__,
                )
                optimal_q(self.model_, Xt, yt, batch_size=self.batch_size)
                self.history_ = single_model_history(losses)
        self.model_.eval()
        train_loss = self.history_[0]["train_loss"]
        if train_loss:
            log_verbose(logger, self.verbose,
                        f"GPRegressor ({self.method_}): final loss {train_loss[-1]:.4f}")
        if X_val is not None:
            self.validation_scores_ = self.evaluate(X_val, y_val)
        return self

    def _init_from_subset(self, Xs: np.ndarray, ys: np.ndarray) -> None:
        """Copy mean, kernel and noise of an exact GP fitted on a random subset into the SVGP."""
        generator = torch.Generator().manual_seed(derive_seed(self.random_state_, 4))
        n_sub = min(self.init_exact_samples, len(Xs))
        index = torch.randperm(len(Xs), generator=generator)[:n_sub].numpy()
        Xt, yt = self._tensor(Xs[index]), self._tensor(ys[index])
        likelihood = self._gaussian_likelihood()
        exact = ExactGPModel(
            Xt,
            yt,
            likelihood,
            kernel=self.kernel,
            mean=self.mean,
            ard=self.ard,
            deep_kernel=self._deep,
        ).to(device=self.device_, dtype=resolve_dtype(self.dtype))
        self._init(exact, likelihood, Xs.shape[1])
        train_exact(
            exact,
            lambda m: exact_gp_loss(m, likelihood, Xt, yt),
            epochs=self.init_exact_epochs,
            adam_lr=self._adam_lr(),
            name=type(self).__name__,
        )
        for part in ("mean_module", "covar_module", "feature_extractor"):
            if getattr(exact, part) is not None:
                getattr(self.model_, part).load_state_dict(getattr(exact, part).state_dict())
        self.likelihood_.load_state_dict(likelihood.state_dict())

    def _init(self, model, likelihood, n_features: int) -> None:
        n_dims = self._deep[-1] if self._deep else n_features
        init_hyperparameters(model, n_dims, lengthscale=math.sqrt(n_dims))
        likelihood.noise = torch.full_like(likelihood.noise, 0.1)

    # -- modules ------------------------------------------------------------------------------
    def _gaussian_likelihood(self) -> gpytorch.likelihoods.GaussianLikelihood:
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(_MIN_NOISE)
        )
        return likelihood.to(device=self.device_, dtype=resolve_dtype(self.dtype))

    def _build_svgp(self, inducing: torch.Tensor) -> SVGPModel:
        model = SVGPModel(
            inducing,
            likelihood=self._gaussian_likelihood(),
            kernel=self.kernel,
            mean=self.mean,
            ard=self.ard,
            learn_inducing=self.learn_inducing,
            deep_kernel=check_sizes(self.deep_kernel, "deep_kernel"),
        )
        return model.to(device=self.device_, dtype=resolve_dtype(self.dtype))

    def _build_module(self, name: str) -> torch.nn.Module:
        if name != "model_":
            return super()._build_module(name)
        dtype = resolve_dtype(self.dtype)
        if self.method_ == "exact":
            model = ExactGPModel(
                self._tensor(self.X_train_),
                self._tensor(self.y_train_),
                self._gaussian_likelihood(),
                kernel=self.kernel,
                mean=self.mean,
                ard=self.ard,
                deep_kernel=check_sizes(self.deep_kernel, "deep_kernel"),
            )
            return model.to(device=self.device_, dtype=dtype)
        placeholder = torch.zeros(self.n_inducing_, self.n_features_in_, dtype=dtype)
        return self._build_svgp(placeholder.to(self.device_))

    # -- predict ------------------------------------------------------------------------------
    def predict_uncertainty(self, X) -> RegressionPrediction:
        """Gaussian predictive ``N(mu, var f + sigma^2)`` in the units of ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        RegressionPrediction
            ``distribution="normal"``; ``epistemic`` = latent variance, ``aleatoric`` = noise.
        """
        check_fitted(self, "model_")
        X = self._check_X(X, reset=False)
        mean, variance = self._latent_moments(X)
        noise = float(self.likelihood_.noise.detach().cpu().reshape(-1)[0])
        mean = mean.detach().cpu().double().numpy()
        epistemic = variance.detach().cpu().double().numpy()
        prediction = RegressionPrediction.normal(mean, np.full_like(mean, noise), epistemic)
        return prediction.rescale(self.y_scale_, self.y_mean_)

    def learned_hyperparameters(self) -> dict[str, np.ndarray | float]:
        """Kernel hyperparameters in the user's units.

        Without a deep kernel the GP on standardised data equals a GP on the raw data with
        lengthscales ``l * x_scale``, output variance ``s * y_scale^2``, noise variance
        ``sigma^2 * y_scale^2`` and mean ``y_mean + c * y_scale``.

        Returns
        -------
        dict
            ``lengthscale`` (array of shape (n_features,) with ARD, else (1,)), ``outputscale``,
            ``noise`` and ``mean`` (floats). With a deep kernel the lengthscales are those of the
            learned feature space and are not rescaled.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.linspace(0, 1, 20)[:, None]
        >>> gp = GPRegressor(epochs=20).fit(X, 3 * X[:, 0])
        >>> sorted(gp.learned_hyperparameters())
        ['lengthscale', 'mean', 'noise', 'outputscale']
        """
        check_fitted(self, "model_")
        kernel = self.model_.covar_module
        lengthscale = kernel.base_kernel.lengthscale.detach().cpu().double().numpy().reshape(-1)
        if not self.deep_kernel:
            lengthscale = lengthscale * (self.x_scale_ if self.ard else 1.0)
        constant = 0.0
        if isinstance(self.model_.mean_module, gpytorch.means.ConstantMean):
            constant = float(self.model_.mean_module.constant.detach().cpu())
        return {
            "lengthscale": lengthscale,
            "outputscale": float(kernel.outputscale.detach().cpu()) * self.y_scale_**2,
            "noise": float(self.likelihood_.noise.detach().cpu().reshape(-1)[0]) * self.y_scale_**2,
            "mean": self.y_mean_ + constant * self.y_scale_,
        }
