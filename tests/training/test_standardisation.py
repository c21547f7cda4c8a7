"""Scale-safe standardisation (issue 17, item 2) in every family of the shared pipeline.

A column is constant only when its spread is zero or within float64 rounding of its magnitude;
moments are computed without overflow; targets whose spread would make the back-transform
overflow or underflow are refused at fit; features that overflow the model's dtype after scaling
are refused at predict; predictions come back in the user's units.
"""

from __future__ import annotations

import numpy as np
import pytest

from uqkit._data import Standardizer
from uqkit.bayes import BayesianMLPRegressor, GPRegressor
from uqkit.dca import DCARegressor
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.evidential import EvidentialRegressor
from uqkit.exceptions import InvalidInputError

FAMILIES = {
    "de": (DeepEnsembleRegressor, {"n_members": 2}),
    "evidential": (EvidentialRegressor, {}),
    "dca": (DCARegressor, {"n_instances": 2, "n_train_proposals": 1}),
    # the Bayesian families: the same Standardizer, target-range check and float32 input check
    "gp": (GPRegressor, {"dtype": "float32"}),
    "bnn": (BayesianMLPRegressor, {"hidden_layers": (16,), "n_samples": 8}),
}
# families that score X_val only after fit (no early stopping), where it is checked as X
SCORED_AFTER_FIT = {"gp", "bnn"}


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    return X, X @ np.array([1.0, -1.0, 0.5]) + 3.0 + 0.3 * rng.normal(size=150)


def _fit(family, X, y):
    cls, extra = FAMILIES[family]
    model = cls(epochs=10, lr=1e-2, random_state=0, device="cpu", verbose=0, **extra)
    return model.fit(X, y)


# -- the Standardizer ------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [1.0, 1e-13, 1e-200, 1e60, 1e200])
@pytest.mark.parametrize("mode", ["column", "global"])
def test_standardizer_is_scale_equivariant(factor, mode):
    values = _data()[1][:, None]
    reference = Standardizer.fit(values, mode=mode)
    scaled = Standardizer.fit(values * factor, mode=mode)
    np.testing.assert_allclose(scaled.scale, reference.scale * factor, rtol=1e-12)
    np.testing.assert_allclose(scaled.mean, reference.mean * factor, rtol=1e-12)
    np.testing.assert_allclose(scaled.transform(values * factor), reference.transform(values),
                               atol=1e-12)


def test_standardizer_constant_columns_are_relative_to_their_magnitude():
    columns = np.column_stack([
        np.full(50, 7.0),  # exactly constant
        np.full(50, 1e6) + np.linspace(0, 1, 50) * 1e6 * 1e-16,  # rounding noise on a constant
        np.linspace(0, 1, 50) * 1e-13,  # a tiny but real signal
        np.zeros(50),
    ])
    scaler = Standardizer.fit(columns)
    assert scaler.scale[0] == 1.0 and scaler.scale[1] == 1.0 and scaler.scale[3] == 1.0
    assert scaler.scale[2] == pytest.approx(columns[:, 2].std(), rel=1e-12)


# -- the estimators --------------------------------------------------------------------------
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("factor", [1e-13, 1e60])
def test_tiny_or_huge_targets_predict_as_well_as_y(family, factor):
    # issue 17: y * 1e-13 was treated as constant (R^2 = -9.9e21 for deep ensembles)
    X, y = _data()
    reference = _fit(family, X, y).predict_uncertainty(X)
    pred = _fit(family, X, y * factor).predict_uncertainty(X)
    np.testing.assert_allclose(pred.mean, reference.mean * factor, rtol=1e-6)
    np.testing.assert_allclose(pred.total, reference.total * factor**2, rtol=1e-6)
    assert 1 - np.mean((pred.mean - y * factor) ** 2) / np.var(y * factor) > 0.5


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_tiny_feature_is_scaled_not_dropped(family):
    X, y = _data()
    reference = _fit(family, X, y).predict(X)
    np.testing.assert_allclose(_fit(family, X * 1e-13, y).predict(X * 1e-13), reference,
                               rtol=1e-6)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("factor", [1e200, 1e-200])
def test_targets_whose_variance_cannot_be_represented_are_refused_at_fit(family, factor):
    # issue 17: y * 1e200 predicted [inf, -inf, inf]
    X, y = _data()
    with pytest.raises(InvalidInputError, match=r"y column 0 .*standard deviation.*Rescale y"):
        _fit(family, X, y * factor)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_features_that_overflow_float32_are_refused_at_predict(family):
    # issue 17: predicting on X = 1e39 gave NaN
    X, y = _data()
    model = _fit(family, X, y)
    with pytest.raises(InvalidInputError, match=r"X\[0, 1\] = 1e\+39 .*column 1 \(mean .*float32"):
        model.predict_uncertainty(np.column_stack([X[:2, 0], [1e39, 0.0], X[:2, 2]]))
    match = "X" if family in SCORED_AFTER_FIT else "X_val"
    with pytest.raises(InvalidInputError, match=match):
        type(model)(**model.get_params()).fit(X, y, X_val=np.full((3, 3), 1e39), y_val=y[:3])
