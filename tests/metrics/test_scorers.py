"""The uncertainty scorers: values, sign, and model selection with scikit-learn's tools."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.calibration.dummies import LinearGaussianRegressor, blobs, heteroscedastic
from uqkit.exceptions import InvalidInputError
from uqkit.metrics import (
    crps,
    crps_scorer,
    ece_scorer,
    expected_calibration_error,
    interval_score,
    interval_score_scorer,
    make_interval_score_scorer,
    miscalibration_area,
    nll,
    nll_scorer,
)
from uqkit.prediction import RegressionPrediction


class ShiftedGaussian(RegressorMixin, BaseEstimator):
    """Least squares plus a fixed ``bias``, with a fixed predictive ``std`` (a foreign model with
    scikit-learn's ``return_std``): the mean decides R², the std decides the NLL."""

    def __init__(self, bias: float = 0.0, std: float = 1.0):
        self.bias = bias
        self.std = std

    def fit(self, X, y):
        design = np.c_[np.ones(len(X)), X]
        self.coef_ = np.linalg.lstsq(design, y, rcond=None)[0]
        return self

    def predict(self, X, return_std: bool = False):
        mean = np.c_[np.ones(len(X)), X] @ self.coef_ + self.bias
        if return_std:
            return mean, np.full(len(X), float(self.std))
        return mean


@pytest.fixture(scope="module")
def linear():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    return X, X @ [2.0, -1.0] + rng.normal(size=400)  # noise std exactly 1


def test_grid_search_with_nll_picks_the_calibrated_candidate_where_r2_does_not(linear):
    X, y = linear
    # candidate 0: the best mean (R² wins) with a std 20 times too small;
    # candidate 1: a mean shifted by 0.3 noise std with the true std of 1
    grid = [{"bias": [0.0], "std": [0.05]}, {"bias": [0.3], "std": [1.0]}]
    cv = KFold(4, shuffle=True, random_state=0)
    by_r2 = GridSearchCV(ShiftedGaussian(), grid, cv=cv).fit(X, y)
    by_nll = GridSearchCV(ShiftedGaussian(), grid, cv=cv, scoring=nll_scorer).fit(X, y)
    assert by_r2.best_params_ == {"bias": 0.0, "std": 0.05}
    assert by_nll.best_params_ == {"bias": 0.3, "std": 1.0}
    # the score is the negated NLL: about -(0.5 log 2 pi e + 0.3**2 / 2) for the chosen one
    assert by_nll.best_score_ == pytest.approx(-(0.5 * np.log(2 * np.pi * np.e) + 0.045), abs=0.1)
    assert by_nll.cv_results_["mean_test_score"][0] < -100


def test_scores_are_the_negated_losses_of_the_exact_prediction(linear):
    X, y = linear
    model = LinearGaussianRegressor().fit(X, y)
    pred = model.predict_uncertainty(X)
    assert nll_scorer(model, X, y) == pytest.approx(-nll(pred, y), rel=1e-12)
    assert crps_scorer(model, X, y) == pytest.approx(-crps(pred, y), rel=1e-12)
    assert ece_scorer(model, X, y) == pytest.approx(-miscalibration_area(pred, y), rel=1e-12)
    assert interval_score_scorer(model, X, y) == pytest.approx(-interval_score(pred, y, 0.1))
    assert make_interval_score_scorer(0.2)(model, X, y) == pytest.approx(
        -interval_score(pred, y, 0.2))


def test_a_mixture_is_scored_with_its_own_likelihood_through_a_pipeline():
    """A uqkit model in a Pipeline is scored through predict_uncertainty: the exact mixture NLL,
    not the NLL of the moment-matched Gaussian that predict(X, return_std=True) gives."""

    class TwoComponents(LinearGaussianRegressor):
        def predict_uncertainty(self, X):
            base = super().predict_uncertainty(X)
            return RegressionPrediction.mixture(
                np.stack([base.mean - 1.0, base.mean + 1.0]), np.stack([base.total] * 2))

    X, y = heteroscedastic(200, 0)
    pipe = make_pipeline(StandardScaler(), TwoComponents()).fit(X, y)
    pred = pipe[-1].predict_uncertainty(pipe[0].transform(X))
    assert nll_scorer(pipe, X, y) == pytest.approx(-pred.nll(y), rel=1e-12)
    assert nll_scorer(pipe, X, y) != pytest.approx(-pred.as_normal().nll(y), rel=1e-3)


def test_cross_validate_takes_a_dict_of_scorers(linear):
    X, y = linear
    result = cross_validate(
        make_pipeline(StandardScaler(), LinearGaussianRegressor()), X, y, cv=3,
        scoring={"nll": nll_scorer, "crps": crps_scorer, "interval": interval_score_scorer},
    )
    assert np.all(result["test_nll"] < 0) and np.all(result["test_crps"] < 0)
    assert np.all(np.abs(result["test_nll"] + 1.42) < 0.3)  # N(0, 1) noise: NLL ~ 1.419


def test_classifier_scorers_use_predict_proba_and_classes():
    X, y = blobs(300, 0)
    clf = LogisticRegression().fit(X, y)
    probs = clf.predict_proba(X)
    index = np.searchsorted(clf.classes_, y)
    assert nll_scorer(clf, X, y) == pytest.approx(np.mean(np.log(probs[np.arange(300), index])))
    assert ece_scorer(clf, X, y) == pytest.approx(-expected_calibration_error(probs, index))
    with pytest.raises(InvalidInputError, match="scores regressors"):
        crps_scorer(clf, X, y)


def test_a_model_without_uncertainty_is_refused(linear):
    X, y = linear
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"gives no uncertainty.*ConformalRegressor"):
        nll_scorer(forest, X, y)
