"""AutoDEUQ selection that ends with fewer distinct members than asked warns and says why;
``min_members`` forces a floor (top-k fill-up by validation NLL). The search is replaced by
in-process trials whose validation predictions are then set so that one network is far
better than the others (greedy selection then keeps it alone)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import uqkit.search
from tests.helpers import in_process_trials
from uqkit.ensemble import (
    AutoDEUQRegressor,
    SelectionWarning,
    greedy_selection,
    member_log_likelihoods,
)
from uqkit.exceptions import InvalidInputError

pytest.importorskip("ray")  # fit checks that the search extra is installed (no cluster starts)

SPACE = {"max_layers": 1, "units": [8, 8], "epochs": 2, "patience": 2, "dropout": [0.0, 0.0]}


def _one_dominant_search(data, setup, *, n_trials, storage_path, **_):
    """Real trials, then validation predictions rewritten: trial 0 is exact and sharp, the
    others are off by 3 standard deviations, so no addition lowers the mixture NLL."""
    records = in_process_trials(data, setup, n_trials, storage_path)
    y_val = np.asarray(data["y_val"], dtype=np.float64)
    for i, record in enumerate(records):
        record["predictions"] = {"val_mean": y_val + (0.0 if i == 0 else 3.0 + i),
                                 "val_var": np.full_like(y_val, 0.01)}
    return records, []


@pytest.fixture(autouse=True)
def local_search(monkeypatch):
    monkeypatch.setattr(uqkit.search, "run_search", _one_dominant_search)


def _data(n=120):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    return X, X[:, 0] + 0.1 * rng.normal(size=n)


def _fit(**params):
    X, y = _data()
    model = AutoDEUQRegressor(**{"n_trials": 4, "ensemble_size": 3, "space": SPACE,
                                 "random_state": 0, "device": "cpu", **params})
    return model.fit(X, y), X


def test_one_member_ensemble_warns_and_says_why():
    with pytest.warns(SelectionWarning) as caught:
        model, X = _fit()
    (warning,) = [w for w in caught if issubclass(w.category, SelectionWarning)]
    message = str(warning.message)
    assert "1 distinct member" in message and "ensemble_size=3" in message
    assert "epistemic variance is zero" in message
    assert "no catalog network whose addition lowers the validation NLL" in message
    assert "min_members=3" in message
    assert warning.filename == __file__  # stacklevel points at the caller
    assert len(model.members_) == 1
    np.testing.assert_array_equal(model.predict_uncertainty(X[:5]).epistemic, 0.0)


def test_min_members_forces_distinct_members_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SelectionWarning)
        model, X = _fit(min_members=3)
    # the dominant trial first, then the best remaining by validation NLL, one vote each
    assert model.selected_rows_ == [0, 1, 2]
    np.testing.assert_allclose(model.weights_, [1 / 3] * 3)
    assert model.predict_uncertainty(X[:5]).epistemic.min() > 0
    assert len(model.selection_path_) == 3  # the greedy start and two fill-up steps


def test_a_catalog_smaller_than_the_ensemble_warns():
    with pytest.warns(SelectionWarning, match="catalog holds only 2 finished trial"):
        model, _ = _fit(n_trials=2, min_members=3)
    assert len(model.members_) == 2


def test_min_members_above_ensemble_size_is_refused():
    with pytest.raises(InvalidInputError, match="min_members=4 exceeds ensemble_size=3"):
        _fit(min_members=4)
    with pytest.raises(ValueError, match="min_members"):
        _fit(min_members=0)


def test_greedy_fill_up_and_stop_reasons():
    y = np.zeros(20)
    means = np.stack([np.zeros(20), np.full(20, 3.0), np.full(20, 2.0), np.full(20, 4.0)])
    ll = member_log_likelihoods(means, np.full((4, 20), 0.1), y)
    alone = greedy_selection(ll, 3)
    assert alone.indices.tolist() == [0] and alone["stopped"] == "no_gain"
    forced = greedy_selection(ll, 3, min_members=3)
    assert forced.indices.tolist() == [0, 2, 1] and forced["filled"] == 2
    assert forced["counts"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert greedy_selection(ll[:2], 3)["stopped"] in {"catalog", "no_gain"}
    with pytest.raises(InvalidInputError, match="min_members"):
        greedy_selection(ll, 3, min_members=4)
