"""``epochs="auto"``: a budget of optimiser steps per member, turned into epochs at fit time."""

from __future__ import annotations

import math

import pytest
from sklearn.utils._param_validation import InvalidParameterError

from tests.helpers import sine_data
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.evidential import EvidentialRegressor
from uqkit.training import _stacked_estimator
from uqkit.training._stacked_estimator import AUTO_MAX_EPOCHS, AUTO_STEPS, auto_epochs


@pytest.mark.parametrize("n_train", [1, 99, 100, 101, 900, 37_041, 10**7])
@pytest.mark.parametrize("batch_size", [1, 64, 100])
def test_auto_epochs_is_the_step_budget_over_the_steps_per_epoch(n_train, batch_size):
    steps_per_epoch = math.ceil(n_train / batch_size)
    epochs = auto_epochs(n_train, batch_size)
    assert epochs == min(AUTO_MAX_EPOCHS, max(1, math.ceil(AUTO_STEPS / steps_per_epoch)))
    # at least the budget, less than one more epoch of it (where the cap does not bind)
    if epochs < AUTO_MAX_EPOCHS:
        assert epochs * steps_per_epoch >= AUTO_STEPS or epochs == 1
        assert (epochs - 1) * steps_per_epoch < AUTO_STEPS


def test_defaults_are_the_measured_ones():
    params = DeepEnsembleRegressor().get_params()
    assert (params["lr"], params["epochs"], params["patience"]) == (0.01, "auto", 50)


@pytest.mark.parametrize("cls", [DeepEnsembleRegressor, EvidentialRegressor])
def test_auto_trains_the_budgeted_epochs(cls, monkeypatch):
    # 30 steps at 10 steps per epoch (200 rows, batch 20): exactly 3 epochs without early stopping
    monkeypatch.setattr(_stacked_estimator, "AUTO_STEPS", 30)
    X, y = sine_data(200)
    extra = {"n_members": 2} if cls is DeepEnsembleRegressor else {}
    model = cls(epochs="auto", batch_size=20, early_stopping=False, hidden_layers=(8,),
                verbose=0, random_state=0, **extra).fit(X, y)
    history = model.history_ if isinstance(model.history_, list) else [model.history_]
    assert [h["epochs"] for h in history] == [3] * len(history)


def test_other_strings_are_refused():
    X, y = sine_data(50)
    with pytest.raises(InvalidParameterError, match="'epochs' parameter"):
        DeepEnsembleRegressor(epochs="many").fit(X, y)
