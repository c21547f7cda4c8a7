"""Bayesian MLP regression on Pyro: :class:`BayesianMLPRegressor`.

The predictive is the equal-weight mixture of the ``S`` Gaussians given by posterior weight
draws, so **epistemic = variance of the sampled means** and **aleatoric = mean of the sampled
noise variances** (law of total variance; Kendall & Gal, NeurIPS 2017, Eq. 9). Training is the
SVI of :mod:`uqkit.bayes._bnn_base`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sklearn.utils._param_validation import StrOptions

from uqkit._data import Standardizer
from uqkit.base import UQRegressorMixin, check_fitted
from uqkit.bayes._bnn_base import SHARED_ATTRIBUTES_DOC, SHARED_PARAMETERS_DOC, BayesianMLPBase
from uqkit.prediction import RegressionPrediction
from uqkit.training import check_target_scale

__all__ = ["BayesianMLPRegressor"]


class BayesianMLPRegressor(UQRegressorMixin, BayesianMLPBase):
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
        + SHARED_PARAMETERS_DOC
        + SHARED_ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(64, 1))
    >>> y = X[:, 0] + 0.1 * rng.normal(size=64)
    >>> bnn = BayesianMLPRegressor(hidden_layers=(16,), epochs=20, random_state=0)
    >>> pred = bnn.fit(X, y).predict_uncertainty(X[:3])
    >>> pred.distribution, pred.n_members
    ('mixture', 100)
    """
    )

    _parameter_constraints: dict = {
        "noise": [StrOptions({"homoscedastic", "heteroscedastic"})],
        **BayesianMLPBase._common_constraints,
    }

    def __init__(
        self,
        *,
        noise: str = "homoscedastic",
        hidden_layers: Sequence[int] = (50,),
        activation: str = "relu",
        prior_scale: float = 1.0,
        guide: str = "normal",
        guide_rank: int | None = None,
        init_scale: float = 0.01,
        epochs: int = 200,
        batch_size: int = 128,
        lr: float = 0.01,
        n_samples: int = 100,
        random_state=None,
        device: str = "auto",
        verbose: int = 0,
    ) -> None:
        self.noise = noise
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.prior_scale = prior_scale
        self.guide = guide
        self.guide_rank = guide_rank
        self.init_scale = init_scale
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_samples = n_samples
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _likelihood_name(self) -> str:
        return self.noise

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, k) gives k outputs
        return tags

    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None) -> BayesianMLPRegressor:
        """Fit the variational posterior by SVI on standardised ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights multiplying each row's log-likelihood in the ELBO
            (``pyro.poutine.scale``): an integer weight ``k`` is the row observed ``k`` times,
            so the weights are not normalised (doubling them all halves the prior's pull);
            weights of ones give exactly the unweighted fit.
        X_val, y_val : array-like, optional
            Scored after fitting into ``validation_scores_``.

        Returns
        -------
        self : BayesianMLPRegressor
        """
        X, y, Xt, weight = self._prepare_fit(X, y, True, sample_weight)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=True)
        self.single_output_ = y.ndim == 1
        Y = y[:, None] if y.ndim == 1 else y
        self.n_outputs_ = Y.shape[1]
        scaler = Standardizer.fit(Y)
        check_target_scale(scaler.scale)
        self.y_mean_, self.y_scale_ = scaler.mean, scaler.scale
        Yt = torch.as_tensor(scaler.transform(Y), dtype=torch.float32, device=self.device_)
        self._svi(Xt, Yt, weight)
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
