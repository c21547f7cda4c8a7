"""uqkit.predict_uncertainty on scikit-learn's meta-estimators, foreign models and arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, WhiteKernel
from sklearn.linear_model import BayesianRidge, LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, StandardScaler

import uqkit
from tests.calibration.dummies import LinearGaussianRegressor, blobs, heteroscedastic
from tests.helpers import QUICK
from uqkit.calibration import (
    ConformalClassifier,
    ConformalRegressor,
    IsotonicCalibration,
    TemperatureScaling,
    VarianceScaling,
)
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.report import report


@pytest.fixture(scope="module")
def data():
    X, y = heteroscedastic(300, 0)
    return X * np.array([100.0, 0.01]) + 5.0, 40.0 * y - 3.0  # far from unit scale


def _assert_same_prediction(got: RegressionPrediction, expected: RegressionPrediction, rtol=1e-10):
    assert got.distribution == expected.distribution
    for name in ("mean", "aleatoric", "epistemic"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=rtol,
                                   atol=1e-12, err_msg=name)


# ------------------------------------------------------------------ Pipeline and searches
def test_deep_ensemble_in_a_pipeline_equals_the_inner_model_on_transformed_X(data):
    X, y = data[0][:120], data[1][:120]
    settings = {**QUICK["DeepEnsembleRegressor"], "epochs": 5, "hidden_layers": (8,)}
    pipe = make_pipeline(StandardScaler(), DeepEnsembleRegressor(**settings))
    pipe.fit(X, y)
    scaler, inner = pipe[0], pipe[-1]
    Xt = scaler.transform(X)
    expected = inner.predict_uncertainty(Xt)
    mean, std = pipe.predict(X, return_std=True)  # scikit-learn forwards return_std
    np.testing.assert_allclose(mean, expected.mean, rtol=1e-12)
    np.testing.assert_allclose(std, expected.std(), rtol=1e-12)
    pred = uqkit.predict_uncertainty(pipe, X)
    assert pred.distribution == "mixture"
    _assert_same_prediction(pred, expected, rtol=1e-12)
    np.testing.assert_allclose(pred.member_means, expected.member_means, rtol=1e-12)


def test_grid_search_gives_its_best_estimators_prediction(data):
    X, y = data
    search = GridSearchCV(
        make_pipeline(StandardScaler(), LinearGaussianRegressor()),
        {"lineargaussianregressor__std_factor": [0.5, 1.0]}, cv=2,
    ).fit(X, y)
    best = search.best_estimator_
    expected = best[-1].predict_uncertainty(best[0].transform(X))
    _assert_same_prediction(uqkit.predict_uncertainty(search, X), expected)
    # GridSearchCV.predict takes no return_std (scikit-learn 1.9); its best estimator does
    _, std = search.best_estimator_.predict(X, return_std=True)
    np.testing.assert_allclose(std, expected.std(), rtol=1e-12)


def test_a_search_without_refit_is_refused_with_the_fix(data):
    X, y = data
    search = GridSearchCV(LinearGaussianRegressor(), {"std_factor": [1.0, 2.0]}, cv=2,
                          refit=False).fit(X, y)
    with pytest.raises(InvalidInputError, match="refit=True"):
        uqkit.predict_uncertainty(search, X)


def test_an_unfitted_pipeline_raises_not_fitted(data):
    X, _ = data
    with pytest.raises(NotFittedError, match="not fitted"):
        uqkit.predict_uncertainty(make_pipeline(StandardScaler(), LinearGaussianRegressor()), X)


# ------------------------------------------------------------------ TransformedTargetRegressor
@pytest.mark.parametrize("transformer", [StandardScaler(), MinMaxScaler((-3, 2))])
def test_an_affine_target_transform_is_mapped_back_exactly(data, transformer):
    X, y = data
    ttr = TransformedTargetRegressor(LinearGaussianRegressor(), transformer=transformer)
    ttr.fit(X, y)
    inner = ttr.regressor_.predict_uncertainty(X)
    z = inner.mean[:, None]
    # the inverse map computed by scikit-learn itself, and its slope from two points
    back = ttr.transformer_.inverse_transform(z)[:, 0]
    slope = (ttr.transformer_.inverse_transform([[1.0]]) - ttr.transformer_.inverse_transform(
        [[0.0]]))[0, 0]
    pred = uqkit.predict_uncertainty(ttr, X)
    np.testing.assert_allclose(pred.mean, back, rtol=1e-12)
    np.testing.assert_allclose(pred.mean, ttr.predict(X), rtol=1e-12)
    np.testing.assert_allclose(pred.aleatoric, inner.aleatoric * slope**2, rtol=1e-12)
    lower, upper = pred.interval(0.1)
    lo_z, hi_z = inner.interval(0.1)
    np.testing.assert_allclose(lower, ttr.transformer_.inverse_transform(lo_z[:, None])[:, 0],
                               rtol=1e-10)
    np.testing.assert_allclose(upper, ttr.transformer_.inverse_transform(hi_z[:, None])[:, 0],
                               rtol=1e-10)


def test_scikit_learn_own_ttr_cannot_forward_return_std(data):
    """Why predict_uncertainty handles TransformedTargetRegressor itself: scikit-learn 1.9 passes
    return_std to the regressor, then inverse-transforms the (mean, std) tuple and fails. If this
    test starts failing, scikit-learn learned it: update docs/sklearn.md."""
    X, y = data
    ttr = TransformedTargetRegressor(LinearGaussianRegressor(), transformer=StandardScaler())
    with pytest.raises(AttributeError, match="tuple"):
        ttr.fit(X, y).predict(X, return_std=True)


def test_a_multi_output_target_transform_scales_each_column():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    Y = np.c_[X[:, 0] * 50 + 3, X[:, 1] * 0.1 - 7] + rng.normal(size=(80, 2))
    # BayesianRidge is single-output: a multi-output regressor with return_std is a GP
    ttr = TransformedTargetRegressor(
        GaussianProcessRegressor(RBF() + WhiteKernel(), random_state=0),
        transformer=StandardScaler(),
    ).fit(X, Y)
    mean_z, std_z = ttr.regressor_.predict(X, return_std=True)
    pred = uqkit.predict_uncertainty(ttr, X)
    scale, shift = ttr.transformer_.scale_, ttr.transformer_.mean_
    np.testing.assert_allclose(pred.mean, mean_z * scale + shift, rtol=1e-12)
    np.testing.assert_allclose(pred.total, std_z**2 * scale**2, rtol=1e-12)


def test_a_non_linear_target_transform_is_refused_naming_it(data):
    X, y = data
    log = TransformedTargetRegressor(LinearGaussianRegressor(), func=np.log1p,
                                     inverse_func=np.expm1, check_inverse=False)
    log.fit(X, np.abs(y))
    with pytest.raises(InvalidInputError, match=r"func=log1p, inverse_func=expm1.*not affine"):
        uqkit.predict_uncertainty(log, X)
    quantile = TransformedTargetRegressor(
        LinearGaussianRegressor(), transformer=QuantileTransformer(n_quantiles=50)
    ).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"QuantileTransformer.*StandardScaler"):
        uqkit.predict_uncertainty(quantile, X)


# ------------------------------------------------------------------ foreign models, arrays
def test_a_gaussian_process_gives_its_own_mean_and_std():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(40, 1))
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=40)
    gp = GaussianProcessRegressor(RBF() + WhiteKernel(), random_state=0).fit(X, y)
    mean, std = gp.predict(X, return_std=True)
    pred = uqkit.predict_uncertainty(gp, X)
    np.testing.assert_allclose(pred.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(pred.std(), std, rtol=1e-12)
    np.testing.assert_array_equal(pred.epistemic, 0.0)  # the split of a GP is not known


def test_bayesian_ridge_splits_noise_from_weight_uncertainty():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 2))
    y = X @ [1.0, -1.0] + 0.5 * rng.normal(size=60)
    model = BayesianRidge().fit(X, y)
    mean, std = model.predict(X, return_std=True)
    pred = uqkit.predict_uncertainty(model, X)
    np.testing.assert_allclose(pred.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(pred.std(), std, rtol=1e-12)
    np.testing.assert_allclose(pred.aleatoric, 1.0 / model.alpha_, rtol=1e-12)
    # Tipping 2001, Eq. 22: the weight part is x' Sigma x
    centered = X - model.X_offset_
    np.testing.assert_allclose(
        pred.epistemic, np.einsum("ij,jk,ik->i", centered, model.sigma_, centered), rtol=1e-8
    )


def test_a_classifier_gives_its_probabilities_and_classes():
    X, y = blobs(150, 0)
    clf = LogisticRegression().fit(X, y)
    pred = uqkit.predict_uncertainty(clf, X)
    assert isinstance(pred, ClassificationPrediction)
    np.testing.assert_array_equal(pred.probs, clf.predict_proba(X))
    np.testing.assert_array_equal(pred.label, clf.predict(X))
    assert pred.classes.tolist() == ["a", "b", "c"]


def test_a_point_model_is_refused_with_the_conformal_wrapper_named(data):
    X, y = data
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"gives no uncertainty.*ConformalRegressor"):
        uqkit.predict_uncertainty(forest, X)
    with pytest.raises(InvalidInputError, match="no uncertainty"):
        uqkit.predict_uncertainty(LinearRegression().fit(X, y), X)


def test_arrays_are_read_as_predictions():
    pred = uqkit.predict_uncertainty((np.zeros(3), np.full(3, 2.0)))
    np.testing.assert_array_equal(pred.total, 4.0)
    probs = uqkit.predict_uncertainty(np.array([[0.2, 0.8], [0.5, 0.5]]))
    assert isinstance(probs, ClassificationPrediction)
    with pytest.raises(InvalidInputError, match="X is required"):
        uqkit.predict_uncertainty(LinearGaussianRegressor())


def test_a_dataframe_index_is_carried_for_foreign_models_too():
    X, y = blobs(60, 0)
    frame = pd.DataFrame(X, index=pd.RangeIndex(100, 160, name="id"))
    pred = uqkit.predict_uncertainty(LogisticRegression().fit(X, y), frame)
    assert pred.to_frame().index.equals(frame.index)


# ------------------------------------------------------------------ report and recalibrators
def test_report_takes_a_pipeline_a_gaussian_process_and_refuses_a_forest(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), LinearGaussianRegressor()).fit(X, y)
    gp = make_pipeline(StandardScaler(), GaussianProcessRegressor(RBF() + WhiteKernel()))
    gp.fit(X[:100], y[:100])
    rep = report({"pipe": pipe, "gp": gp}, X, y)
    expected = pipe[-1].predict_uncertainty(pipe[0].transform(X)).nll(y)
    assert rep.summary().loc["pipe", "nll"] == pytest.approx(expected, rel=1e-12)
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(InvalidInputError, match="ConformalRegressor"):
        report(forest, X, y)
    mean, std = pipe.predict(X, return_std=True)
    pair = report((mean, std), None, y)
    assert pair.summary()["nll"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_recalibrators_wrap_a_pipeline(data):
    X, y = data
    X_cal, y_cal = heteroscedastic(300, 1)
    X_cal, y_cal = X_cal * np.array([100.0, 0.01]) + 5.0, 40.0 * y_cal - 3.0
    pipe = make_pipeline(StandardScaler(), LinearGaussianRegressor(std_factor=0.7)).fit(X, y)
    for cls in (VarianceScaling, IsotonicCalibration):
        calibrator = cls(estimator=pipe).fit(X_cal, y_cal)
        reference = cls().fit_prediction(uqkit.predict_uncertainty(pipe, X_cal), y_cal)
        _assert_same_prediction(calibrator.predict_uncertainty(X),
                                reference.calibrate(uqkit.predict_uncertainty(pipe, X)))
        assert calibrator.n_features_in_ == 2
    with pytest.raises(NotFittedError, match="not fitted"):
        VarianceScaling(make_pipeline(StandardScaler(), LinearGaussianRegressor())).fit(X, y)


def test_temperature_scaling_wraps_a_foreign_classifier():
    X, y = blobs(300, 0)
    X_cal, y_cal = blobs(300, 1)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=100.0)).fit(X, y)
    scaled = TemperatureScaling(clf).fit(X_cal, y_cal)
    reference = TemperatureScaling().fit_prediction(uqkit.predict_uncertainty(clf, X_cal), y_cal)
    np.testing.assert_allclose(
        scaled.predict_proba(X),
        reference.calibrate(uqkit.predict_uncertainty(clf, X)).probs, rtol=1e-12,
    )


def test_conformal_wrappers_take_a_search_and_a_foreign_classifier(data):
    X, y = data
    X_cal, y_cal = heteroscedastic(300, 1)
    X_cal, y_cal = X_cal * np.array([100.0, 0.01]) + 5.0, 40.0 * y_cal - 3.0
    search = GridSearchCV(make_pipeline(StandardScaler(), LinearGaussianRegressor()),
                          {"lineargaussianregressor__std_factor": [0.5, 1.0]}, cv=2).fit(X, y)
    wrapped = ConformalRegressor(search).fit(X_cal, y_cal)
    reference = ConformalRegressor().fit_prediction(uqkit.predict_uncertainty(search, X_cal), y_cal)
    assert wrapped.conformal_quantile(0.1) == reference.conformal_quantile(0.1)
    lower, upper = wrapped.predict_interval(X, 0.1)
    expected = reference.interval(uqkit.predict_uncertainty(search, X), 0.1)
    np.testing.assert_allclose(lower, expected[0], rtol=1e-12)
    np.testing.assert_allclose(upper, expected[1], rtol=1e-12)
    Xc, yc = blobs(200, 0)
    clf = LogisticRegression().fit(Xc, yc)
    sets = ConformalClassifier(clf).fit(*blobs(200, 1))
    np.testing.assert_array_equal(sets.predict_proba(Xc), clf.predict_proba(Xc))
