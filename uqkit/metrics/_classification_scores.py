"""Proper scoring rules for classifiers: negative log-likelihood and the Brier score.

Every function takes a :class:`~uqkit.prediction.ClassificationPrediction` (labels are then looked
up among its ``classes``) or a probability matrix of shape (n, C) (labels are then integer column
indices ``0..C-1``), plus the true labels.
"""

from __future__ import annotations

import numpy as np

from uqkit.metrics._validation import as_classification

__all__ = ["brier_score", "classification_nll"]

_TINY = np.finfo(np.float64).tiny


def classification_nll(pred, y) -> float:
    """Mean negative log-likelihood (cross-entropy) :math:`-\\frac1n\\sum_i \\log p_{i,y_i}`.

    Probabilities of exactly zero are clipped to the smallest positive float, so the value stays
    finite (about 708 per such sample).

    Examples
    --------
    >>> import numpy as np
    >>> round(classification_nll(np.array([[0.5, 0.5], [0.9, 0.1]]), [0, 0]), 4)
    0.3993
    """
    probs, index = as_classification(pred, y)
    p = probs[np.arange(len(index)), index]
    return float(-np.mean(np.log(np.maximum(p, _TINY))))


def brier_score(pred, y) -> float:
    """Multi-class Brier score :math:`\\frac1n\\sum_i\\sum_c (p_{ic} - \\mathbb 1\\{y_i=c\\})^2`.

    Brier (Monthly Weather Review, 1950, Eq. 1); between 0 and 2.

    Examples
    --------
    >>> import numpy as np
    >>> brier_score(np.array([[0.5, 0.5], [1.0, 0.0]]), [0, 0])
    0.25
    """
    probs, index = as_classification(pred, y)
    rows = np.arange(len(index))
    p_true = probs[rows, index]
    return float(np.mean(np.sum(probs * probs, axis=1) - 2.0 * p_true + 1.0))
