"""What the Bayesian MLP estimators share: guides, SVI training, posterior sampling.

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

Prediction draws ``S`` weight samples with ``pyro.infer.Predictive``.

Randomness and state: Pyro draws from torch's global generator and keeps parameters in a global
store. Every ``fit``/``predict`` runs inside :func:`uqkit.bayes._context.isolated`: the global RNG
is forked (the caller's stream is restored) and seeded from ``random_state``, and Pyro's
parameter store is swapped for an empty private one. The parameters live in the estimator's own
modules, so two estimators never share them.
"""

from __future__ import annotations

import itertools
import logging
import math
from numbers import Integral, Real

import numpy as np
import pyro
import torch
from pyro.infer import SVI, Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal, init_to_sample
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from uqkit._data import Standardizer, check_positive_ints, check_sample_weight, resolve_device
from uqkit._random import derive_seed
from uqkit.base import UQEstimator
from uqkit.bayes._bnn_model import ACTIVATIONS, BayesianMLP, Posterior
from uqkit.bayes._context import eval_mode, isolated
from uqkit.bayes._history import single_model_history
from uqkit.exceptions import DivergenceError
from uqkit.training import (
    Progress,
    check_finite_outputs,
    check_finite_parameters,
    check_representable,
)

__all__ = ["SHARED_ATTRIBUTES_DOC", "SHARED_PARAMETERS_DOC", "BayesianMLPBase", "check_hidden"]

logger = logging.getLogger(__name__)


def check_hidden(sizes) -> tuple[int, ...]:
    """``hidden_layers`` as a tuple of positive ints, or an error saying what is expected."""
    sizes = tuple(sizes) if isinstance(sizes, (list, tuple)) else (sizes,)
    # the shared check also refuses () (a silent linear model) and absurd widths
    return check_positive_ints(sizes, "hidden_layers")


class BayesianMLPBase(UQEstimator):
    """Shared SVI training, guide construction, prediction sampling and save/load."""

    _common_constraints: dict = {
        "hidden_layers": [tuple, list, Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "prior_scale": [Interval(Real, 0, None, closed="neither")],
        "guide": [StrOptions({"normal", "lowrank"})],
        "guide_rank": [None, Interval(Integral, 1, None, closed="left")],
        "init_scale": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
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

    def _declared_elements(self, name: str, stored: dict[str, torch.Tensor]) -> int | None:
        if name != "posterior_":
            return None
        # the guide stores at least one location per weight and bias of the declared network
        widths = [self.n_features_in_, *check_hidden(self.hidden_layers), self.n_outputs_]
        return sum((a + 1) * b for a, b in itertools.pairwise(widths))

    def _new_posterior(self, seed: int) -> Posterior:
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
                check_hidden(self.hidden_layers),
                self.n_outputs_,
                likelihood=self._likelihood_name(),
                activation=self.activation,
                prior_scale=self.prior_scale,
                device=self.device_,
            )
            guide = self._make_guide(model)
            guide(x, y, 1)
        return Posterior(model, guide)

    def _likelihood_name(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- training ---------------------------------------------------------------------------
    def _svi(self, X: torch.Tensor, Y: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        """Fit ``posterior_`` by SVI for ``epochs`` passes; record ``history_``.

        ``weight`` ``(n,)`` scales each row's log-likelihood (raw ``sample_weight``, not
        normalised: in a Bayesian model the total weight is the amount of data, and an integer
        weight ``k`` is the row observed ``k`` times)."""
        n = X.shape[0]
        self.posterior_ = self._new_posterior(derive_seed(self.random_state_, 3))
        model, guide = self.posterior_.model, self.posterior_.guide
        generator = torch.Generator().manual_seed(derive_seed(self.random_state_, 2))
        losses: list[float] = []
        with isolated(derive_seed(self.random_state_, 0), self.device_, pyro_store=True):
            svi = SVI(model, guide, pyro.optim.Adam({"lr": self.lr}), loss=Trace_ELBO())
            progress = Progress(self.epochs, type(self).__name__, verbose=self.verbose,
                                logger=logger, unit="epoch")
            with progress:
                for epoch in range(self.epochs):
                    total = 0.0
                    for index in torch.randperm(n, generator=generator).split(self.batch_size):
                        index = index.to(self.device_)
                        wb = None if weight is None else weight[index]
                        total += svi.step(X[index], Y[index], n, wb)
                    # each step estimates the full-data negative ELBO; average, per training row
                    value = total / math.ceil(n / self.batch_size) / n
                    if not math.isfinite(value):
                        raise DivergenceError(
                            f"{type(self).__name__}: the ELBO became {value} in epoch {epoch}. "
                            "Lower lr, or init_scale, or prior_scale."
                        )
                    losses.append(value)
                    progress.update(1)
                    progress.set_postfix(neg_elbo=f"{value:.4g}")
        self.history_ = single_model_history(losses)

    # -- prediction ---------------------------------------------------------------------------
    def _sample_sites(self, X: np.ndarray, sites: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """``n_samples`` posterior draws of the deterministic ``sites`` at ``X`` (Predictive)."""
        Xs = Standardizer(self.x_mean_, self.x_scale_).transform(X)
        check_representable(Xs, self.x_mean_, self.x_scale_, "float32", "X")
        Xt = torch.as_tensor(Xs, dtype=torch.float32, device=self.device_)
        check_finite_parameters(self.posterior_, type(self).__name__)
        model, guide = self.posterior_.model, self.posterior_.guide
        with (
            eval_mode(self.posterior_),
            isolated(derive_seed(self.random_state_, 1), self.device_, pyro_store=True),
            torch.no_grad(),
        ):
            predictive = Predictive(
                model, guide=guide, num_samples=self.n_samples, return_sites=sites
            )
            samples = predictive(Xt)
        # (n_samples, n, k): drop the singleton plate dimension Predictive may add
        draws = {
            k: v.detach().cpu().double().reshape(self.n_samples, *v.shape[-2:])
            for k, v in samples.items()
        }
        for values in draws.values():  # (draw, row, ...): a diverged posterior is no answer
            check_finite_outputs(values, type(self).__name__)
        return draws

    def _prepare_fit(self, X, y, regression: bool, sample_weight=None):
        """Validated ``X, y``, standardised features and the row weights (a tensor or None)."""
        self._check_params()
        check_hidden(self.hidden_layers)
        self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        X, y = self._check_X_y(X, y, regression=regression)
        weights = check_sample_weight(sample_weight, len(X), type(self).__name__)
        scaler = Standardizer.fit(X)
        self.x_mean_, self.x_scale_ = scaler.mean, scaler.scale
        Xt = torch.as_tensor(scaler.transform(X), dtype=torch.float32, device=self.device_)
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float32, device=self.device_)
        return X, y, Xt, weights


SHARED_PARAMETERS_DOC = """
    hidden_layers : tuple of int, default=(50,)
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
    epochs : int, default=200
        Passes over the training data (SVI steps per pass: ``ceil(n / batch_size)``).
    batch_size : int, default=128
    lr : float, default=0.01
        Adam learning rate of the guide (and noise) parameters.
    n_samples : int, default=100
        Posterior weight samples drawn by ``Predictive`` per prediction.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the forked torch RNG inside fit and predict, and the mini-batch order.
    device : str, default="auto"
    verbose : int, default=0
        0: nothing is written; 1: progress over the epochs (a bar on an interactive terminal,
        else at most one INFO line per tenth on the ``uqkit`` logger); 2: also each epoch's
        negative ELBO at DEBUG.
"""

SHARED_ATTRIBUTES_DOC = """
    Attributes
    ----------
    posterior_ : torch.nn.Module
        ``posterior_.model`` (the :class:`BayesianMLP`) and ``posterior_.guide``.
    history_ : list of dict
        One entry (member 0): ``train_loss`` is the negative ELBO per training row, per epoch
        (standardised units); ``val_loss`` is empty.
"""
