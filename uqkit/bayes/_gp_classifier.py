"""Gaussian-process classification on GPyTorch: :class:`GPClassifier`.

Two methods: a sparse variational GP with a Bernoulli (probit) or softmax likelihood (Hensman,
Matthews & Ghahramani, AISTATS 2015, Sec. 4), and the Dirichlet-based GP classifier of Milios et
al. (NeurIPS 2018), which turns classification into ``C`` exact GP regressions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import gpytorch
import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import Standardizer, refuse_sample_weight, resolve_dtype
from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, check_fitted
from uqkit.bayes._context import forked_rng
from uqkit.bayes._gp_base import GPBase, check_sizes, gp_settings
from uqkit.bayes._gp_models import KERNELS, ExactGPModel, SVGPModel, init_hyperparameters
from uqkit.bayes._gp_training import train_exact, train_svgp
from uqkit.bayes._history import single_model_history
from uqkit.prediction import ClassificationPrediction
from uqkit.training import ClassificationTargets

__all__ = ["GPClassifier"]


class GPClassifier(UQClassifierMixin, ClassificationTargets, GPBase):
    """Gaussian-process classification on GPyTorch: variational or Dirichlet-based.

    ``method="variational"``: a sparse variational GP (Hensman, Matthews & Ghahramani, AISTATS
    2015, Sec. 4) with a Bernoulli (probit) likelihood for two classes, or ``C`` independent GPs
    with a softmax likelihood for ``C > 2``; trained on the mini-batch ELBO with Adam.

    ``method="dirichlet"``: the Dirichlet-based GP classifier of Milios et al. (NeurIPS 2018),
    Sec. 4: labels become Dirichlet pseudo-counts ``concentration_epsilon + onehot`` (their
    ``alpha_epsilon``), whose log-Gamma moments are matched by Gaussians (Eq. 7-8), so that ``C``
    exact GP regressions with per-point heteroscedastic noise replace the non-conjugate
    likelihood. Exact, so for small data.

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
    epochs : int, default=200
        The optimiser's budget for the method in use: passes over the data of the variational
        GP, or the maximum number of L-BFGS iterations of the Dirichlet GP (Adam steps with a
        deep kernel).
    batch_size : int, default=256
    lr : float, default=0.05
        Adam learning rate (variational, and the Dirichlet GP with a deep kernel).
    concentration_epsilon : float, default=0.01
        Dirichlet concentration (pseudo-count) of the absent classes of the Dirichlet GP
        (Milios et al.'s ``alpha_epsilon``).
    n_samples : int, default=256
        Posterior draws of ``f`` per prediction.
    dtype : {"float64", "float32"}, default="float64"
    random_state : int, RandomState, Generator or None, default=None
    device : str, default="auto"
    verbose : int, default=0
        Accepted for the shared interface; the classifier writes no progress (0 and 1 alike).

    Attributes
    ----------
    model_, likelihood_ : gpytorch modules
        The fitted GP(s) and likelihood.
    history_ : list of dict
        One entry (member 0): ``train_loss`` is the negative marginal log likelihood per
        objective evaluation (Dirichlet) or the negative ELBO per epoch (variational).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = GPClassifier(method="dirichlet", epochs=30, random_state=0).fit(X, y)
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
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "concentration_epsilon": [Interval(Real, 0, None, closed="neither")],
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
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 0.05,
        concentration_epsilon: float = 0.01,
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
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.concentration_epsilon = concentration_epsilon
        self.n_samples = n_samples
        self.dtype = dtype
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X, y, *, X_val=None, y_val=None, **fit_params) -> GPClassifier:
        """Fit the classifier on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct values).
        X_val, y_val : array-like, optional
            Scored after fitting into ``validation_scores_``.
        **fit_params
            ``sample_weight`` is not supported: passing it raises
            :class:`~uqkit.exceptions.InvalidInputError` (repeat rows instead, or use an
            estimator that takes weights, such as :class:`~uqkit.bayes.BayesianMLPClassifier`).

        Returns
        -------
        self : GPClassifier
        """
        refuse_sample_weight(
            fit_params, "GPClassifier",
            "its Dirichlet-GP labels and variational ELBO have no standard row weighting. "
            "Repeat rows to weight them, or use BayesianMLPClassifier or "
            "DeepEnsembleClassifier, which take sample_weight.",
        )
        self._setup()
        X, y = self._check_X_y(X, y, regression=False)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=False)
        y_index = self._encode_targets(y)  # sets classes_; refuses one class or continuous y
        scaler = Standardizer.fit(X)
        self.x_mean_, self.x_scale_ = scaler.mean, scaler.scale
        Xs = scaler.transform(X)
        n_dims = self._deep[-1] if self._deep else Xs.shape[1]
        with forked_rng(derive_seed(self.random_state_, 0), self.device_), gp_settings():
            if self.method == "dirichlet":
                self.X_train_, self.y_train_ = Xs, y_index.astype(np.int64)
                self.model_ = self._build_module("model_")
                init_hyperparameters(self.model_, n_dims, lengthscale=math.sqrt(n_dims))
                mll = gpytorch.mlls.ExactMarginalLogLikelihood(self.likelihood_, self.model_)
                Xt = self._tensor(Xs)
                targets = self.likelihood_.transformed_targets
                losses, best = train_exact(
                    self.model_,
                    lambda m: -mll(m(Xt), targets).sum(),
                    epochs=self.epochs,
                    adam_lr=self._adam_lr(),
                    name=type(self).__name__,
                )
                self.history_ = single_model_history(losses, best)
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
                losses = train_svgp(
                    self.model_,
                    self._tensor(Xs),
                    labels,
                    epochs=self.epochs,
                    lr=self.lr,
                    batch_size=self.batch_size,
                    seed=derive_seed(self.random_state_, 2),
                    natural=False,
                    name=type(self).__name__,
                )
                self.history_ = single_model_history(losses)
        self.model_.eval()
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
            deep_kernel=check_sizes(self.deep_kernel, "deep_kernel"),
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
                alpha_epsilon=self.concentration_epsilon,
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
                deep_kernel=check_sizes(self.deep_kernel, "deep_kernel"),
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
