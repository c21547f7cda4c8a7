"""Bayesian MLP classification on Pyro: :class:`BayesianMLPClassifier`.

Each posterior weight draw gives class probabilities; their average is the prediction and the
draws are its member axis, so ``epistemic`` is the mutual information between the label and the
weights (Depeweg et al., ICML 2018, Eq. 4). Training is the SVI of :mod:`uqkit.bayes._bnn_base`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from uqkit._data import check_weighted_classes
from uqkit.base import UQClassifierMixin, check_fitted
from uqkit.bayes._bnn_base import SHARED_ATTRIBUTES_DOC, SHARED_PARAMETERS_DOC, BayesianMLPBase
from uqkit.prediction import ClassificationPrediction
from uqkit.training import ClassificationTargets

__all__ = ["BayesianMLPClassifier"]


class BayesianMLPClassifier(UQClassifierMixin, ClassificationTargets, BayesianMLPBase):
    __doc__ = (
        """Bayesian MLP classification (categorical likelihood) trained by SVI on Pyro.

    Each of the ``n_samples`` posterior weight draws gives class probabilities
    ``softmax(f_s(x))``; the prediction averages them and keeps them as the member axis, so
    ``epistemic`` is the mutual information between the label and the weights (Depeweg et al.,
    ICML 2018, Eq. 4) and ``aleatoric`` the expected entropy.

    Parameters
    ----------
"""
        + SHARED_PARAMETERS_DOC
        + SHARED_ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = BayesianMLPClassifier(hidden_layers=(16,), epochs=30, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.8
    True
    """
    )

    _parameter_constraints: dict = dict(BayesianMLPBase._common_constraints)

    def __init__(
        self,
        *,
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
        return "categorical"

    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None) -> BayesianMLPClassifier:
        """Fit the variational posterior by SVI on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct values).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights multiplying each row's log-likelihood in the ELBO
            (``pyro.poutine.scale``): an integer weight ``k`` is the row observed ``k`` times,
            so the weights are not normalised (doubling them all halves the prior's pull);
            weights of ones give exactly the unweighted fit.
        X_val, y_val : array-like, optional
            Scored after fitting into ``validation_scores_``.

        Returns
        -------
        self : BayesianMLPClassifier
        """
        X, y, Xt, weight = self._prepare_fit(X, y, False, sample_weight)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=False)
        index = self._encode_targets(y)  # sets classes_; refuses one class or continuous y
        check_weighted_classes(index, None if weight is None else weight.cpu().numpy(),
                               type(self).__name__)
        self.n_outputs_ = len(self.classes_)
        self._svi(Xt, torch.as_tensor(index, dtype=torch.long, device=self.device_), weight)
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
