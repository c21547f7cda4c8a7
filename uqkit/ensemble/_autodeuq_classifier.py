"""AutoDEUQ for classification: the recipe of Egele et al. (ICPR 2022) with softmax members."""

from __future__ import annotations

import numpy as np

from uqkit.base import UQClassifierMixin
from uqkit.ensemble._autodeuq import BaseAutoDEUQ
from uqkit.ensemble._mixture import CategoricalMixtureMixin
from uqkit.ensemble._selection import member_label_log_likelihoods
from uqkit.prediction import ClassificationPrediction
from uqkit.training import ClassificationTargets

__all__ = ["AutoDEUQClassifier"]


class AutoDEUQClassifier(UQClassifierMixin, CategoricalMixtureMixin, ClassificationTargets,
                         BaseAutoDEUQ):
    """Automated deep ensemble for classification: the AutoDEUQ recipe with cross-entropy
    members and the weighted mixture of their categoricals, ``p = sum_i w_i p_i``.

    Parameters are those of :class:`AutoDEUQRegressor`; selection minimises the validation NLL
    ``-(1/n) sum_t log sum_i w_i p_i(y_t | x_t)``. ``selection_loss="moment_matched"`` gives
    the same selection: a categorical is fixed by its mean, so the moment-matched categorical
    of a mixture is the mixture itself (DeepHyper's code averages the probabilities too).
    ``space="deephyper"`` uses DeepHyper's ``dense_skipco`` trunk with its classification
    output (``DenseSkipCoSpace(regression=False)``: a dense layer to the class logits, softmax
    in the cross-entropy).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    members_, weights_, catalog_, member_configs_, selection_path_, history_, search_result_
        As for :class:`AutoDEUQRegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.ensemble import AutoDEUQClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
    >>> model = AutoDEUQClassifier(n_trials=3, ensemble_size=2, population_size=2,
    ...                            sample_size=2, space={"epochs": 5},
    ...                            random_state=0).fit(X, y)  # doctest: +SKIP
    >>> model.predict_proba(X[:2]).sum(1).round(6).tolist()  # doctest: +SKIP
    [1.0, 1.0]
    """

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _log_likelihoods(self, records: list[dict], y_val: np.ndarray) -> np.ndarray:
        probs = np.stack([r["predictions"]["val_probs"] for r in records])
        return member_label_log_likelihoods(probs, y_val)

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Weighted mixture of the members' categoricals.

        Returns
        -------
        ClassificationPrediction
            ``probs = sum_i w_i p_i``; ``member_probs`` (n_members, n, C) and the weights.
        """
        return self._mixture_prediction(self._member_outputs(X), self.weights_)
