"""scikit-learn's plumbing on every registered estimator (issue 18, items 1 and 4).

For each class of :func:`uqkit.utils.all_estimators` that predicts from a feature matrix:

* a regressor's ``predict(X, return_std=True)`` is ``(mean, std)`` of its own
  ``predict_uncertainty(X)`` (the convention ``Pipeline.predict`` forwards), and
  ``predict(X)`` alone is still the plain mean array;
* ``predict_uncertainty`` of a DataFrame carries the DataFrame's index into the prediction, and
  ``to_frame()`` keeps it; ``uqkit.predict_uncertainty(model, X)`` returns the same prediction;
* a regressor's prediction gives several interval levels at once, each column equal to that
  level asked for alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import uqkit
from tests.helpers import MARKS, make_case
from uqkit.prediction import RegressionPrediction
from uqkit.utils import all_estimators

CLASSES = [
    pytest.param(cls, id=name, marks=MARKS.get(name, []))
    for name, cls in all_estimators()
    if name not in ("GloVe", "GloVeV", "BayesianLoRA")  # no feature matrix to predict on
]


def _frame(X: np.ndarray) -> pd.DataFrame:
    # integer column labels: scikit-learn reads them as "no feature names", like the fit's array
    return pd.DataFrame(X, index=pd.Index(np.arange(len(X)) * 10 + 7, name="row"))


def _case(cls):
    case = make_case(cls)
    if not case.tabular or case.predict_args is None:
        pytest.skip("fit takes no feature matrix")
    return case


@pytest.mark.parametrize("cls", CLASSES)
def test_predict_return_std_is_the_mean_and_total_std(cls, fitted):
    case, model = fitted(cls)
    if case.kind != "regressor":
        pytest.skip("a classifier has predict_proba instead")
    (X,) = case.predict_args
    pred = model.predict_uncertainty(X)
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_array_equal(mean, pred.mean)
    np.testing.assert_array_equal(std, np.sqrt(pred.aleatoric + pred.epistemic))
    assert isinstance(model.predict(X), np.ndarray)


@pytest.mark.parametrize("cls", CLASSES)
def test_a_dataframe_index_reaches_the_prediction_and_its_frame(cls, fitted):
    case, model = fitted(cls)
    if not case.tabular:
        pytest.skip("fit takes no feature matrix")
    (X,) = case.predict_args
    frame = _frame(np.asarray(X))
    pred = model.predict_uncertainty(frame)
    assert pred.index is not None and pred.index.equals(frame.index)
    table = pred.to_frame()
    assert table.index.equals(frame.index) and table.index.name == "row"
    assert model.predict_uncertainty(X).index is None  # arrays have no row labels
    via_function = uqkit.predict_uncertainty(model, frame)
    np.testing.assert_array_equal(np.asarray(via_function.mean if isinstance(
        pred, RegressionPrediction) else via_function.probs), np.asarray(
        pred.mean if isinstance(pred, RegressionPrediction) else pred.probs))
    assert via_function.index.equals(frame.index)
    assert pred[2:5].index.equals(frame.index[2:5])


@pytest.mark.parametrize("cls", CLASSES)
def test_several_interval_levels_equal_one_level_at_a_time(cls, fitted):
    case, model = fitted(cls)
    if case.kind != "regressor":
        pytest.skip("intervals are for regressors")
    (X,) = case.predict_args
    pred = model.predict_uncertainty(X)
    levels = [0.5, 0.2, 0.1]
    lower, upper = pred.interval(levels)
    assert lower.shape == (*np.shape(pred.mean), 3)
    for j, alpha in enumerate(levels):
        lo, hi = pred.interval(alpha)
        np.testing.assert_allclose(lower[..., j], lo, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(upper[..., j], hi, rtol=1e-12, atol=1e-12)
    # nested: a smaller miscoverage gives a wider interval
    assert np.all(np.diff(lower, axis=-1) <= 1e-12) and np.all(np.diff(upper, axis=-1) >= -1e-12)
