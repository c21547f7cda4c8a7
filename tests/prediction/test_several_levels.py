"""Several interval levels at once, and the row labels a prediction carries into to_frame."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tests.calibration.dummies import LinearGaussianRegressor, heteroscedastic
from uqkit.exceptions import InvalidInputError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

rng = np.random.default_rng(0)
PREDICTIONS = {
    "normal": RegressionPrediction.normal(rng.normal(size=6), rng.uniform(0.5, 2, size=6)),
    "mixture": RegressionPrediction.mixture(rng.normal(size=(3, 6)), rng.uniform(0.1, 1, (3, 6))),
    "student_t": RegressionPrediction.student_t(np.zeros(6), np.ones(6), np.full(6, 3.0),
                                                np.full(6, 2.0), np.ones(6)),
    "multi_output": RegressionPrediction.mixture(rng.normal(size=(2, 6, 2)),
                                                 rng.uniform(0.1, 1, (2, 6, 2))),
}


@pytest.mark.parametrize("name", sorted(PREDICTIONS))
def test_several_levels_equal_each_level_alone_and_are_nested(name):
    pred = PREDICTIONS[name]
    alphas = [0.5, 0.2, 0.1, 0.05]
    lower, upper = pred.interval(alphas)
    assert lower.shape == upper.shape == (*np.shape(pred.mean), 4)
    for j, alpha in enumerate(alphas):
        lo, hi = pred.interval(alpha)
        np.testing.assert_allclose(lower[..., j], lo, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(upper[..., j], hi, rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(lower, axis=-1) < 0) and np.all(np.diff(upper, axis=-1) > 0)
    by_coverage = pred.interval(coverage=[0.5, 0.8, 0.9, 0.95])
    np.testing.assert_allclose(by_coverage[0], lower, rtol=1e-12, atol=1e-12)


def test_every_level_of_a_sequence_is_checked():
    pred = PREDICTIONS["normal"]
    with pytest.raises(InvalidInputError, match=r"did you mean alpha=0\.1"):
        pred.interval([0.2, 0.9])
    with pytest.raises(InvalidInputError, match="coverage must lie in"):
        pred.interval(coverage=[0.8, 1.0])
    with pytest.raises(InvalidInputError, match="non-empty"):
        pred.interval([])
    with pytest.raises(InvalidInputError, match="flat"):
        pred.interval([[0.1, 0.2]])


def test_a_scalar_level_keeps_the_shape_of_the_mean():
    pred = PREDICTIONS["multi_output"]
    lower, upper = pred.interval(0.1)
    assert lower.shape == upper.shape == np.shape(pred.mean)


def test_the_estimator_mixin_takes_several_levels():
    X, y = heteroscedastic(200, 0)
    model = LinearGaussianRegressor().fit(X, y)
    lower, upper = model.predict_interval(X, coverage=[0.8, 0.9])
    lo, hi = model.predict_interval(X, alpha=0.1)
    assert lower.shape == (200, 2)
    np.testing.assert_allclose(lower[:, 1], lo, rtol=1e-12)
    np.testing.assert_allclose(upper[:, 1], hi, rtol=1e-12)
    with pytest.raises(InvalidInputError, match="alpha is the miscoverage"):
        model.predict_interval(X, alpha=[0.1, 0.8])


def test_to_frame_keeps_the_index_and_names_the_outputs():
    index = pd.Index(["r0", "r1", "r2", "r3", "r4", "r5"], name="id")
    pred = PREDICTIONS["multi_output"]
    labelled = replace(pred, index=index)
    frame = labelled.to_frame([0.2, 0.1], output_names=["price", "volume"])
    assert frame.index.equals(index)
    assert {"mean_price", "lower_80_volume", "upper_90_price"} <= set(frame.columns)
    np.testing.assert_allclose(frame["upper_90_price"], pred.interval(0.1)[1][:, 0])
    assert labelled[1:3].index.tolist() == ["r1", "r2"]
    assert labelled.output(1).index.equals(index)
    assert labelled[2].index is None  # one row has no index
    with pytest.raises(InvalidInputError, match="row labels"):
        replace(pred, index=index[:3])
    with pytest.raises(InvalidInputError, match="2 outputs"):
        pred.to_frame(output_names=["a"])


def test_a_level_that_is_not_a_whole_percent_keeps_its_digits():
    frame = PREDICTIONS["normal"].to_frame(coverage=[0.975, 0.9])
    assert "lower_97.5" in frame.columns and "upper_90" in frame.columns


def test_a_classification_prediction_keeps_its_index():
    index = pd.RangeIndex(10, 13)
    pred = ClassificationPrediction(np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]]), index=index)
    assert pred.to_frame().index.equals(index)
    assert pred[1:].index.tolist() == [11, 12]
