"""Temperature scaling of a fitted classifier (Guo, Pleiss, Sun & Weinberger, ICML 2017)."""

from __future__ import annotations

import numpy as np
from scipy import optimize

from uqkit.base import UQClassifierMixin, check_fitted
from uqkit.calibration._wrapper import Recalibrator
from uqkit.exceptions import InvalidInputError
from uqkit.metrics import as_classification, as_classification_prediction
from uqkit.prediction import ClassificationPrediction

__all__ = ["TemperatureScaling"]

_TINY = np.finfo(np.float64).tiny
# Search range of the inverse temperature 1/T, in log space.
_LOG_BETA_BOUNDS = (np.log(1e-2), np.log(1e2))


def _log_members(pred: ClassificationPrediction) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities with an explicit member axis (k, n, C) and the member weights (k,)."""
    if pred.member_probs is not None:
        members, weights = np.asarray(pred.member_probs), np.asarray(pred.weights)
    else:
        members, weights = np.asarray(pred.probs)[None], np.ones(1)
    with np.errstate(divide="ignore"):
        return np.log(members), weights / weights.sum()


def _tempered(log_members: np.ndarray, beta: float) -> np.ndarray:
    """``softmax(beta * log p)`` of every member: its probabilities at temperature 1/beta."""
    z = beta * log_members
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class TemperatureScaling(UQClassifierMixin, Recalibrator):
    """Temperature scaling: one scalar ``T`` that softens (T > 1) or sharpens the probabilities.

    Guo et al. (ICML 2017, Sec. 4.2) divide the logits by ``T``:
    :math:`\\hat q_i = \\mathrm{softmax}(z_i / T)`, with ``T`` chosen to minimise the NLL on
    held-out data. The logits are recovered from the probabilities as :math:`z = \\log p`
    (softmax is invariant to a per-row constant), so :math:`\\hat q \\propto p^{1/T}`. The ranking
    of the classes, hence the accuracy, never changes. For an ensemble every member is tempered
    with the same ``T`` and the tempered members are averaged, so the prediction keeps its member
    axis and its aleatoric/epistemic split; ``T`` minimises the NLL of that average. Dirichlet
    predictions lose their ``concentration`` (only the tempered probabilities are returned).

    The NLL is convex in :math:`1/T` for a single model; it is minimised with bounded Brent search
    over :math:`\\log(1/T) \\in [\\log 0.01, \\log 100]`.

    Parameters
    ----------
    estimator : fitted uqkit classifier, optional
        The model to calibrate. ``None`` when only :meth:`fit_prediction` / :meth:`calibrate` are
        used.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature ``T``.
    nll_before_, nll_after_ : float
        Held-out NLL at ``T = 1`` and at the fitted ``T``.
    classes_ : ndarray of shape (C,)
    n_calibration_ : int
        Number of held-out samples used.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(2000, 3)) * 3
    >>> true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    >>> y = np.array([rng.choice(3, p=p) for p in true])
    >>> sharp = true**2 / (true**2).sum(1, keepdims=True)  # over-confident: T = 1/2
    >>> scaler = TemperatureScaling().fit_prediction(sharp, y)
    >>> bool(1.8 < scaler.temperature_ < 2.2)
    True
    """

    def __init__(self, estimator=None):
        self.estimator = estimator

    def _fit(self, pred, y) -> None:
        pred = as_classification_prediction(pred)
        _, index = as_classification(pred, y)
        log_members, weights = _log_members(pred)
        rows = np.arange(len(index))

        def nll(log_beta: float) -> float:
            probs = np.einsum("k,knc->nc", weights, _tempered(log_members, np.exp(log_beta)))
            return float(-np.mean(np.log(np.maximum(probs[rows, index], _TINY))))

        result = optimize.minimize_scalar(
            nll, bounds=_LOG_BETA_BOUNDS, method="bounded", options={"xatol": 1e-7}
        )
        self.temperature_ = float(np.exp(-result.x))
        self.nll_before_ = nll(0.0)
        self.nll_after_ = float(result.fun)
        self.classes_ = np.asarray(pred.classes)
        self.n_calibration_ = len(index)

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Tempered prediction of the wrapped model on ``X``."""
        return self._predict_calibrated(X)

    def calibrate(self, pred) -> ClassificationPrediction:
        """The tempered prediction.

        Parameters
        ----------
        pred : ClassificationPrediction or ndarray of shape (n, C)

        Returns
        -------
        ClassificationPrediction
        """
        check_fitted(self, "temperature_")
        pred = as_classification_prediction(pred)
        if pred.probs.shape[1] != len(self.classes_):
            raise InvalidInputError(
                f"The prediction has {pred.probs.shape[1]} classes but the calibrator was fitted "
                f"on {len(self.classes_)}."
            )
        log_members, weights = _log_members(pred)
        tempered = _tempered(log_members, 1.0 / self.temperature_)
        if pred.member_probs is not None:
            return ClassificationPrediction.from_members(tempered, weights, classes=pred.classes)
        return ClassificationPrediction(probs=tempered[0], classes=pred.classes)
