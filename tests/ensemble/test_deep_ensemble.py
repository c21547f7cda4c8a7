import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import FAST, blobs, heteroscedastic_data, sine_data
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.exceptions import DivergenceError
from uqkit.nn import gaussian_head


def test_one_member_ensemble_equals_its_member():
    X, y = sine_data()
    model = DeepEnsembleRegressor(n_members=1, **FAST).fit(X, y)
    pred = model.predict_uncertainty(X[:20])
    # the single network, evaluated by hand, in the user's units
    net = model.stack_
    xs = torch.as_tensor((X[:20] - model.x_mean_) / model.x_scale_, dtype=torch.float32)
    with torch.no_grad():
        mean, var = gaussian_head(net(xs[None]).double(), model.min_variance)
    mean = mean[0, :, 0].numpy() * model.y_scale_[0] + model.y_mean_[0]
    var = var[0, :, 0].numpy() * model.y_scale_[0] ** 2
    assert np.allclose(pred.mean, mean)
    assert np.allclose(pred.aleatoric, var)
    assert np.all(pred.epistemic == 0)


def test_members_that_agree_give_zero_epistemic_variance():
    X, y = sine_data()
    model = DeepEnsembleRegressor(n_members=3, **FAST).fit(X, y)
    with torch.no_grad():  # make every member a copy of member 0
        for p in model.stack_.parameters():
            p[1:] = p[0]
    pred = model.predict_uncertainty(X)
    assert np.all(pred.epistemic == 0)


def test_member_is_decided_by_its_seed_not_the_backend():
    X, y = sine_data(n=150)
    kwargs = dict(n_members=3, epochs=12, dtype="float64", verbose=0, random_state=7,
                  dropout=0.1, adversarial=True, patience=3)
    vectorized = DeepEnsembleRegressor(backend="vectorized", **kwargs).fit(X, y)
    serial = DeepEnsembleRegressor(backend="serial", **kwargs).fit(X, y)
    a, b = vectorized.predict_uncertainty(X), serial.predict_uncertainty(X)
    assert np.allclose(a.member_means, b.member_means, atol=1e-6, rtol=0)
    assert np.allclose(a.member_vars, b.member_vars, atol=1e-6, rtol=0)
    best = [h["best_epoch"] for h in vectorized.history_]
    assert best == [h["best_epoch"] for h in serial.history_]


def test_float32_backends_agree_to_float_noise():
    X, y = sine_data(n=150)
    kwargs = dict(n_members=2, epochs=8, verbose=0, random_state=1)
    a = DeepEnsembleRegressor(backend="vectorized", **kwargs).fit(X, y).predict(X)
    b = DeepEnsembleRegressor(backend="serial", **kwargs).fit(X, y).predict(X)
    assert np.allclose(a, b, atol=1e-3)


def test_same_random_state_same_model_and_members_differ():
    X, y = sine_data()
    a = DeepEnsembleRegressor(n_members=2, **FAST).fit(X, y).predict_uncertainty(X)
    b = DeepEnsembleRegressor(n_members=2, **FAST).fit(X, y).predict_uncertainty(X)
    assert np.array_equal(a.member_means, b.member_means)
    assert not np.allclose(a.member_means[0], a.member_means[1])


def test_aleatoric_tracks_the_true_noise_and_epistemic_grows_away_from_data():
    X, y, _ = heteroscedastic_data()
    model = DeepEnsembleRegressor(n_members=5, hidden_layers=(32, 32), epochs=80, lr=5e-3,
                                  verbose=0, random_state=0).fit(X, y)
    grid = np.linspace(-0.9, 0.9, 50)[:, None]
    pred = model.predict_uncertainty(grid)
    true_std = 0.1 + 0.4 * np.abs(grid[:, 0])
    assert np.corrcoef(np.sqrt(pred.aleatoric), true_std)[0, 1] > 0.9
    assert np.mean(np.abs(np.sqrt(pred.aleatoric) - true_std)) < 0.06
    far = model.predict_uncertainty(np.array([[-4.0], [4.0]]))
    assert far.epistemic.min() > 10 * pred.epistemic.mean()


def test_multi_output_regression():
    X, y = sine_data()
    Y = np.column_stack([y, 10 * y + 3])
    pred = DeepEnsembleRegressor(n_members=2, **FAST).fit(X, Y).predict_uncertainty(X)
    assert pred.mean.shape == (200, 2)
    assert pred.member_means.shape == (2, 200, 2)
    assert pred.total[:, 1].mean() > 20 * pred.total[:, 0].mean()


def test_explicit_validation_data_and_no_early_stopping():
    X, y = sine_data()
    model = DeepEnsembleRegressor(n_members=2, **FAST).fit(X[:150], y[:150],
                                                           X_val=X[150:], y_val=y[150:])
    assert not hasattr(model, "validation_indices_")
    assert len(model.history_[0]["val_loss"]) == model.history_[0]["epochs"]
    model = DeepEnsembleRegressor(n_members=2, early_stopping=False, **FAST).fit(X, y)
    assert model.history_[0]["val_loss"] == [] and model.history_[0]["epochs"] == 15


def test_early_stopping_restores_the_best_epoch():
    X, y = sine_data()
    model = DeepEnsembleRegressor(n_members=2, epochs=60, patience=2, lr=0.05, verbose=0,
                                  random_state=0).fit(X, y)
    for record in model.history_:
        assert record["epochs"] <= 60
        best = int(np.argmin(record["val_loss"])) + 1
        assert record["best_epoch"] == best


class _TinyNet(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, 16), nn.Tanh(), nn.Linear(16, n_out))

    def forward(self, x):
        return self.body(x)


def test_user_module_factory_is_vectorized_and_matches_serial():
    X, y = sine_data(n=120)
    kwargs = dict(module=_TinyNet, n_members=3, epochs=6, dtype="float64", verbose=0,
                  random_state=3)
    a = DeepEnsembleRegressor(**kwargs).fit(X, y).predict_uncertainty(X)
    b = DeepEnsembleRegressor(backend="serial", **kwargs).fit(X, y).predict_uncertainty(X)
    assert np.allclose(a.member_means, b.member_means, atol=1e-6)
    assert a.epistemic.mean() > 0


class _ExplodingNet(_TinyNet):
    def forward(self, x):
        return super().forward(x) * float("inf")


def test_divergence_names_member_and_epoch():
    X, y = sine_data(n=50)
    with pytest.raises(DivergenceError, match=r"Member 0 diverged in epoch 1"):
        DeepEnsembleRegressor(module=_ExplodingNet, n_members=2, **FAST).fit(X, y)


def test_beta_nll_trains():
    X, y = sine_data()
    model = DeepEnsembleRegressor(n_members=2, beta_nll=0.5, **FAST).fit(X, y)
    assert np.isfinite(model.predict(X)).all()


def test_classifier_probabilities_and_uncertainty():
    X, y = blobs()
    model = DeepEnsembleClassifier(n_members=3, epochs=60, lr=1e-2, verbose=0,
                                   random_state=0).fit(X, y)
    assert list(model.classes_) == ["a", "b", "c"]
    pred = model.predict_uncertainty(X)
    assert pred.member_probs.shape == (3, 200, 3)
    assert np.allclose(pred.probs.sum(axis=1), 1)
    assert model.score(X, y) > 0.9
    # members disagree most between the blobs, least at their centres
    centres = model.predict_uncertainty(np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]]))
    between = model.predict_uncertainty(np.array([[1.0, 0.5], [-1.0, 0.5], [0.0, -1.0]]))
    assert between.epistemic.mean() > 3 * centres.epistemic.mean()
    metrics = model.evaluate(X, y)
    assert set(metrics) >= {"nll", "accuracy", "brier", "ece"}


def test_regressor_evaluate_and_interval():
    X, y = sine_data()
    model = DeepEnsembleRegressor(n_members=2, **FAST).fit(X, y)
    lower, upper = model.predict_interval(X, alpha=0.1)
    assert np.all(lower < upper)
    metrics = model.evaluate(X, y)
    assert {"nll", "crps", "rmse", "coverage_90"} <= set(metrics)
    assert 0.5 < metrics["coverage_90"] <= 1.0
