"""uqkit's conformal intervals next to MAPIE's on the same data and the same splits.

MAPIE (a test-only dependency, the ``dev`` extra) uses the same finite-sample rank
:math:`\\lceil (n+1)(1-\\alpha)\\rceil` for split conformal, CQR and jackknife+/CV+, so those
intervals agree exactly. One convention differs by definition: MAPIE's CQR corrects the two
quantile predictions asymmetrically by default (each side by its own
:math:`\\lceil (n+1)(1-\\alpha/2)\\rceil`-th score), while Romano et al.'s Eq. 6-7 (uqkit) take one
symmetric score :math:`\\max(\\hat q_{lo} - y, y - \\hat q_{hi})`; MAPIE's
``symmetric_correction=True`` is uqkit's CQR, and its default is tested against the asymmetric
formula built from uqkit's conformal quantile.
"""

import warnings

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import LeaveOneOut, PredefinedSplit

from uqkit.calibration import (
    ConformalQuantileRegressor,
    ConformalRegressor,
    JackknifePlusRegressor,
    conformal_threshold,
)

mapie = pytest.importorskip("mapie")
from mapie.regression import (  # noqa: E402
    ConformalizedQuantileRegressor,
    CrossConformalRegressor,
    SplitConformalRegressor,
)

ALPHAS = [0.2, 0.1, 0.05]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(400, 2))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + (0.2 + np.abs(X[:, 0])) * rng.normal(size=400)
    return X[:150], y[:150], X[150:300], y[150:300], X[300:]


def _mapie_bounds(intervals):
    """MAPIE's (n, 2, k) intervals as uqkit's (lower, upper), each (n, k)."""
    return intervals[:, 0, :], intervals[:, 1, :]


def test_split_conformal_equals_mapie(data):
    X_train, y_train, X_cal, y_cal, X_test = data
    model = LinearRegression().fit(X_train, y_train)
    ours = ConformalRegressor(model).fit(X_cal, y_cal).predict_interval(X_test, alpha=ALPHAS)
    theirs = SplitConformalRegressor(model, confidence_level=[1 - a for a in ALPHAS],
                                     prefit=True).conformalize(X_cal, y_cal)
    _, intervals = theirs.predict_interval(X_test)
    for a, b in zip(ours, _mapie_bounds(intervals), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def quantile_models(data):
    X_train, y_train, *_ = data
    return [GradientBoostingRegressor(loss="quantile", alpha=q, n_estimators=20, max_depth=2,
                                      random_state=0).fit(X_train, y_train)
            for q in (0.05, 0.95, 0.5)]


def test_cqr_equals_mapie_symmetric_correction(data, quantile_models):
    _, _, X_cal, y_cal, X_test = data
    low, high, median = quantile_models
    cqr = ConformalQuantileRegressor(low, high).fit(X_cal, y_cal)
    ours = cqr.predict_interval(X_test, alpha=0.1)
    theirs = ConformalizedQuantileRegressor([low, high, median], confidence_level=0.9,
                                            prefit=True).conformalize(X_cal, y_cal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MAPIE warns when a band is crossed
        _, symmetric = theirs.predict_interval(X_test, symmetric_correction=True)
        _, asymmetric = theirs.predict_interval(X_test)
    for a, b in zip(ours, _mapie_bounds(symmetric), strict=True):
        np.testing.assert_allclose(a, b[:, 0], rtol=0, atol=1e-12)
    # MAPIE's default: each side corrected by its own conformal quantile at alpha / 2
    lo_cal, hi_cal = low.predict(X_cal), high.predict(X_cal)
    n = len(y_cal)
    q_lo = conformal_threshold(np.sort(lo_cal - y_cal), np.ones(n), 0.05)
    q_hi = conformal_threshold(np.sort(y_cal - hi_cal), np.ones(n), 0.05)
    lower, upper = _mapie_bounds(asymmetric)
    np.testing.assert_allclose(lower[:, 0], low.predict(X_test) - q_lo, rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper[:, 0], high.predict(X_test) + q_hi, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cv", ["loo", 4])
def test_jackknife_plus_and_cv_plus_equal_mapie(data, cv):
    X_train, y_train, *_, X_test = data
    X_train, y_train = X_train[:40], y_train[:40]
    ours = JackknifePlusRegressor(LinearRegression(), cv=cv, random_state=0).fit(X_train, y_train)
    splitter = LeaveOneOut() if cv == "loo" else PredefinedSplit(ours.folds_)  # the same folds
    theirs = CrossConformalRegressor(LinearRegression(), confidence_level=[1 - a for a in ALPHAS],
                                     method="plus", cv=splitter).fit_conformalize(X_train, y_train)
    _, intervals = theirs.predict_interval(X_test, aggregate_point_predictions=None)
    for a, b in zip(ours.predict_interval(X_test, alpha=ALPHAS), _mapie_bounds(intervals),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
