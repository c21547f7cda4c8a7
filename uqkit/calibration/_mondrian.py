"""Mondrian (group-conditional) split conformal regression (Vovk et al., 2003; Vovk et al., 2005,
Sec. 4.5)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from uqkit._data import to_numpy
from uqkit.base import UQRegressorMixin, check_fitted
from uqkit.calibration._conformal import ConformalRegressor
from uqkit.calibration._quantile import (
    conformal_threshold,
    miscoverages,
    single_output,
    sort_scores,
    stack_levels,
)
from uqkit.calibration._wrapper import _check_calibration_size
from uqkit.exceptions import InvalidInputError
from uqkit.metrics import as_regression_prediction
from uqkit.prediction import check_miscoverage

__all__ = ["MondrianConformalRegressor"]


def _plain(label):
    """A numpy scalar label as the Python value it stands for (for messages)."""
    return label.item() if isinstance(label, np.generic) else label


class MondrianConformalRegressor(ConformalRegressor):
    """Split conformal intervals calibrated separately within each group (Mondrian conformal).

    The held-out rows are split by a group label :math:`g(x)` (a category of the input, a
    region, a bin of the predicted std, ...) and each group gets its own conformal quantile: the
    :math:`\\lceil (n_g+1)(1-\\alpha)\\rceil`-th smallest score among its :math:`n_g` rows
    (Vovk, Lindsay, Nouretdinov & Gammerman, 2003; Vovk et al., *Algorithmic Learning in a
    Random World*, 2005, Sec. 4.5). When the rows are exchangeable within each group, the
    interval covers a new target with probability at least :math:`1-\\alpha` *within every
    group* (group-conditional coverage), not only on average over groups as split conformal
    does. Scores are those of :class:`ConformalRegressor` (normalised or absolute residuals).

    A group with too few calibration rows for a level (:math:`n_g < 1/\\alpha - 1`, so that
    the rank exceeds :math:`n_g`) has no finite valid interval: asking for that level raises
    :class:`~uqkit.exceptions.InvalidInputError` naming the group, rather than returning an
    infinite interval. A group not seen at ``fit`` is refused too.

    Parameters
    ----------
    estimator : fitted regressor, optional
        A uqkit regressor or any fitted scikit-learn regressor.
    normalize : {"auto", True, False}, default "auto"
        As in :class:`ConformalRegressor`.
    groups : callable, optional
        ``groups(X)`` returns the group label of each row of ``X``. Instead, an array of labels
        may be passed to ``fit`` and ``predict_interval`` (``groups=``). With neither, all rows
        form one group (plain split conformal). A callable cannot be saved to a uqkit file
        (files hold no code): pass the labels as arrays to keep the model savable.

    Attributes
    ----------
    groups_ : ndarray of shape (n_groups,)
        The group labels seen at ``fit`` (sorted).
    group_sizes_ : ndarray of int, shape (n_groups,)
    scores_ : ndarray of shape (n_calibration,)
        Scores sorted within each group, the groups one after another.
    weights_ : ndarray of shape (n_calibration,)
    offsets_ : ndarray of int, shape (n_groups + 1,)
        Group ``j`` owns ``scores_[offsets_[j]:offsets_[j + 1]]``.
    grouped_ : bool
        Whether groups were given at ``fit`` (else all rows form one group).
    normalized_ : bool
    residual_variance_ : float
    n_calibration_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = rng.integers(0, 2, size=2000)
    >>> y = rng.normal(size=2000) * np.where(g == 1, 3.0, 1.0)  # group 1 is three times noisier
    >>> mondrian = MondrianConformalRegressor(normalize=False).fit_prediction(
    ...     (np.zeros(2000), np.ones(2000)), y, groups=g)
    >>> low, high = mondrian.interval((np.zeros(2), np.ones(2)), alpha=0.1, groups=[0, 1])
    >>> bool(1.5 < high[0] < 1.8 and 4.5 < high[1] < 5.4)  # about 1.645 and 3 x 1.645
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **ConformalRegressor._parameter_constraints,
        "groups": [callable, None],
    }

    def __init__(self, estimator=None, normalize: bool | str = "auto", groups=None):
        self.estimator = estimator
        self.normalize = normalize
        self.groups = groups

    # -- group labels -----------------------------------------------------------------
    def _refuse_function_without_features(self, method: str) -> None:
        if callable(self.groups):
            raise InvalidInputError(
                f"{type(self).__name__}.{method} works on predictions, without the features its "
                "groups function needs. Use fit(X, y) and predict_interval(X), or pass the group "
                "labels as arrays (groups=...) to a wrapper without a groups function."
            )

    def _labels(self, X, groups, n: int) -> np.ndarray | None:
        """Group label of each of the ``n`` rows, from the callable or the given array."""
        name = type(self).__name__
        if callable(self.groups):
            if groups is not None:
                raise InvalidInputError(
                    f"{name} has a groups function; do not also pass groups= (pass one or the "
                    "other)."
                )
            if X is None:
                raise InvalidInputError(f"{name}: the groups function needs the features X.")
            groups = self.groups(X)
        if groups is None:
            return None
        labels = np.asarray(to_numpy(groups)).reshape(-1)
        if labels.shape != (n,):
            raise InvalidInputError(
                f"{name}: groups has {labels.size} labels for {n} rows; pass one label per row."
            )
        return labels

    def _group_index(self, labels: np.ndarray | None, n: int) -> np.ndarray:
        if labels is None:
            if self.grouped_:
                raise InvalidInputError(
                    f"This {type(self).__name__} was fitted with groups; pass groups= (or use "
                    "a groups function) to predict."
                )
            return np.zeros(n, dtype=np.int64)
        if not self.grouped_:
            raise InvalidInputError(
                f"This {type(self).__name__} was fitted without groups; do not pass groups= "
                "to predict."
            )
        index = np.searchsorted(self.groups_, labels)
        index = np.minimum(index, len(self.groups_) - 1)
        unseen = self.groups_[index] != labels
        if np.any(unseen):
            raise InvalidInputError(
                f"{type(self).__name__}: group {_plain(labels[unseen][0])!r} has no calibration "
                "rows "
                f"(fitted groups: {self.groups_.tolist()}). Calibrate on data that covers every "
                "group you predict for."
            )
        return index

    # -- fitting ---------------------------------------------------------------------------
    def _fit_outputs(self, mean, scale, y, sample_weight, labels=None) -> None:
        name = type(self).__name__
        y, weights, scores = self._held_out_scores(mean, scale, y, sample_weight)
        self.grouped_ = labels is not None
        if labels is None:
            labels = np.zeros(len(y), dtype=np.int64)
        try:
            self.groups_, inverse = np.unique(labels, return_inverse=True)
        except TypeError as err:
            raise InvalidInputError(
                f"{name}: the group labels cannot be sorted ({err}); use labels of one type."
            ) from err
        parts_s, parts_w, sizes = [], [], []
        for j in range(len(self.groups_)):
            rows = inverse == j
            s, w = sort_scores(scores[rows], weights[rows])
            parts_s.append(s)
            parts_w.append(w)
            sizes.append(int(rows.sum()))
        self.scores_, self.weights_ = np.concatenate(parts_s), np.concatenate(parts_w)
        self.group_sizes_ = np.asarray(sizes, dtype=np.int64)
        self.offsets_ = np.concatenate([[0], np.cumsum(self.group_sizes_)]).astype(np.int64)
        self.residual_variance_ = float(np.average((y - mean) ** 2, weights=weights))
        self.n_calibration_ = len(y)

    def fit(self, X, y, groups=None, sample_weight=None):
        """Compute the conformity scores of held-out data, per group.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
        y : array-like of shape (n,)
        groups : array-like of shape (n,), optional
            Group labels (when the estimator has no ``groups`` function).
        sample_weight : array-like of shape (n,), optional
            Frequency weights (weighted conformal quantile within each group).

        Returns
        -------
        self
        """
        self._check_params()
        model = self._fitted_model()
        _check_calibration_size(y, type(self).__name__)
        mean, scale, _ = self._base_outputs(X)
        labels = self._labels(X, groups, len(mean))
        self._fit_outputs(mean, scale, y, sample_weight, labels)
        self._copy_model_attributes(model)
        return self

    def fit_prediction(self, pred, y, groups=None, sample_weight=None):
        """Compute the per-group scores from a held-out prediction and its truth.

        Returns
        -------
        self
        """
        self._check_params()
        _check_calibration_size(y, type(self).__name__)
        pred = as_regression_prediction(pred)
        name = type(self).__name__
        mean = single_output(pred.mean, name)
        self._refuse_function_without_features("fit_prediction")
        labels = None if groups is None else self._labels(None, groups, len(mean))
        self._fit_outputs(mean, single_output(pred.std(), name), y, sample_weight, labels)
        return self

    # -- thresholds -------------------------------------------------------------------------
    def group_quantile(self, group, alpha: float = 0.1) -> float:
        """The score threshold of one fitted group for miscoverage ``alpha``."""
        check_fitted(self, "scores_")
        j = int(self._group_index(np.asarray([group]) if self.grouped_ else None, 1)[0])
        return self._threshold_of(j, check_miscoverage(alpha))

    def conformal_quantile(self, alpha: float = 0.1) -> float:
        """Refused: a Mondrian wrapper has one threshold per group (see ``group_quantile``)."""
        raise InvalidInputError(
            f"{type(self).__name__} has one threshold per group; use group_quantile(group, "
            "alpha)."
        )

    def _threshold_of(self, j: int, alpha: float) -> float:
        lo, hi = self.offsets_[j], self.offsets_[j + 1]
        value = conformal_threshold(self.scores_[lo:hi], self.weights_[lo:hi], alpha)
        if not np.isfinite(value):
            raise InvalidInputError(
                f"{type(self).__name__}: group {_plain(self.groups_[j])!r} has "
                f"{int(self.group_sizes_[j])} calibration rows, too few for a finite "
                f"{1 - alpha:.0%} interval (it needs at least {int(np.ceil(1 / alpha)) - 1}). "
                "Calibrate on more rows of that group, merge it with another, or ask for a "
                "larger alpha."
            )
        return value

    def _interval_from(self, mean, scale, alpha, coverage, index):
        levels, single = miscoverages(alpha, coverage)
        if self.normalized_ and scale is None:
            raise InvalidInputError(
                f"This {type(self).__name__} was fitted on normalised scores; it needs the "
                "predicted std to make an interval."
            )
        width = scale if self.normalized_ else np.ones_like(mean)
        present = np.unique(index)
        halves = []
        for a in levels:
            q = np.zeros(len(self.groups_))
            for j in present:
                q[j] = self._threshold_of(int(j), a)
            halves.append(q[index] * width)
        return (stack_levels([mean - h for h in halves], single),
                stack_levels([mean + h for h in halves], single))

    def interval(self, pred, alpha=0.1, *, coverage=None, groups=None):
        """Per-group conformal interval around a prediction: ``(lower, upper)``."""
        check_fitted(self, "scores_")
        self._refuse_function_without_features("interval")
        pred = as_regression_prediction(pred)
        name = type(self).__name__
        mean = single_output(pred.mean, name)
        labels = None if groups is None else self._labels(None, groups, len(mean))
        index = self._group_index(labels, len(mean))
        return self._interval_from(mean, single_output(pred.std(), name), alpha, coverage, index)

    def predict_interval(self, X, alpha=0.1, *, coverage=None, groups=None):
        """Per-group conformal interval on ``X``: ``(lower, upper)``, each (n,) or (n, k)."""
        check_fitted(self, "scores_")
        miscoverages(alpha, coverage)
        mean, scale, _ = self._base_outputs(X)
        index = self._group_index(self._labels(X, groups, len(mean)), len(mean))
        return self._interval_from(mean, scale, alpha, coverage, index)

    def evaluate(self, X, y, groups=None) -> dict[str, float]:
        """The wrapped model's metrics plus the Mondrian 90% coverage and width."""
        result = UQRegressorMixin.evaluate(self, X, y)
        y = single_output(to_numpy(y), type(self).__name__)
        lower, upper = self.predict_interval(X, 0.1, groups=groups)
        result["conformal_coverage_90"] = float(np.mean((y >= lower) & (y <= upper)))
        result["conformal_width_90"] = float(np.mean(upper - lower))
        return result
