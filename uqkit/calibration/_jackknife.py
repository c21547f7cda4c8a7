"""Jackknife+ and CV+ prediction intervals (Barber, Candès, Ramdas & Tibshirani, AoS 2021)."""

from __future__ import annotations

import logging
from numbers import Integral
from typing import ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import column_or_1d

from uqkit._io import encode_state, import_uqkit_class
from uqkit._random import derive_seed
from uqkit.base import UQEstimator, UQRegressorMixin, check_fitted
from uqkit.calibration._quantile import (
    conformal_rank,
    miscoverages,
    single_output,
    stack_levels,
)
from uqkit.exceptions import InvalidInputError, ModelFileError
from uqkit.interop import gives_uncertainty, predict_uncertainty
from uqkit.metrics import as_regression_prediction
from uqkit.prediction import RegressionPrediction

__all__ = ["JackknifePlusRegressor"]

logger = logging.getLogger(__name__)

_FOLD = "fold/"  # tensor-name prefix of the fitted clones in a saved file



def _fit_one(estimator, X, y, rows, seed):
    model = clone(estimator)
    if seed is not None:
        model.set_params(random_state=seed)
    return model.fit(X[rows], y[rows])


class JackknifePlusRegressor(UQRegressorMixin, UQEstimator):
    """Jackknife+ (``cv="loo"``) and CV+ (``cv=K``) intervals around any regressor.

    ``fit(X, y)`` refits clones of ``estimator``: on all rows but one (jackknife+, ``n`` fits) or
    on all folds but one of a seeded ``K``-fold split (CV+, ``K`` fits), and one clone on all the
    data for the point prediction. With :math:`\\hat\\mu_{-i}` the model that did not see row
    :math:`i` and :math:`R_i = |y_i - \\hat\\mu_{-i}(x_i)|` its leave-out residual, the interval is
    (Barber et al., Eq. 2 for jackknife+, Eq. 3 for CV+)

    .. math::
        \\big[\\hat q^-_\\alpha\\{\\hat\\mu_{-i}(x) - R_i\\},\\;
              \\hat q^+_\\alpha\\{\\hat\\mu_{-i}(x) + R_i\\}\\big],

    with :math:`\\hat q^+_\\alpha` the :math:`\\lceil (1-\\alpha)(n+1)\\rceil`-th smallest value and
    :math:`\\hat q^-_\\alpha` the :math:`\\lfloor \\alpha(n+1)\\rfloor`-th smallest. For
    exchangeable data it covers a new target with probability at least :math:`1-2\\alpha`
    (Thm. 1; for CV+, Thm. 4, less
    :math:`\\min\\{2(1-1/K)/(n/K+1),\\,(1-K/n)/(K+1)\\}`), whatever the model; in practice
    coverage is usually near :math:`1-\\alpha`. Unlike split conformal, no rows are set aside.

    ``predict`` and ``predict_uncertainty`` come from the clone fitted on all rows:
    a uqkit model's prediction unchanged, or, for a point model, the normal with the mean
    squared leave-out residual ``residual_variance_`` as variance (a summary for the metrics
    only; the intervals are the jackknife+ ones). Single-output only. ``fit`` takes no
    ``sample_weight``: the guarantees are for unweighted exchangeable rows (use the weighted
    :class:`ConformalRegressor` for weighted rows).

    Parameters
    ----------
    estimator : unfitted regressor, optional
        Any scikit-learn regressor (uqkit or not); cloned, never fitted itself. Default
        ``LinearRegression()``.
    cv : "loo" or int >= 2, default "loo"
        ``"loo"``: leave-one-out, the jackknife+; ``K``: CV+ on ``K`` shuffled folds.
    n_jobs : int, optional
        Refits run in parallel with joblib (``None``: one at a time).
    random_state : int, RandomState or None
        Seeds the fold shuffle (key 0) and, when the estimator has a ``random_state`` parameter
        set to None, each clone (key ``k + 1`` for fold ``k``).

    Attributes
    ----------
    estimators_ : list of fitted regressors
        One per left-out fold (``n`` for jackknife+).
    estimator_ : fitted regressor
        The clone fitted on all rows.
    folds_ : ndarray of int, shape (n,)
        Fold of each training row.
    residuals_ : ndarray of shape (n,)
        The leave-out residuals :math:`R_i`.
    residual_variance_ : float
    random_state_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)); y = X @ [1.0, -1.0] + rng.normal(size=60)
    >>> jack = JackknifePlusRegressor(cv="loo").fit(X, y)
    >>> lower, upper = jack.predict_interval(X[:3], alpha=0.1)
    >>> len(jack.estimators_), bool(np.all(lower < upper))
    (60, True)
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "cv": [StrOptions({"loo"}), Interval(Integral, 2, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, cv: str | int = "loo", n_jobs: int | None = None,
                 random_state=None):
        self.estimator = estimator
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _base(self):
        return LinearRegression() if self.estimator is None else self.estimator

    def _clone_seed(self, key: int) -> int | None:
        params = self._base().get_params(deep=False)
        if "random_state" in params and params["random_state"] is None:
            return derive_seed(self.random_state_, key) % (2**32)
        return None

    def _folds(self, n: int) -> np.ndarray:
        if self.cv == "loo":
            return np.arange(n)
        if self.cv > n:
            raise InvalidInputError(
                f"{type(self).__name__}(cv={self.cv}) needs at least {self.cv} rows; got {n}. "
                "Use fewer folds."
            )
        rng = np.random.default_rng(derive_seed(self.random_state_, 0))
        folds = np.empty(n, dtype=np.int64)
        # KFold on a shuffled order: sizes differ by at most one
        for k, part in enumerate(np.array_split(rng.permutation(n), self.cv)):
            folds[part] = k
        return folds

    def fit(self, X, y):
        """Refit clones of the estimator with each fold left out, and one on all rows.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
        y : array-like of shape (n,)

        Returns
        -------
        self
        """
        self._check_params()
        X, y = self._check_X_y(X, y, regression=True)  # refuse NaN, short or mismatched data
        if y.ndim == 2 and y.shape[1] != 1:
            raise InvalidInputError(
                f"{type(self).__name__} supports single-output regressors; y has "
                f"{y.shape[1]} columns. Fit one per output."
            )
        y = column_or_1d(y, warn=True)  # a column vector is accepted with scikit-learn's warning
        n = len(y)
        if n < 2:
            raise InvalidInputError(f"{type(self).__name__} needs at least 2 rows; got {n}.")
        self._resolve_random_state()
        self.folds_ = self._folds(n)
        n_folds = int(self.folds_.max()) + 1
        data = X
        subsets = [np.flatnonzero(self.folds_ != k) for k in range(n_folds)]
        subsets.append(np.arange(n))
        logger.debug("%s: %d refits", type(self).__name__, len(subsets))
        jobs = [(self._base(), data, y, rows, self._clone_seed(k + 1))
                for k, rows in enumerate(subsets)]
        if self.n_jobs is None:  # joblib's own overhead dominates the small refits
            fitted = [_fit_one(*job) for job in jobs]
        else:
            fitted = Parallel(n_jobs=self.n_jobs)(delayed(_fit_one)(*job) for job in jobs)
        self.estimators_, self.estimator_ = list(fitted[:-1]), fitted[-1]
        held_out = np.empty(n)
        for k, model in enumerate(self.estimators_):
            rows = np.flatnonzero(self.folds_ == k)
            held_out[rows] = single_output(model.predict(data[rows]), type(self).__name__)
        self.residuals_ = np.abs(y - held_out)
        self.residual_variance_ = float(np.mean(self.residuals_**2))
        return self

    def _fold_predictions(self, X) -> np.ndarray:
        """``(n_folds, m)`` predictions of the leave-out models on ``X``: the only place that
        calls them."""
        return np.stack([single_output(model.predict(X), type(self).__name__)
                         for model in self.estimators_])

    def _base_outputs(self, X) -> tuple[np.ndarray, RegressionPrediction | None]:
        """The all-rows model's ``(mean, prediction or None)`` on ``X`` (``predict_uncertainty``
        of a uqkit model, else its ``predict``)."""
        model = self.estimator_
        if gives_uncertainty(model):
            pred = as_regression_prediction(predict_uncertainty(model, X))
            return single_output(pred.mean, type(self).__name__), pred
        return single_output(model.predict(X), type(self).__name__), None

    def predict_interval(self, X, alpha=0.1, *, coverage=None) -> tuple[np.ndarray, np.ndarray]:
        """Jackknife+ / CV+ interval on ``X``: ``(lower, upper)``, each (m,) or (m, k).

        Bounds are infinite when ``n`` is too small for the level
        (:math:`\\lceil (1-\\alpha)(n+1)\\rceil > n`).
        """
        check_fitted(self, "residuals_")
        levels, single = miscoverages(alpha, coverage)
        X = self._check_X(X, reset=False)
        per_row = self._fold_predictions(X)[self.folds_]  # (n, m): mu_{-i}(x)
        n = len(self.residuals_)
        low = np.sort(per_row - self.residuals_[:, None], axis=0)
        high = np.sort(per_row + self.residuals_[:, None], axis=0)
        lowers, uppers = [], []
        for a in levels:
            k = conformal_rank(n, a)  # ceil((1-a)(n+1)); the lower rank is n + 1 - k
            if k > n:
                lowers.append(np.full(per_row.shape[1], -np.inf))
                uppers.append(np.full(per_row.shape[1], np.inf))
            else:
                lowers.append(low[n - k])
                uppers.append(high[k - 1])
        return stack_levels(lowers, single), stack_levels(uppers, single)

    def predict_uncertainty(self, X) -> RegressionPrediction:
        """The all-rows clone's prediction (see the class notes for a point model)."""
        check_fitted(self, "residuals_")
        mean, pred = self._base_outputs(self._check_X(X, reset=False))
        if pred is not None:
            return pred
        return RegressionPrediction.normal(mean, np.full(mean.shape, self.residual_variance_))

    # -- save / load: the fitted clones nest in the file, the template by its parameters ------
    def _to_saved(self) -> tuple[dict, dict]:
        check_fitted(self, "residuals_")
        template = self._base()
        if not isinstance(template, UQEstimator):
            raise ModelFileError(
                f"Cannot save a {type(self).__name__} around a {type(template).__name__}: uqkit "
                "files hold uqkit models and tensors, never pickled code. Wrap a uqkit "
                "regressor to save it, or keep the scikit-learn model with its own tools."
            )
        fitted = [k for k in self._fitted_attributes() if k not in ("estimators_", "estimator_")]
        state, tensors = encode_state({k: getattr(self, k) for k in fitted})
        params = {k: self._param_to_saved(k, v)
                  for k, v in self.get_params(deep=False).items() if k != "estimator"}
        header = {
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "params": params,
            "state": state,
            "nested": {},
            "template_seeded": self._clone_seed(1) is not None,
            "fold_models": [],
        }
        for k, model in enumerate([*self.estimators_, self.estimator_]):
            inner_header, inner = model._to_saved()
            header["fold_models"].append(inner_header)
            tensors.update({f"{_FOLD}{k}/{name}": t for name, t in inner.items()})
        return header, tensors

    @classmethod
    def _from_saved(cls, header: dict, tensors: dict, device: str | None = None):
        own = {k: v for k, v in tensors.items() if not k.startswith(_FOLD)}
        estimator = super()._from_saved({**header, "nested": {}}, own, device=device)
        models = []
        for k, inner_header in enumerate(header["fold_models"]):
            prefix = f"{_FOLD}{k}/"
            inner = {name[len(prefix):]: t for name, t in tensors.items()
                     if name.startswith(prefix)}
            inner_cls = import_uqkit_class(inner_header.get("class", ""), UQEstimator)
            models.append(inner_cls._from_saved(inner_header, inner, device=device))
        estimator.estimators_, estimator.estimator_ = models[:-1], models[-1]
        template = clone(models[-1])
        if header.get("template_seeded"):
            template.set_params(random_state=None)  # the clones were seeded from random_state_
        estimator.estimator = template
        return estimator
