"""Bayesian MLPs on Pyro: :class:`BayesianMLPRegressor` and :class:`BayesianMLPClassifier`.

The network's weights get Gaussian priors and a variational posterior ``q(w)`` fitted by
stochastic variational inference (Blundell et al., "Weight Uncertainty in Neural Networks", ICML
2015, Eq. 1-2; Hoffman et al., JMLR 2013): maximise

.. math::

    \\mathrm{ELBO}(q) = \\frac{N}{|B|}\\sum_{i \\in B} \\mathbb E_q \\log p(y_i \\mid x_i, w)
                        - \\mathrm{KL}(q(w)\\,\\|\\,p(w))

on mini-batches ``B``: the factor ``N/|B|`` is the plate's subsample scaling, which keeps the
estimator unbiased for the full-data ELBO (Pyro's ``Trace_ELBO``, one reparameterised sample).
Guides: Pyro's ``AutoNormal`` (mean field, Blundell et al. Eq. 3) or
``AutoLowRankMultivariateNormal`` (a rank-``r`` plus diagonal covariance across all weights).

Prediction draws ``S`` weight samples with ``pyro.infer.Predictive``; the predictive is the
equal-weight mixture of the ``S`` Gaussians, so **epistemic = variance of the sampled means** and
**aleatoric = mean of the sampled noise variances** (law of total variance; Kendall & Gal,
NeurIPS 2017, Eq. 9).

Randomness and state: Pyro draws from torch's global generator and keeps parameters in a global
store. Every ``fit``/``predict`` runs inside :func:`uqkit.bayes._context.isolated`: the global RNG
is forked (the caller's stream is restored) and seeded from ``random_state``, and Pyro's
parameter store is swapped for an empty private one. The parameters live in the estimator's own
modules, so two estimators never share them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal, init_to_sample
from pyro.nn import PyroModule, PyroParam, PyroSample
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from uqkit._data import Standardizer, resolve_device
from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQEstimator, UQRegressorMixin, check_fitted
from uqkit.bayes._context import isolated
from uqkit.exceptions import DivergenceError, InvalidInputError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.training import ClassificationTargets

__all__ = ["BayesianMLP", "BayesianMLPClassifier", "BayesianMLPRegressor"]

_MIN_VARIANCE = 1e-6  # floor of the heteroscedastic variance head (standardised units)
_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


class BayesianMLP(PyroModule):
    """An MLP whose weights and biases are ``PyroSample`` latent variables with Gaussian priors.

    Priors: ``W_l ~ N(0, prior_scale^2 / fan_in)`` elementwise and ``b_l ~ N(0, prior_scale^2)``.
    The ``1/fan_in`` factor keeps the prior over functions of a wide layer finite (Neal, *Bayesian
    Learning for Neural Networks*, 1996, Sec. 2.2), so one ``prior_scale`` suits every width.

    Parameters
    ----------
    n_inputs : int
    hidden_layer_sizes : sequence of int
    n_outputs : int
        Targets (regression) or classes (classification).
    likelihood : {"homoscedastic", "heteroscedastic", "categorical"}
        Gaussian with one learned noise scale per output (a point estimate, ``PyroParam``),
        Gaussian with a variance head (the network outputs ``2 * n_outputs`` values), or
        categorical on ``n_outputs`` logits.
    activation : {"relu", "tanh"}
    prior_scale : float
    device : torch.device

    Examples
    --------
    >>> net = BayesianMLP(3, (8,), 1, likelihood="homoscedastic")
    >>> with pyro.get_param_store().scope():
    ...     trace = pyro.poutine.trace(net).get_trace(torch.zeros(5, 3))
    >>> trace.nodes["mean"]["value"].shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_layer_sizes: Sequence[int],
        n_outputs: int,
        *,
        likelihood: str,
        activation: str = "relu",
        prior_scale: float = 1.0,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        device = torch.device(device)
        self.likelihood = likelihood
        self.n_outputs = n_outputs
        self.activation = _ACTIVATIONS[activation]
        n_head = 2 * n_outputs if likelihood == "heteroscedastic" else n_outputs
        widths = [n_inputs, *hidden_layer_sizes, n_head]
        layers = []
        zero = torch.zeros((), device=device)
        for fan_in, fan_out in itertools.pairwise(widths):
            layer = PyroModule[nn.Linear](fan_in, fan_out)
            weight_scale = torch.tensor(prior_scale / math.sqrt(fan_in), device=device)
            bias_scale = torch.tensor(float(prior_scale), device=device)
            layer.weight = PyroSample(
                dist.Normal(zero, weight_scale).expand([fan_out, fan_in]).to_event(2)
            )
            layer.bias = PyroSample(dist.Normal(zero, bias_scale).expand([fan_out]).to_event(1))
            layers.append(layer)
        self.layers = PyroModule[nn.ModuleList](layers)
        if likelihood == "homoscedastic":
            self.noise_scale = PyroParam(
                torch.full((n_outputs,), 0.5, device=device), constraint=dist.constraints.positive
            )

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, n_total: int | None = None
    ) -> torch.Tensor:
        """Run the network and observe ``y`` in a data plate of size ``n_total``.

        ``x`` is a mini-batch of ``n_total`` rows; the plate's subsample scaling multiplies its
        log-likelihood by ``n_total / len(x)``.
        """
        h = x
        for layer in self.layers[:-1]:
            h = self.activation(layer(h))
        out = self.layers[-1](h)
        size = x.shape[0] if n_total is None else int(n_total)
        subsample = torch.arange(x.shape[0], device=x.device)
        if self.likelihood == "categorical":
            pyro.deterministic("logits", out, event_dim=2)
            with pyro.plate("data", size=size, subsample=subsample):
                pyro.sample("obs", dist.Categorical(logits=out), obs=y)
            return out
        if self.likelihood == "heteroscedastic":
            mean = out[..., : self.n_outputs]
            variance = nn.functional.softplus(out[..., self.n_outputs :]) + _MIN_VARIANCE
        else:
            mean = out
            variance = (self.noise_scale**2).expand_as(mean)
        pyro.deterministic("mean", mean, event_dim=2)
        pyro.deterministic("variance", variance, event_dim=2)
        with pyro.plate("data", size=size, subsample=subsample):
            pyro.sample("obs", dist.Normal(mean, variance.sqrt()).to_event(1), obs=y)
        return mean


class _Posterior(nn.Module):
    """The model and its guide in one module, so that both are saved and restored together."""

    def __init__(self, model: BayesianMLP, guide: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.guide = guide


def _check_hidden(sizes) -> tuple[int, ...]:
    sizes = tuple(sizes) if isinstance(sizes, (list, tuple)) else (sizes,)
    if not all(isinstance(s, Integral) and s > 0 for s in sizes):
        raise InvalidInputError(
            f"hidden_layer_sizes must be a tuple of positive ints, e.g. (50,); got {sizes!r}."
        )
    return tuple(int(s) for s in sizes)


class _BayesianMLPBase(UQEstimator):
    """Shared SVI training, guide construction, prediction sampling and save/load."""

    _common_constraints: dict = {
        "hidden_layer_sizes": [tuple, list, Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "prior_scale": [Interval(Real, 0, None, closed="neither")],
        "guide": [StrOptions({"normal", "lowrank"})],
        "guide_rank": [None, Interval(Integral, 1, None, closed="left")],
        "init_scale": [Interval(Real, 0, None, closed="neither")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str],
        "verbose": ["verbose"],
    }

    # -- modules ---------------------------------------------------------------------------
    def _make_guide(self, model: BayesianMLP) -> nn.Module:
        if self.guide == "normal":
            return AutoNormal(model, init_loc_fn=init_to_sample, init_scale=self.init_scale)
        return AutoLowRankMultivariateNormal(
            model, init_loc_fn=init_to_sample, init_scale=self.init_scale, rank=self.guide_rank
        )

    def _build_module(self, name: str) -> nn.Module:
        if name != "posterior_":
            return super()._build_module(name)
        return self._new_posterior(0)

    def _new_posterior(self, seed: int) -> _Posterior:
        """Model and guide with initialised guide parameters (a prior draw seeded by ``seed``)."""
        x = torch.zeros(1, self.n_features_in_, device=self.device_)
        if self._likelihood_name() == "categorical":
            y = torch.zeros(1, dtype=torch.long, device=self.device_)
        else:
            y = torch.zeros(1, self.n_outputs_, device=self.device_)
        # nn.Linear initialises (unused) weights from the global RNG, and auto guides create
        # their parameters on their first call from a trace of the model in which "obs" must be
        # observed: build and call them once on a dummy row, inside the isolated context.
        with isolated(seed, self.device_, pyro_store=True):
            model = BayesianMLP(
                self.n_features_in_,
                _check_hidden(self.hidden_layer_sizes),
                self.n_outputs_,
                likelihood=self._likelihood_name(),
                activation=self.activation,
                prior_scale=self.prior_scale,
                device=self.device_,
            )
            guide = self._make_guide(model)
            guide(x, y, 1)
        return _Posterior(model, guide)

    def _likelihood_name(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- training ---------------------------------------------------------------------------
    def _svi(self, X: torch.Tensor, Y: torch.Tensor) -> None:
        n = X.shape[0]
        self.posterior_ = self._new_posterior(derive_seed(self.random_state_, 3))
        model, guide = self.posterior_.model, self.posterior_.guide
        generator = torch.Generator().manual_seed(derive_seed(self.random_state_, 2))
        self.loss_curve_ = []
        with isolated(derive_seed(self.random_state_, 0), self.device_, pyro_store=True):
            svi = SVI(model, guide, pyro.optim.Adam({"lr": self.lr}), loss=Trace_ELBO())
            iterator = range(self.n_epochs)
            if self.verbose:
                from tqdm.auto import tqdm

                iterator = tqdm(iterator, desc=type(self).__name__)
            for epoch in iterator:
                total = 0.0
                for index in torch.randperm(n, generator=generator).split(self.batch_size):
                    index = index.to(self.device_)
                    total += svi.step(X[index], Y[index], n)
                # each step estimates the full-data negative ELBO; average, per training row
                value = total / math.ceil(n / self.batch_size) / n
                if not math.isfinite(value):
                    raise DivergenceError(
                        f"{type(self).__name__}: the ELBO became {value} in epoch {epoch}. "
                        "Lower lr, or init_scale, or prior_scale."
                    )
                self.loss_curve_.append(value)

    # -- prediction ---------------------------------------------------------------------------
    def _sample_sites(self, X: np.ndarray, sites: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """``n_samples`` posterior draws of the deterministic ``sites`` at ``X`` (Predictive)."""
        Xt = torch.as_tensor(
            Standardizer(self.x_mean_, self.x_scale_).transform(X),
            dtype=torch.float32,
            device=self.device_,
        )
        model, guide = self.posterior_.model, self.posterior_.guide
        with (
            isolated(derive_seed(self.random_state_, 1), self.device_, pyro_store=True),
            torch.no_grad(),
        ):
            predictive = Predictive(
                model, guide=guide, num_samples=self.n_samples, return_sites=sites
            )
            samples = predictive(Xt)
        # (n_samples, n, k): drop the singleton plate dimension Predictive may add
        return {
            k: v.detach().cpu().double().reshape(self.n_samples, *v.shape[-2:])
            for k, v in samples.items()
        }

    def _prepare_fit(self, X, y, regression: bool):
        self._check_params()
        _check_hidden(self.hidden_layer_sizes)
        self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        X, y = self._check_X_y(X, y, regression=regression)
        scaler = Standardizer.fit(X)
        self.x_mean_, self.x_scale_ = scaler.mean, scaler.scale
        Xt = torch.as_tensor(scaler.transform(X), dtype=torch.float32, device=self.device_)
        return X, y, Xt


_SHARED_PARAMETERS_DOC = """
    hidden_layer_sizes : tuple of int, default=(50,)
        Widths of the hidden layers.
    activation : {"relu", "tanh"}, default="relu"
    prior_scale : float, default=1.0
        Prior ``W ~ N(0, prior_scale^2 / fan_in)``, ``b ~ N(0, prior_scale^2)``.
    guide : {"normal", "lowrank"}, default="normal"
        ``AutoNormal`` (mean field) or ``AutoLowRankMultivariateNormal``.
    guide_rank : int, optional
        Rank of the low-rank guide (Pyro's default ``sqrt(n_weights)`` when None).
    init_scale : float, default=0.01
        Initial posterior standard deviation of every weight (means start at a prior draw).
    n_epochs : int, default=200
    batch_size : int, default=128
    lr : float, default=0.01
        Adam learning rate of the guide (and noise) parameters.
    n_samples : int, default=100
        Posterior weight samples drawn by ``Predictive`` per prediction.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the forked torch RNG inside fit and predict, and the mini-batch order.
    device : str, default="auto"
    verbose : int, default=0
        Show a progress bar when positive.
"""


class BayesianMLPRegressor(UQRegressorMixin, _BayesianMLPBase):
    __doc__ = (
        """Bayesian MLP regression trained by SVI on Pyro (Blundell et al., ICML 2015).

    The predictive is the mixture of the ``n_samples`` Gaussians ``N(mu_s(x), sigma_s^2(x))``
    given by posterior weight draws ``w_s ~ q``: ``epistemic = Var_s mu_s(x)`` and
    ``aleatoric = E_s sigma_s^2(x)`` (Kendall & Gal, NeurIPS 2017, Eq. 9). ``sigma^2`` is a
    learned constant per output (``noise="homoscedastic"``) or a second head of the network
    (``noise="heteroscedastic"``, Kendall & Gal Eq. 8).

    Parameters
    ----------
    noise : {"homoscedastic", "heteroscedastic"}, default="homoscedastic"
"""
        + _SHARED_PARAMETERS_DOC
        + """
    Attributes
    ----------
    posterior_ : torch.nn.Module
        ``posterior_.model`` (the :class:`BayesianMLP`) and ``posterior_.guide``.
    loss_curve_ : list of float
        Negative ELBO per training row, per epoch (standardised units).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(64, 1))
    >>> y = X[:, 0] + 0.1 * rng.normal(size=64)
    >>> bnn = BayesianMLPRegressor(hidden_layer_sizes=(16,), n_epochs=20, random_state=0)
    >>> pred = bnn.fit(X, y).predict_uncertainty(X[:3])
    >>> pred.distribution, pred.n_members
    ('mixture', 100)
    """
    )

    _parameter_constraints: dict = {
        "noise": [StrOptions({"homoscedastic", "heteroscedastic"})],
        **_BayesianMLPBase._common_constraints,
    }

    def __init__(
        self,
        *,
        noise: str = "homoscedastic",
        hidden_layer_sizes: Sequence[int] = (50,),
        activation: str = "relu",
        prior_scale: float = 1.0,
        guide: str = "normal",
        guide_rank: int | None = None,
        init_scale: float = 0.01,
        n_epochs: int = 200,
        batch_size: int = 128,
        lr: float = 0.01,
        n_samples: int = 100,
        random_state=None,
        device: str = "auto",
        verbose: int = 0,
    ) -> None:
        self.noise = noise
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.prior_scale = prior_scale
        self.guide = guide
        self.guide_rank = guide_rank
        self.init_scale = init_scale
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_samples = n_samples
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _likelihood_name(self) -> str:
        return self.noise

    def fit(self, X, y, *, X_val=None, y_val=None) -> BayesianMLPRegressor:
        """Fit the variational posterior by SVI on standardised ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        X_val, y_val : array-like, optional
            Scored after fitting into ``validation_scores_``.

        Returns
        -------
        self : BayesianMLPRegressor
        """
        X, y, Xt = self._prepare_fit(X, y, regression=True)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=True)
        self.single_output_ = y.ndim == 1
        Y = y[:, None] if y.ndim == 1 else y
        self.n_outputs_ = Y.shape[1]
        scaler = Standardizer.fit(Y)
        self.y_mean_, self.y_scale_ = scaler.mean, scaler.scale
        Yt = torch.as_tensor(scaler.transform(Y), dtype=torch.float32, device=self.device_)
        self._svi(Xt, Yt)
        if X_val is not None:
            self.validation_scores_ = self.evaluate(X_val, y_val)
        return self

    def predict_uncertainty(self, X) -> RegressionPrediction:
        """Mixture predictive over ``n_samples`` posterior weight draws, in the units of ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        RegressionPrediction
            ``distribution="mixture"`` with ``member_means``/``member_vars`` of shape
            ``(n_draws, n)`` (or ``(n_draws, n, n_targets)``).
        """
        check_fitted(self, "posterior_")
        X = self._check_X(X, reset=False)
        samples = self._sample_sites(X, ("mean", "variance"))
        means = samples["mean"].numpy()
        variances = samples["variance"].numpy()
        if self.single_output_:
            means, variances = means[..., 0], variances[..., 0]
            scale, shift = self.y_scale_[0], self.y_mean_[0]
        else:
            scale, shift = self.y_scale_, self.y_mean_
        return RegressionPrediction.mixture(means, variances).rescale(scale, shift)


class BayesianMLPClassifier(UQClassifierMixin, ClassificationTargets, _BayesianMLPBase):
    __doc__ = (
        """Bayesian MLP classification (categorical likelihood) trained by SVI on Pyro.

    Each of the ``n_samples`` posterior weight draws gives class probabilities
    ``softmax(f_s(x))``; the prediction averages them and keeps them as the member axis, so
    ``epistemic`` is the mutual information between the label and the weights (Depeweg et al.,
    ICML 2018, Eq. 4) and ``aleatoric`` the expected entropy.

    Parameters
    ----------
"""
        + _SHARED_PARAMETERS_DOC
        + """
    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = BayesianMLPClassifier(hidden_layer_sizes=(16,), n_epochs=30, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.8
    True
    """
    )

    _parameter_constraints: dict = dict(_BayesianMLPBase._common_constraints)

    def __init__(
        self,
        *,
        hidden_layer_sizes: Sequence[int] = (50,),
        activation: str = "relu",
        prior_scale: float = 1.0,
        guide: str = "normal",
        guide_rank: int | None = None,
        init_scale: float = 0.01,
        n_epochs: int = 200,
        batch_size: int = 128,
        lr: float = 0.01,
        n_samples: int = 100,
        random_state=None,
        device: str = "auto",
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.prior_scale = prior_scale
        self.guide = guide
        self.guide_rank = guide_rank
        self.init_scale = init_scale
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_samples = n_samples
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _likelihood_name(self) -> str:
        return "categorical"

    def fit(self, X, y, *, X_val=None, y_val=None) -> BayesianMLPClassifier:
        """Fit the variational posterior by SVI on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct values).
        X_val, y_val : array-like, optional
            Scored after fitting into ``validation_scores_``.

        Returns
        -------
        self : BayesianMLPClassifier
        """
        X, y, Xt = self._prepare_fit(X, y, regression=False)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=False)
        index = self._encode_targets(y)  # sets classes_; refuses one class or continuous y
        self.n_outputs_ = len(self.classes_)
        self._svi(Xt, torch.as_tensor(index, dtype=torch.long, device=self.device_))
        if X_val is not None:
            self.validation_scores_ = self.evaluate(X_val, y_val)
        return self

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Class probabilities averaged over ``n_samples`` posterior weight draws.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ClassificationPrediction
            With ``member_probs`` of shape ``(n_draws, n, n_classes)``.
        """
        check_fitted(self, "posterior_")
        X = self._check_X(X, reset=False)
        logits = self._sample_sites(X, ("logits",))["logits"]
        member_probs = torch.softmax(logits, dim=-1).numpy()
        return ClassificationPrediction.from_members(member_probs, classes=self.classes_)
