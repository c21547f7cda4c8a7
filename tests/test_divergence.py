"""Divergence is detected wherever it happens (issue 17, item 1).

During training (a non-finite loss), at the end of training (parameters not finite, or a training
loss far above the loss at initialisation: the rule of ``uqkit.training.check_diverged``) and on
every prediction (finite means, finite non-negative variances, finite probabilities), in every
family that trains through the shared pipeline: deep ensembles (each backend), evidential
networks and DCA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uqkit.bayes import BayesianMLPClassifier, BayesianMLPRegressor, GPClassifier, GPRegressor
from uqkit.dca import DCAClassifier, DCARegressor
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.evidential import EvidentialClassifier, EvidentialRegressor
from uqkit.exceptions import DivergenceError
from uqkit.training import check_diverged

FAMILIES = {
    "de-vectorized": (DeepEnsembleRegressor, {"n_members": 2, "backend": "vectorized"}),
    "de-serial": (DeepEnsembleRegressor, {"n_members": 2, "backend": "serial"}),
    "de-classifier": (DeepEnsembleClassifier, {"n_members": 2}),
    "evidential": (EvidentialRegressor, {}),
    "evidential-classifier": (EvidentialClassifier, {}),
    "dca": (DCARegressor, {"n_instances": 2, "n_train_proposals": 1}),
    "dca-classifier": (DCAClassifier, {"n_instances": 2, "n_train_proposals": 1}),
}
REGRESSORS = ["de-vectorized", "de-serial", "evidential", "dca"]


def _data(classifier: bool):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -1.0, 0.5]) + 0.3 * rng.normal(size=200)
    return X, ((X[:, 0] > 0).astype(int) if classifier else y)


def _model(family: str, **params):
    cls, extra = FAMILIES[family]
    return cls(**{"random_state": 0, "device": "cpu", "verbose": 0, **extra, **params})


@pytest.mark.parametrize("lr", [10.0, 1e3])
@pytest.mark.parametrize("family", [*REGRESSORS, "de-classifier"])
def test_a_huge_learning_rate_is_a_divergence_not_a_prediction(family, lr):
    # issue 17: lr=10 gave RMSE 7.5e3 on targets of std 1.6, without a word
    model = _model(family, lr=lr, epochs=20)
    X, y = _data(family == "de-classifier")
    with pytest.raises(DivergenceError, match=r"diverged: .*epoch \d+.*Lower lr"):
        model.fit(X, y)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_blow_up_in_the_last_optimiser_step_is_caught(family):
    # one epoch of one batch: the loss is finite, only the step after it explodes
    model = _model(family, lr=1e20, epochs=1, batch_size=200, early_stopping=False)
    X, y = _data("classifier" in family)
    with pytest.raises(DivergenceError, match=r"diverged: .*after epoch 1.*Lower lr"):
        model.fit(X, y)


def _spoil(model, family: str) -> None:
    module = model.dca_ if family.startswith("dca") else model.stack_
    with torch.no_grad():
        next(module.parameters()).fill_(float("nan"))


BAYES = {
    "gp": (GPRegressor, {"epochs": 5}, "model_"),
    "gp-classifier": (GPClassifier, {"epochs": 5, "n_inducing": 8}, "model_"),
    "bnn": (BayesianMLPRegressor, {"hidden_layers": (8,), "epochs": 2}, "posterior_"),
    "bnn-classifier": (BayesianMLPClassifier, {"hidden_layers": (8,), "epochs": 2}, "posterior_"),
}


@pytest.mark.parametrize("family", list(BAYES))
def test_a_bayesian_prediction_from_non_finite_parameters_is_a_divergence(family):
    """GPs and Bayesian MLPs check their parameters before predicting (and their latent
    moments / posterior draws before a prediction type is built from them): a DivergenceError,
    never GPyTorch's NanError, Pyro's ValueError or the constructor's InvalidInputError."""
    cls, params, attribute = BAYES[family]
    X, y = _data("classifier" in family)
    model = cls(random_state=0, device="cpu", **params).fit(X[:60], y[:60])
    with torch.no_grad():
        next(getattr(model, attribute).parameters()).fill_(float("nan"))
    with pytest.raises(DivergenceError, match=f"{cls.__name__} has non-finite parameters"):
        model.predict_uncertainty(X[:5])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_prediction_from_non_finite_weights_is_refused(family):
    X, y = _data("classifier" in family)
    model = _model(family, epochs=2).fit(X, y)
    _spoil(model, family)
    with pytest.raises(DivergenceError, match="non-finite output"):
        model.predict_uncertainty(X[:5])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_sane_fit_is_not_called_a_divergence(family):
    X, y = _data("classifier" in family)
    pred = _model(family, epochs=10, lr=1e-2).fit(X, y).predict_uncertainty(X)
    values = pred.probs if "classifier" in family else pred.mean
    assert np.isfinite(values).all()


def test_the_divergence_rule():
    # worse than the random start by more than the margin: diverged; better or level: not
    check_diverged([1.4, -3.0], [0.2, -2.5], members=[0, 1], epochs=[9, 9], lr=1e-3)
    check_diverged([1.4], [2.8 - 1e-9], members=[0], epochs=[1], lr=1)  # margin 1 * 1.4
    rule = r"Member 4 diverged: .* 3 after epoch 7.*lr \(now 10"
    with pytest.raises(DivergenceError, match=rule):
        check_diverged([1.0], [3.0], members=[4], epochs=[7], lr=10.0)
    with pytest.raises(DivergenceError, match="parameters are not finite after epoch 2"):
        check_diverged([1.0], [0.5], [False], members=[0], epochs=[2], lr=1.0)
    with pytest.raises(DivergenceError, match=r"The DCA network diverged: .*not finite"):
        check_diverged([1.0], [float("nan")], members=["The DCA network"], epochs=[1], lr=1.0)
