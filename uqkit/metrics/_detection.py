"""Uncertainty as a detector: scores, misclassification and OOD detection, selective risk.

These metrics ask whether the uncertainty *ranks* inputs well (wrong before right predictions,
out-of-distribution before in-distribution inputs), whatever its calibration. They take
classification predictions (or probability arrays) and, for :func:`uncertainty_score` and
:func:`ood_detection`, regression predictions too.
"""

from __future__ import annotations

import numpy as np
from scipy import special
from sklearn.metrics import average_precision_score, roc_auc_score

from uqkit.exceptions import InvalidInputError
from uqkit.metrics._validation import (
    as_array,
    as_classification,
    as_probabilities,
    as_regression_prediction,
    check_finite,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__all__ = [
    "aurc",
    "misclassification_detection",
    "ood_detection",
    "risk_coverage_curve",
    "uncertainty_score",
]

_SCORES = ("total", "aleatoric", "epistemic", "max_prob", "std", "vacuity")


def uncertainty_score(pred, score: str | np.ndarray = "total") -> np.ndarray:
    """One uncertainty value per sample (higher = less certain).

    Parameters
    ----------
    pred : ClassificationPrediction, RegressionPrediction, ndarray of probabilities (n, C), or
        a pair ``(mean, std)``
    score : str or ndarray of shape (n,)
        ``"total"``, ``"aleatoric"``, ``"epistemic"`` (entropy terms for classifiers, variances for
        regressors; multi-output variances are summed over outputs), ``"max_prob"`` (one minus
        the top probability), ``"std"`` (regression: total std), ``"vacuity"`` (Dirichlet
        predictions), or the scores themselves.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> uncertainty_score(np.array([[0.5, 0.5], [1.0, 0.0]]), "max_prob")
    array([0.5, 0. ])
    """
    if not isinstance(score, str):
        values = as_array(score, "score").reshape(-1)
        check_finite(values, "score")
        return values
    if score not in _SCORES:
        raise InvalidInputError(f"score must be one of {_SCORES} or an array; got {score!r}.")
    if isinstance(pred, (RegressionPrediction, tuple, list)):
        reg = as_regression_prediction(pred)
        if score not in ("total", "aleatoric", "epistemic", "std"):
            raise InvalidInputError(f"score {score!r} is not defined for a regression prediction.")
        values = np.sqrt(reg.total) if score == "std" else np.asarray(getattr(reg, score))
        return values if values.ndim == 1 else values.sum(axis=1)
    probs = as_probabilities(pred)
    if score == "max_prob":
        return 1.0 - probs.max(axis=1)
    if isinstance(pred, ClassificationPrediction):
        if score == "vacuity":
            if pred.vacuity is None:
                raise InvalidInputError(
                    "score 'vacuity' needs a Dirichlet prediction (concentration)."
                )
            return pred.vacuity
        if score == "std":
            raise InvalidInputError("score 'std' is only defined for regression predictions.")
        return np.asarray(getattr(pred, score))
    if score == "total":
        return -np.sum(special.xlogy(probs, probs), axis=1)
    raise InvalidInputError(
        f"score {score!r} needs a ClassificationPrediction; a probability array only has "
        "'total' (entropy) and 'max_prob'."
    )


def _auroc_aupr(score: np.ndarray, positive: np.ndarray) -> dict[str, float]:
    if positive.all() or not positive.any():
        return {"auroc": float("nan"), "aupr": float("nan")}
    return {
        "auroc": float(roc_auc_score(positive, score)),
        "aupr": float(average_precision_score(positive, score)),
    }


def misclassification_detection(pred, y, *, score: str | np.ndarray = "total") -> dict[str, float]:
    """How well an uncertainty score separates misclassified from correct predictions.

    AUROC and AUPR (misclassified = positive) of the score (Hendrycks & Gimpel, ICLR 2017,
    Sec. 3). AUROC 0.5 is chance, 1 a perfect ranking. NaN when every prediction is right (or
    every one wrong).

    Returns
    -------
    dict with keys ``"auroc"`` and ``"aupr"``

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.95, 0.05]])
    >>> misclassification_detection(probs, [0, 1, 0])["auroc"]
    1.0
    """
    probs, index = as_classification(pred, y)
    values = uncertainty_score(pred if isinstance(pred, ClassificationPrediction) else probs, score)
    if len(values) != len(index):
        raise InvalidInputError(f"score has {len(values)} values for {len(index)} samples.")
    wrong = np.argmax(probs, axis=1) != index
    return _auroc_aupr(values, wrong)


def ood_detection(pred_id, pred_ood, *, score: str = "epistemic") -> dict[str, float]:
    """How well an uncertainty score separates out-of-distribution from in-distribution inputs.

    AUROC and AUPR with OOD inputs as positives (Hendrycks & Gimpel, 2017, Sec. 4). Works for
    classification and regression predictions; epistemic uncertainty is the usual score.

    Parameters
    ----------
    pred_id, pred_ood : predictions of the same kind, or arrays of scores
    score : str, default "epistemic"
        See :func:`uncertainty_score`; ignored for arrays of scores.

    Returns
    -------
    dict with keys ``"auroc"`` and ``"aupr"``

    Examples
    --------
    >>> import numpy as np
    >>> ood_detection(np.array([0.1, 0.2]), np.array([0.5, 0.9]))
    {'auroc': 1.0, 'aupr': 1.0}
    """

    def scores(pred):
        if isinstance(pred, np.ndarray) and pred.ndim == 1:
            return uncertainty_score(None, pred)
        return uncertainty_score(pred, score)

    inside, outside = scores(pred_id), scores(pred_ood)
    values = np.concatenate([inside, outside])
    positive = np.concatenate([np.zeros(len(inside), bool), np.ones(len(outside), bool)])
    return _auroc_aupr(values, positive)


def risk_coverage_curve(pred, y, *, score: str | np.ndarray = "max_prob"):
    """Selective risk against coverage when the most certain predictions are kept first.

    Samples are sorted by increasing uncertainty; at coverage ``k/n`` the risk is the error rate
    of the ``k`` kept samples (Geifman & El-Yaniv, NeurIPS 2017, Sec. 2). Tied scores are treated
    as kept in random order: the curve holds the expected risk over that order, so the result does
    not depend on how ties happen to be sorted.

    Returns
    -------
    coverage, risk : ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> risk_coverage_curve(probs, [0, 0])[1]
    array([0., 0.])
    """
    probs, index = as_classification(pred, y)
    values = uncertainty_score(pred if isinstance(pred, ClassificationPrediction) else probs, score)
    if len(values) != len(index):
        raise InvalidInputError(f"score has {len(values)} values for {len(index)} samples.")
    errors = (np.argmax(probs, axis=1) != index).astype(np.float64)
    order = np.argsort(values, kind="stable")
    sorted_scores, sorted_errors = values[order], errors[order]
    n = len(values)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group_errors = np.add.reduceat(sorted_errors, starts)
    before = np.r_[0.0, np.cumsum(group_errors)[:-1]]
    group = np.repeat(np.arange(len(starts)), sizes)
    position = np.arange(n) - starts[group] + 1  # 1-based position inside the tie group
    expected_errors = before[group] + position * group_errors[group] / sizes[group]
    kept = np.arange(1, n + 1)
    return kept / n, expected_errors / kept


def aurc(pred, y, *, score: str | np.ndarray = "max_prob") -> float:
    """Area under the risk-coverage curve, AURC (Geifman, Uziel & El-Yaniv, ICLR 2019, Sec. 3).

    :math:`\\frac1n\\sum_{k=1}^n \\mathrm{risk}(k/n)`; lower is better. A perfect ranking of an
    error rate ``r`` gives about :math:`r + (1-r)\\log(1-r)`.

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> aurc(probs, [0, 1])  # the error is ranked last: risks 0 and 1/2
    0.25
    """
    _, risk = risk_coverage_curve(pred, y, score=score)
    return float(np.mean(risk))
