"""Gaussian-process estimators on GPyTorch: :class:`GPRegressor` and :class:`GPClassifier`.

Regression (Rasmussen & Williams, *Gaussian Processes for Machine Learning*, 2006). With
``f ~ GP(m, k)`` and ``y = f(x) + eps``, ``eps ~ N(0, sigma^2)``, the posterior of ``f`` at ``x*``
is Gaussian with (Eq. 2.25-2.26)

.. math::

    \\mu_* = m(x_*) + k_*^\\top (K + \\sigma^2 I)^{-1}(y - m), \\qquad
    \\operatorname{var} f_* = k(x_*, x_*) - k_*^\\top (K + \\sigma^2 I)^{-1} k_* ,

and the predictive of ``y*`` adds ``sigma^2``. uqkit reports **epistemic = var f*** (what more
data would remove) and **aleatoric = sigma^2** (noise). Hyperparameters maximise the log marginal
likelihood (Eq. 2.30) for the exact GP, or the ELBO of the sparse variational GP (Hensman et al.,
AISTATS 2015, Eq. 5) past ``max_exact_samples`` training rows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from numbers import Integral, Real

import gpytorch
import numpy as np
import torch
from linear_operator.utils.errors import NotPSDError
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import Standardizer, resolve_device, resolve_dtype
from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQEstimator, UQRegressorMixin, check_fitted
from uqkit.bayes._context import forked_rng
from uqkit.bayes._gp_models import KERNELS, ExactGPModel, SVGPModel, init_hyperparameters
from uqkit.exceptions import ConvergenceWarning, DivergenceError, InvalidInputError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.training import ClassificationTargets

__all__ = ["GPClassifier", "GPRegressor"]

_NGD_LR = 0.1  # natural-gradient step for q(u) during mini-batch training (Salimbeni et al. 2018)
_MIN_NOISE = 1e-6  # lower bound on the noise variance, in standardised target units
_PREDICT_BATCH = 2048


def _gp_settings() -> ExitStack:
    """Numerics for one call: dense Cholesky solves (no CG/Lanczos), exact predictive variances."""
    stack = ExitStack()
    stack.enter_context(gpytorch.settings.max_cholesky_size(10**7))
    stack.enter_context(gpytorch.settings.fast_pred_var(False))
    stack.enter_context(gpytorch.settings.cholesky_max_tries(6))  # jitter up to 1e-3 if needed
    return stack


class _GaussianNLL(torch.autograd.Function):
    """``-log N(r | 0, K)`` with the closed-form gradient of Rasmussen & Williams (2006), Eq. 5.9.

    Forward (R&W Alg. 2.1): ``L = chol(K)``, ``a = K^{-1} r``, value
    ``r^T a / 2 + sum(log diag L) + n log(2 pi) / 2``. Backward:
    ``d/dK = (K^{-1} - a a^T) / 2`` and ``d/dr = a``; one Cholesky inverse instead of
    differentiating through the factorisation, about three times cheaper on a CPU. When the
    factorisation fails from round-off, jitter ``1e-8 .. 1e-5`` times the mean diagonal is added.
    """

    @staticmethod
    def forward(ctx, K: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        L, info = torch.linalg.cholesky_ex(K)
        if int(info.max()) > 0:  # round-off at extreme hyperparameters: add jitter, as GPyTorch
            eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
            jitter = 1e-8 * K.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True).unsqueeze(-1)
            for _ in range(4):
                L, info = torch.linalg.cholesky_ex(K + jitter * eye)
                if int(info.max()) == 0:
                    break
                jitter = jitter * 10.0
            else:
                raise NotPSDError("the kernel matrix plus noise is not positive definite.")
        a = torch.cholesky_solve(r.unsqueeze(-1), L).squeeze(-1)
        n = K.shape[-1]
        value = 0.5 * (r * a).sum(-1) + L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        ctx.save_for_backward(L, a)
        return value + 0.5 * n * math.log(2.0 * math.pi)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        L, a = ctx.saved_tensors
        grad_K = 0.5 * (torch.cholesky_inverse(L) - a.unsqueeze(-1) * a.unsqueeze(-2))
        return grad_K * grad[..., None, None], a * grad[..., None]


def _exact_loss(model: ExactGPModel, likelihood, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Negative log marginal likelihood per row (R&W Eq. 2.30) of a Gaussian-likelihood GP."""
    prior = model.forward(X)
    K = prior.lazy_covariance_matrix.to_dense()
    noise = likelihood.noise.reshape(-1)[0]
    K = K + noise * torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
    return _GaussianNLL.apply(K, y - prior.mean) / X.shape[0]


def _check_sizes(sizes, name: str) -> tuple[int, ...] | None:
    if sizes is None:
        return None
    sizes = tuple(sizes) if isinstance(sizes, (list, tuple)) else (sizes,)
    if not sizes or not all(isinstance(s, Integral) and s > 0 for s in sizes):
        raise InvalidInputError(
            f"{name} must be None or a non-empty tuple of positive ints (hidden widths followed "
            f"by the feature dimension), e.g. (64, 2); got {sizes!r}."
        )
    return tuple(int(s) for s in sizes)


class _GPBase(UQEstimator):
    """Shared pieces: device/dtype, scaling, the two training loops and batched prediction."""

    # -- set-up ------------------------------------------------------------------------
    def _setup(self) -> None:
        self._check_params()
        self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        self._deep = _check_sizes(self.deep_kernel, "deep_kernel")

    def _tensor(self, values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=resolve_dtype(self.dtype), device=self.device_)

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

    # -- training ------------------------------------------------------------------------
    def _train_exact(self, model, likelihood, loss_fn) -> list[float]:
        """Maximise the log marginal likelihood (R&W Eq. 2.30): L-BFGS, or Adam with a deep kernel.

        The best hyperparameters evaluated are kept. When a trial step of the line search makes
        the kernel matrix numerically singular (e.g. a near-linear fit drifting to huge output
        scales and lengthscales), optimisation stops there with a ``ConvergenceWarning`` and the
        best hyperparameters are restored; without any valid evaluation it raises.
        """
        model.train()
        likelihood.train()
        params = [p for p in model.parameters() if p.requires_grad]
        history: list[float] = []
        best: dict = {"loss": math.inf, "state": None}

        def objective() -> torch.Tensor:
            loss = loss_fn(model)
            if not torch.isfinite(loss):
                raise NotPSDError(f"the loss became {loss.item()}.")
            value = float(loss.item())
            history.append(value)
            if value < best["loss"]:
                best["loss"] = value
                best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return loss

        try:
            if self._deep is None:
                optimizer = torch.optim.LBFGS(
                    params,
                    lr=1.0,
                    max_iter=self.max_iter,
                    line_search_fn="strong_wolfe",
                    tolerance_grad=1e-7,
                    tolerance_change=1e-10,
                )

                def closure() -> torch.Tensor:
                    optimizer.zero_grad()
                    loss = objective()
                    loss.backward()
                    return loss

                if self.max_iter > 0:
                    optimizer.step(closure)
            else:
                optimizer = torch.optim.Adam(params, lr=self.lr)
                for _ in range(self.max_iter):
                    optimizer.zero_grad()
                    objective().backward()
                    optimizer.step()
        except NotPSDError as err:
            if best["state"] is None:
                raise DivergenceError(
                    f"{type(self).__name__}: the kernel matrix is not positive definite at the "
                    f"initial hyperparameters ({err}). Use dtype='float64' or remove duplicated "
                    "rows."
                ) from err
            warnings.warn(
                f"{type(self).__name__}: optimisation stopped after {len(history)} evaluations "
                f"because a trial step made the kernel matrix singular ({err}); the best "
                f"hyperparameters found (loss {best['loss']:.6g}) are used.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if best["state"] is not None:
            model.load_state_dict(best["state"])
        return history

    def _train_svgp(self, model, likelihood, X, Y, n_epochs: int, *, natural: bool) -> list[float]:
        """Mini-batch ELBO (Hensman et al. 2015, Eq. 5): NGD on q(u), Adam on the rest."""
        n = X.shape[0]
        model.train()
        likelihood.train()
        elbo = gpytorch.mlls.VariationalELBO(likelihood, model, num_data=n)
        if natural:
            ngd = gpytorch.optim.NGD(model.variational_parameters(), num_data=n, lr=_NGD_LR)
            params = list(model.hyperparameters())  # the likelihood is a submodule of the model
        else:
            ngd = None
            params = list(model.parameters())
        adam = torch.optim.Adam(params, lr=self.lr)
        generator = torch.Generator().manual_seed(derive_seed(self.random_state_, 2))
        history: list[float] = []
        for epoch in range(n_epochs):
            total = 0.0
            for index in torch.randperm(n, generator=generator).split(self.batch_size):
                index = index.to(self.device_)
                adam.zero_grad()
                if ngd is not None:
                    ngd.zero_grad()
                loss = -elbo(model(X[index]), Y[..., index])
                if not torch.isfinite(loss):
                    raise DivergenceError(
                        f"{type(self).__name__}: the ELBO became {loss.item()} in epoch {epoch}. "
                        "Lower lr or use dtype='float64'."
                    )
                loss.backward()
                adam.step()
                if ngd is not None:
                    ngd.step()
                total += float(loss.item()) * len(index)
            history.append(total / n)
        return history

    def _optimal_q(self, model, likelihood, X, Y) -> None:
        """One full-batch natural-gradient step of size 1 on q(u).

        For a Gaussian likelihood this step lands exactly on the optimal ``q(u)`` for the current
        hyperparameters and inducing inputs (Salimbeni et al., AISTATS 2018, Sec. 3; the optimum
        is Titsias's, AISTATS 2009, Eq. 10), so the mini-batch noise of the last updates is removed.
        The full-data gradient is accumulated over mini-batches weighted by ``b / N``.
        """
        n = X.shape[0]
        model.train()
        likelihood.train()
        elbo = gpytorch.mlls.VariationalELBO(likelihood, model, num_data=n)
        ngd = gpytorch.optim.NGD(model.variational_parameters(), num_data=n, lr=1.0)
        ngd.zero_grad()
        frozen = [p for p in model.hyperparameters() if p.requires_grad]
        for p in frozen:  # only q(u) moves: skip the hyperparameter gradients
            p.requires_grad_(False)
        try:
            for index in torch.arange(n, device=self.device_).split(self.batch_size):
                loss = -elbo(model(X[index]), Y[index]) * (len(index) / n)
                loss.backward()
            ngd.step()
        finally:
            ngd.zero_grad()
            for p in frozen:
                p.requires_grad_(True)

    # -- prediction ------------------------------------------------------------------------
    def _latent_moments(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and variance of the latent f, batched over rows."""
        model = self.model_
        model.eval()
        self.likelihood_.eval()
        means, variances = [], []
        Xt = self._tensor(self._x_scaler().transform(X))
        with torch.no_grad(), _gp_settings(), warnings.catch_warnings():
            # predicting at the training inputs is legitimate; GPyTorch warns about it
            warnings.simplefilter("ignore", gpytorch.utils.warnings.GPInputWarning)
            for rows in Xt.split(_PREDICT_BATCH):
                latent = model(rows)
                means.append(latent.mean)
                variances.append(latent.variance)
        # rows are the last axis, except for the (n, C) output of a multitask SVGP
        dim = 0 if means[0].dim() == 2 and not self._latent_rows_last() else -1
        return torch.cat(means, dim=dim), torch.cat(variances, dim=dim).clamp_min(0.0)

    def _latent_rows_last(self) -> bool:
        return True


class GPRegressor(UQRegressorMixin, _GPBase):
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
    deep_kernel : tuple of int, optional
        Deep kernel learning (Wilson et al., AISTATS 2016): an MLP with these hidden widths and
        output dimension maps the inputs before the kernel; trained jointly (Adam).
    max_iter : int, default=200
        Optimiser iterations of the exact GP (L-BFGS; Adam with a deep kernel).
    n_epochs : int, default=50
        Passes over the data of the SVGP.
    batch_size : int, default=1024
        Mini-batch size of the SVGP.
    lr : float, default=0.01
        Adam learning rate (SVGP hyperparameters, deep kernels).
    dtype : {"float64", "float32"}, default="float64"
    random_state : int, RandomState, Generator or None, default=None
        Seeds the inducing-input subset and the mini-batch order (local generators only).
    device : str, default="auto"
    verbose : int, default=0
        Print the final training loss when positive.

    Attributes
    ----------
    model_, likelihood_ : gpytorch modules
        The fitted GP and Gaussian likelihood (standardised units).
    method_ : str
        ``"exact"`` or ``"svgp"``.
    loss_curve_ : list of float
        Negative log marginal likelihood per L-BFGS evaluation (exact) or negative ELBO per
        epoch (SVGP), per training row, standardised units.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-3, 3, size=(40, 1))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=40)
    >>> gp = GPRegressor(max_iter=50, random_state=0).fit(X, y)
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
        "deep_kernel": [None, tuple, list],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_epochs": [Interval(Integral, 0, None, closed="left")],
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
        deep_kernel: Sequence[int] | None = None,
        max_iter: int = 200,
        n_epochs: int = 50,
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
        self.deep_kernel = deep_kernel
        self.max_iter = max_iter
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.dtype = dtype
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X, y, *, X_val=None, y_val=None) -> GPRegressor:
        """Fit the GP hyperparameters (and ``q(u)`` for the SVGP) on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        X_val, y_val : array-like, optional
            Scored after fitting into ``validation_scores_`` (no early stopping: the marginal
            likelihood / ELBO is the model-selection criterion).

        Returns
        -------
        self : GPRegressor
        """
        self._setup()
        X, y = self._check_X_y(X, y, regression=True)
        if y.ndim == 2:
            if y.shape[1] != 1:
                raise InvalidInputError(
                    "GPRegressor models one target; fit one GPRegressor per column of y "
                    f"(got y with {y.shape[1]} columns)."
                )
            y = y[:, 0]
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=True)
        x_scaler = Standardizer.fit(X)
        y_scaler = Standardizer.fit(y[:, None])
        self.x_mean_, self.x_scale_ = x_scaler.mean, x_scaler.scale
        self.y_mean_, self.y_scale_ = float(y_scaler.mean[0]), float(y_scaler.scale[0])
        Xs = x_scaler.transform(X)
        ys = (y - self.y_mean_) / self.y_scale_
        n = len(X)
        exact = self.method == "exact" or (self.method == "auto" and n <= self.max_exact_samples)
        self.method_ = "exact" if exact else "svgp"
        with forked_rng(derive_seed(self.random_state_, 0), self.device_), _gp_settings():
            if exact:
                self.X_train_, self.y_train_ = Xs, ys
                self.model_ = self._build_module("model_")
                self._init(self.model_, self.likelihood_, Xs.shape[1])
                Xt, yt = self._tensor(Xs), self._tensor(ys)
                self.loss_curve_ = self._train_exact(
                    self.model_, self.likelihood_, lambda m: _exact_loss(m, m.likelihood, Xt, yt)
                )
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
                if self.n_epochs > 0:
                    # start the mini-batch phase from the optimal q(u) for the initial
                    # hyperparameters, not from the prior (which would first push them off,
                    # towards a large noise that explains the poor q(u))
                    self._optimal_q(self.model_, self.likelihood_, Xt, yt)
                self.loss_curve_ = self._train_svgp(
                    self.model_, self.likelihood_, Xt, yt, self.n_epochs, natural=True
                )
                self._optimal_q(self.model_, self.likelihood_, Xt, yt)
        self.model_.eval()
        self.likelihood_.eval()
        if self.verbose and self.loss_curve_:
            print(f"GPRegressor ({self.method_}): final loss {self.loss_curve_[-1]:.4f}")
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
        self._train_exact(exact, likelihood, lambda m: _exact_loss(m, likelihood, Xt, yt))
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
            deep_kernel=_check_sizes(self.deep_kernel, "deep_kernel"),
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
                deep_kernel=_check_sizes(self.deep_kernel, "deep_kernel"),
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
        >>> gp = GPRegressor(max_iter=20).fit(X, 3 * X[:, 0])
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


class GPClassifier(UQClassifierMixin, ClassificationTargets, _GPBase):
    """Gaussian-process classification on GPyTorch: variational or Dirichlet-based.

    ``method="variational"``: a sparse variational GP (Hensman, Matthews & Ghahramani, AISTATS
    2015, Sec. 4) with a Bernoulli (probit) likelihood for two classes, or ``C`` independent GPs
    with a softmax likelihood for ``C > 2``; trained on the mini-batch ELBO with Adam.

    ``method="dirichlet"``: the Dirichlet-based GP classifier of Milios et al. (NeurIPS 2018),
    Sec. 4: labels become Dirichlet pseudo-counts ``alpha = alpha_epsilon + onehot``, whose
    log-Gamma moments are matched by Gaussians (Eq. 7-8), so that ``C`` exact GP regressions with
    per-point heteroscedastic noise replace the non-conjugate likelihood. Exact, so for small data.

    Both predict by drawing ``n_samples`` latent vectors ``f`` from the posterior marginals and
    mapping them to class probabilities (probit / softmax; for the Dirichlet GP ``exp(f)``
    normalised, Milios et al. Eq. 10). The draws are the member axis of the returned
    :class:`ClassificationPrediction`: ``epistemic`` is the mutual information.

    Parameters
    ----------
    method : {"variational", "dirichlet"}, default="variational"
    kernel : {"rbf", "matern12", "matern32", "matern52"}, default="rbf"
    ard : bool, default=True
    n_inducing : int, default=200
        Inducing inputs of the variational GP (the training inputs when N is smaller).
    learn_inducing : bool, default=True
    deep_kernel : tuple of int, optional
        MLP feature extractor before the kernel (Wilson et al., AISTATS 2016).
    n_epochs : int, default=200
        Passes over the data (variational).
    batch_size : int, default=256
    lr : float, default=0.05
        Adam learning rate (variational, and the Dirichlet GP with a deep kernel).
    max_iter : int, default=200
        Optimiser iterations of the Dirichlet GP (L-BFGS; Adam with a deep kernel).
    alpha_epsilon : float, default=0.01
        Pseudo-count of the absent classes of the Dirichlet GP.
    n_samples : int, default=256
        Posterior draws of ``f`` per prediction.
    dtype : {"float64", "float32"}, default="float64"
    random_state : int, RandomState, Generator or None, default=None
    device : str, default="auto"
    verbose : int, default=0

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = GPClassifier(method="dirichlet", max_iter=30, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"variational", "dirichlet"})],
        "kernel": [StrOptions(set(KERNELS))],
        "ard": ["boolean"],
        "n_inducing": [Interval(Integral, 1, None, closed="left")],
        "learn_inducing": ["boolean"],
        "deep_kernel": [None, tuple, list],
        "n_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "alpha_epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "device": [str],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        method: str = "variational",
        kernel: str = "rbf",
        ard: bool = True,
        n_inducing: int = 200,
        learn_inducing: bool = True,
        deep_kernel: Sequence[int] | None = None,
        n_epochs: int = 200,
        batch_size: int = 256,
        lr: float = 0.05,
        max_iter: int = 200,
        alpha_epsilon: float = 0.01,
        n_samples: int = 256,
        dtype: str = "float64",
        random_state=None,
        device: str = "auto",
        verbose: int = 0,
    ) -> None:
        self.method = method
        self.kernel = kernel
        self.ard = ard
        self.n_inducing = n_inducing
        self.learn_inducing = learn_inducing
        self.deep_kernel = deep_kernel
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_iter = max_iter
        self.alpha_epsilon = alpha_epsilon
        self.n_samples = n_samples
        self.dtype = dtype
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X, y, *, X_val=None, y_val=None) -> GPClassifier:
        """Fit the classifier on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct values).
        X_val, y_val : array-like, optional
            Scored after fitting into ``validation_scores_``.

        Returns
        -------
        self : GPClassifier
        """
        self._setup()
        X, y = self._check_X_y(X, y, regression=False)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=False)
        y_index = self._encode_targets(y)  # sets classes_; refuses one class or continuous y
        scaler = Standardizer.fit(X)
        self.x_mean_, self.x_scale_ = scaler.mean, scaler.scale
        Xs = scaler.transform(X)
        n_dims = self._deep[-1] if self._deep else Xs.shape[1]
        with forked_rng(derive_seed(self.random_state_, 0), self.device_), _gp_settings():
            if self.method == "dirichlet":
                self.X_train_, self.y_train_ = Xs, y_index.astype(np.int64)
                self.model_ = self._build_module("model_")
                init_hyperparameters(self.model_, n_dims, lengthscale=math.sqrt(n_dims))
                mll = gpytorch.mlls.ExactMarginalLogLikelihood(self.likelihood_, self.model_)
                Xt = self._tensor(Xs)
                targets = self.likelihood_.transformed_targets
                self.loss_curve_ = self._train_exact(
                    self.model_, self.likelihood_, lambda m: -mll(m(Xt), targets).sum()
                )
            else:
                self.n_inducing_ = min(self.n_inducing, len(Xs))
                inducing = self._inducing_init(
                    Xs, self.n_inducing_, derive_seed(self.random_state_, 1)
                )
                self.model_ = self._build_variational(inducing)
                init_hyperparameters(self.model_, n_dims, lengthscale=math.sqrt(n_dims))
                labels = torch.as_tensor(y_index, device=self.device_)
                if len(self.classes_) == 2:
                    labels = labels.to(resolve_dtype(self.dtype))
                self.loss_curve_ = self._train_svgp(
                    self.model_,
                    self.likelihood_,
                    self._tensor(Xs),
                    labels,
                    self.n_epochs,
                    natural=False,
                )
        self.model_.eval()
        self.likelihood_.eval()
        if X_val is not None:
            self.validation_scores_ = self.evaluate(X_val, y_val)
        return self

    # -- modules ------------------------------------------------------------------------------
    def _build_variational(self, inducing: torch.Tensor) -> SVGPModel:
        n_classes = len(self.classes_)
        if n_classes == 2:
            likelihood = gpytorch.likelihoods.BernoulliLikelihood()
        else:
            likelihood = gpytorch.likelihoods.SoftmaxLikelihood(
                num_classes=n_classes, mixing_weights=False
            )
        model = SVGPModel(
            inducing,
            likelihood=likelihood,
            kernel=self.kernel,
            mean="constant",
            ard=self.ard,
            learn_inducing=self.learn_inducing,
            deep_kernel=_check_sizes(self.deep_kernel, "deep_kernel"),
            n_latents=1 if n_classes == 2 else n_classes,
            natural=False,
        )
        return model.to(device=self.device_, dtype=resolve_dtype(self.dtype))

    def _build_module(self, name: str) -> torch.nn.Module:
        if name != "model_":
            return super()._build_module(name)
        dtype = resolve_dtype(self.dtype)
        if self.method == "dirichlet":
            likelihood = gpytorch.likelihoods.DirichletClassificationLikelihood(
                torch.as_tensor(self.y_train_, device=self.device_),
                alpha_epsilon=self.alpha_epsilon,
                learn_additional_noise=True,
                dtype=dtype,
            ).to(device=self.device_, dtype=dtype)
            model = ExactGPModel(
                self._tensor(self.X_train_),
                likelihood.transformed_targets,
                likelihood,
                kernel=self.kernel,
                mean="constant",
                ard=self.ard,
                deep_kernel=_check_sizes(self.deep_kernel, "deep_kernel"),
                batch_shape=torch.Size([len(self.classes_)]),
            )
            return model.to(device=self.device_, dtype=dtype)
        placeholder = torch.zeros(self.n_inducing_, self.n_features_in_, dtype=dtype)
        return self._build_variational(placeholder.to(self.device_))

    def _latent_rows_last(self) -> bool:
        # The Dirichlet GP is a batch (C, n) of GPs; the multitask SVGP returns (n, C).
        return self.method == "dirichlet"

    # -- predict ------------------------------------------------------------------------------
    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Class probabilities from ``n_samples`` posterior draws of the latent GP(s).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ClassificationPrediction
            ``member_probs`` of shape ``(n_samples_draws, n, C)``; ``epistemic`` is the mutual
            information between the label and ``f``.
        """
        check_fitted(self, "model_")
        X = self._check_X(X, reset=False)
        mean, variance = self._latent_moments(X)
        if self.method == "dirichlet":
            mean, variance = mean.T, variance.T  # (n, C)
        mean = mean.detach().cpu().double()
        std = variance.detach().cpu().double().sqrt()
        generator = torch.Generator().manual_seed(derive_seed(self.random_state_, 3))
        noise = torch.randn((self.n_samples, *mean.shape), generator=generator, dtype=mean.dtype)
        draws = mean + std * noise
        if self.method == "variational" and len(self.classes_) == 2:
            positive = torch.distributions.Normal(0.0, 1.0).cdf(draws)  # probit link
            member_probs = torch.stack([1.0 - positive, positive], dim=-1)
        else:
            member_probs = torch.softmax(draws, dim=-1)
        return ClassificationPrediction.from_members(member_probs.numpy(), classes=self.classes_)
