"""``fit(X, y, sample_weight=...)``: validation, exactness of weights of ones, integer weights as
repeated rows, the validation split's weights, the backends and checkpoints, refusals, and
scikit-learn's routing of the weights through search, cross-validation and pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
import torch
from sklearn.ensemble import BaggingRegressor
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import has_fit_parameter

from uqkit._data import check_sample_weight, normalised_weights
from uqkit.bayes import BayesianMLPClassifier, BayesianMLPRegressor, GPClassifier, GPRegressor
from uqkit.dca import DCAClassifier, DCARegressor
from uqkit.ensemble import (
    AutoDEUQRegressor,
    DeepEnsembleClassifier,
    DeepEnsembleRegressor,
)
from uqkit.evidential import EvidentialClassifier, EvidentialRegressor
from uqkit.exceptions import InvalidInputError
from uqkit.losses import CrossEntropyMemberLoss, GaussianMemberLoss, NIGMemberLoss
from uqkit.nn import StackSpec
from uqkit.training import TrainConfig, member_losses, train_stack
from uqkit.training._checkpoint import problem_fingerprint


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X.sum(axis=1) + 0.3 * rng.normal(size=n)
    return X, y, (y > 0).astype(int), rng


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (np.ones(4), "shape"),
        (np.ones((5, 1)), "shape"),
        ([1.0, np.nan, 1.0, 1.0, 1.0], "not finite"),
        ([1.0, np.inf, 1.0, 1.0, 1.0], "not finite"),
        ([1.0, -0.5, 1.0, 1.0, 1.0], "negative"),
        (np.zeros(5), "every sample_weight is zero"),
        (["a", "b", "c", "d", "e"], "numbers"),
    ],
)
def test_sample_weight_is_validated_like_sklearn(weights, match):
    with pytest.raises(InvalidInputError, match=match):
        check_sample_weight(weights, 5, "DeepEnsembleRegressor")


def test_scalar_and_tensor_weights_are_accepted():
    assert check_sample_weight(2.0, 3, "M").tolist() == [2.0, 2.0, 2.0]
    assert check_sample_weight(torch.tensor([1, 0, 3]), 3, "M").tolist() == [1.0, 0.0, 3.0]


def test_a_fit_refuses_bad_weights_with_the_fix():
    X, y, _, _ = _data(20)
    with pytest.raises(InvalidInputError, match="DeepEnsembleRegressor: sample_weight has shape"):
        DeepEnsembleRegressor(n_members=1, epochs=1).fit(X, y, np.ones(19))


def test_normalised_weights_average_one_and_refuse_an_all_zero_part():
    w = np.array([0.0, 0.0, 2.0, 6.0])
    assert normalised_weights(w, np.array([2, 3]), "training", "M").tolist() == [0.5, 1.5]
    with pytest.raises(InvalidInputError, match="every sample_weight of the 2 held-out"):
        normalised_weights(w, np.array([0, 1]), "held-out validation", "M")


# --------------------------------------------------------------------------- the loss value
@pytest.mark.parametrize(
    ("loss", "out", "target"),
    [
        (GaussianMemberLoss(), 4, lambda g, n: torch.randn(n, 2, generator=g)),
        (CrossEntropyMemberLoss(), 3, lambda g, n: torch.randint(0, 3, (n,), generator=g)),
        (NIGMemberLoss(), 4, lambda g, n: torch.randn(n, 1, generator=g)),
    ],
)
def test_integer_weights_give_the_loss_of_repeated_rows(loss, out, target):
    g = torch.Generator().manual_seed(0)
    n = 12
    X, y = torch.randn(n, 3, generator=g), target(g, n)
    k = torch.tensor([0, 1, 2, 3, 1, 1, 4, 0, 2, 1, 1, 2])
    stack = StackSpec(3, out, hidden_layers=(8,)).build([0, 1])
    w = torch.as_tensor(normalised_weights(k.double().numpy(), np.arange(n), "training", "M"),
                        dtype=torch.float32)
    weighted = member_losses(stack, loss, X, y, batch=5, weight=w)
    rows = torch.repeat_interleave(torch.arange(n), k)
    repeated = member_losses(stack, loss, X[rows], y[rows])
    torch.testing.assert_close(weighted, repeated, rtol=1e-6, atol=1e-7)
    # and ones are the unweighted loss, bit for bit
    ones = member_losses(stack, loss, X, y, weight=torch.ones(n))
    assert torch.equal(ones, member_losses(stack, loss, X, y))


def test_a_loss_without_a_weight_argument_is_refused_for_a_weighted_fit():
    from uqkit.losses import MemberLoss

    class Unweighted(MemberLoss):
        def __call__(self, raw, target):
            return GaussianMemberLoss()(raw, target)

    X, y = torch.randn(8, 2), torch.randn(8, 1)
    stack = StackSpec(2, 2, hidden_layers=(4,)).build([0])
    config = TrainConfig(epochs=1, patience=None)
    train_stack(stack, Unweighted(), X, y, [0], config)  # unweighted: still fine
    with pytest.raises(InvalidInputError, match="Unweighted takes no row weights"):
        train_stack(stack, Unweighted(), X, y, [0], config, weight=torch.ones(8))


def test_full_batch_training_with_integer_weights_equals_training_on_repeated_rows():
    # one batch holds all rows, so every Adam step sees the same objective in both runs
    g = torch.Generator().manual_seed(1)
    n = 16
    X, y = torch.randn(n, 2, generator=g, dtype=torch.float64), torch.randn(n, 1, generator=g,
                                                                            dtype=torch.float64)
    k = torch.tensor([1, 2, 0, 3, 1, 1, 2, 1, 0, 1, 4, 1, 1, 2, 1, 1])
    y[k == 0] = 1e3  # rows of weight 0 would dominate the loss if they counted at all
    rows = torch.repeat_interleave(torch.arange(n), k)
    spec = StackSpec(2, 2, hidden_layers=(8,), dtype="float64")
    config = TrainConfig(epochs=15, batch_size=1000, lr=1e-2, patience=None)
    weighted, repeated = spec.build([5]), spec.build([5])
    w = torch.as_tensor(normalised_weights(k.double().numpy(), np.arange(n), "training", "M"))
    train_stack(weighted, GaussianMemberLoss(), X, y, [5], config, weight=w)
    train_stack(repeated, GaussianMemberLoss(), X[rows], y[rows], [5], config)
    for a, b in zip(weighted.parameters(), repeated.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


# --------------------------------------------------------------------------- weights of ones
def _outputs(prediction):
    if hasattr(prediction, "probs"):
        return np.asarray(prediction.probs)
    return np.stack([prediction.mean, prediction.total])


CASES = [
    (DeepEnsembleRegressor, dict(n_members=2, hidden_layers=(8,), epochs=6), False),
    (DeepEnsembleRegressor, dict(n_members=2, hidden_layers=(8,), epochs=6, backend="serial"),
     False),
    (DeepEnsembleClassifier, dict(n_members=2, hidden_layers=(8,), epochs=6), True),
    (EvidentialRegressor, dict(hidden_layers=(8,), epochs=6), False),
    (EvidentialClassifier, dict(hidden_layers=(8,), epochs=6), True),
    (DCARegressor, dict(hidden_layers=(8,), epochs=4), False),
    (DCAClassifier, dict(hidden_layers=(8,), epochs=4), True),
    (BayesianMLPRegressor, dict(hidden_layers=(8,), epochs=4, n_samples=8), False),
    (BayesianMLPClassifier, dict(hidden_layers=(8,), epochs=4, n_samples=8), True),
]


@pytest.mark.parametrize(("cls", "params", "classify"), CASES,
                         ids=[f"{c.__name__}-{p.get('backend', '')}" for c, p, _ in CASES])
def test_weights_of_ones_give_exactly_the_unweighted_fit(cls, params, classify):
    # exact, not close: each part's weights are divided by their mean (n / n == 1 exactly) and
    # the weighted mean is mean(1.0 * loss), so every loss and gradient is bit for bit the same
    X, y, labels, rng = _data()
    target = labels if classify else y
    plain = cls(random_state=0, **params).fit(X, target)
    ones = cls(random_state=0, **params).fit(X, target, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(_outputs(plain.predict_uncertainty(X)),
                                  _outputs(ones.predict_uncertainty(X)))
    weighted = cls(random_state=0, **params).fit(X, target, rng.uniform(0.0, 3.0, len(X)))
    assert not np.array_equal(_outputs(plain.predict_uncertainty(X)),
                              _outputs(weighted.predict_uncertainty(X)))


def test_the_held_out_rows_keep_their_weights_for_early_stopping():
    X, y, _, rng = _data(50)
    w = rng.integers(1, 5, size=50).astype(float)
    model = DeepEnsembleRegressor(n_members=1, epochs=1, random_state=3)
    data = model._prepare_data(X, y, None, None, w)
    val, train = model.validation_indices_, np.setdiff1d(np.arange(50), model.validation_indices_)
    np.testing.assert_allclose(data.weight_val.numpy(), w[val] / w[val].mean(), rtol=1e-6)
    np.testing.assert_allclose(data.weight.numpy(), w[train] / w[train].mean(), rtol=1e-6)
    # the validation loss early stopping sees is the weighted one
    explicit = model._prepare_data(X, y, X[:5], y[:5], w)
    assert explicit.weight_val is None  # an explicit X_val is weighted equally
    assert explicit.weight is not None and len(explicit.weight) == 50


def test_checkpoint_fingerprint_tells_weights_apart_and_keeps_the_unweighted_key():
    spec = StackSpec(in_features=1, out_features=2)
    arrays = {"X": np.zeros((3, 1)), "y": np.zeros((3, 1)), "X_val": None, "y_val": None}
    plain = problem_fingerprint(spec, GaussianMemberLoss(), arrays, TrainConfig())
    w1 = problem_fingerprint(spec, GaussianMemberLoss(), {**arrays, "weight": np.ones(3)},
                             TrainConfig())
    w2 = problem_fingerprint(spec, GaussianMemberLoss(),
                             {**arrays, "weight": np.array([1.0, 2.0, 0.0])}, TrainConfig())
    assert len({plain["key"], w1["key"], w2["key"]}) == 3
    assert "weight" not in plain["data"]


@pytest.mark.ray
@pytest.mark.slow  # starts Ray workers that import torch (about 40 s on two cores)
def test_ray_members_train_on_the_weights(ray_session):
    X, y, _, rng = _data(40)
    w = rng.uniform(0.0, 2.0, 40)
    kw = dict(n_members=2, hidden_layers=(8,), epochs=3, random_state=0, dtype="float64")
    serial = DeepEnsembleRegressor(backend="serial", **kw).fit(X, y, w)
    on_ray = DeepEnsembleRegressor(backend="ray", **kw).fit(X, y, w)
    np.testing.assert_allclose(on_ray.predict(X), serial.predict(X), rtol=1e-6, atol=1e-8)
    plain = DeepEnsembleRegressor(backend="ray", **kw).fit(X, y)
    assert not np.allclose(plain.predict(X), on_ray.predict(X))


# --------------------------------------------------------------------------- the Bayes family
def test_bnn_row_weight_scales_the_log_likelihood_like_repeated_rows():
    import pyro

    from uqkit.bayes._bnn_model import BayesianMLP

    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(6, 2, generator=g), torch.randn(6, 1, generator=g)
    k = torch.tensor([1.0, 2.0, 0.0, 3.0, 1.0, 0.5])
    y[2] = 1e3  # weight 0: its term must vanish, not merely shrink
    with pyro.get_param_store().scope():
        net = BayesianMLP(2, (4,), 1, likelihood="homoscedastic")
        trace = pyro.poutine.trace(net).get_trace(X, y, 6, k)
        # the same weight draw, without weights: the per-row log-likelihoods
        plain = pyro.poutine.trace(pyro.poutine.replay(net, trace=trace)).get_trace(X, y, 6)

    def log_lik(t):
        return t.log_prob_sum(site_filter=lambda name, site: name == "obs")

    plain.compute_log_prob()
    per_row = plain.nodes["obs"]["log_prob"]
    # sum_i w_i log p(y_i | x_i, w): an integer weight k is the row observed k times
    torch.testing.assert_close(log_lik(trace), (k * per_row).sum(), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("cls", [GPRegressor, GPClassifier])
def test_gps_refuse_weights_with_the_alternative(cls):
    X, y, labels, _ = _data(20)
    target = labels if cls is GPClassifier else y
    with pytest.raises(InvalidInputError, match=r"does not support sample_weight.*Repeat rows"):
        cls(epochs=1).fit(X, target, sample_weight=np.ones(20))
    # kept out of the signature: meta-estimators resample rows instead of passing weights
    assert not has_fit_parameter(cls(), "sample_weight")
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(epochs=1).fit(X, target, X_vall=X)


def test_bagging_a_gp_resamples_rows_instead_of_passing_weights():
    X, y, _, _ = _data(24)
    bag = BaggingRegressor(GPRegressor(epochs=2, random_state=0), n_estimators=2,
                           random_state=0).fit(X, y)
    assert np.isfinite(bag.predict(X)).all()
    assert has_fit_parameter(DeepEnsembleRegressor(), "sample_weight")


def test_autodeuq_refuses_weights_before_starting_a_search():
    X, y, _, _ = _data(20)
    with pytest.raises(InvalidInputError, match=r"AutoDEUQRegressor\.fit does not support"):
        AutoDEUQRegressor(n_trials=1).fit(X, y, sample_weight=np.ones(20))


# --------------------------------------------------------------------------- scikit-learn
def _weighted_problem():
    X, y, _, rng = _data(60)
    return X, y, rng.uniform(0.5, 2.0, 60)


def test_grid_search_and_pipeline_pass_the_weights_to_fit():
    X, y, w = _weighted_problem()
    base = dict(n_members=1, hidden_layers=(4,), epochs=2, random_state=0)
    search = GridSearchCV(DeepEnsembleRegressor(**base), {"lr": [1e-3, 1e-2]}, cv=2)
    search.fit(X, y, sample_weight=w)
    direct = DeepEnsembleRegressor(**{**base, "lr": search.best_params_["lr"]}).fit(X, y, w)
    np.testing.assert_array_equal(search.best_estimator_.predict(X), direct.predict(X))
    pipe = Pipeline([("scale", StandardScaler()), ("model", DeepEnsembleRegressor(**base))])
    pipe.fit(X, y, model__sample_weight=w)
    inner = DeepEnsembleRegressor(**base).fit(StandardScaler().fit_transform(X), y, w)
    np.testing.assert_array_equal(pipe.predict(X), inner.predict(StandardScaler().fit(X)
                                                                 .transform(X)))


def test_cross_validate_passes_each_fold_its_rows_weights():
    X, y, w = _weighted_problem()
    base = dict(n_members=1, hidden_layers=(4,), epochs=2, random_state=0)
    folds = KFold(3)
    result = cross_validate(DeepEnsembleRegressor(**base), X, y, cv=folds,
                            params={"sample_weight": w}, return_estimator=True)
    for (train, _), fitted in zip(folds.split(X), result["estimator"]):
        expected = DeepEnsembleRegressor(**base).fit(X[train], y[train], w[train])
        np.testing.assert_array_equal(fitted.predict(X), expected.predict(X))


def test_metadata_routing_requests_sample_weight():
    X, y, w = _weighted_problem()
    base = dict(n_members=1, hidden_layers=(4,), epochs=2, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        model = DeepEnsembleRegressor(**base).set_fit_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        pipe = Pipeline([("scale", scaler), ("model", model)]).fit(X, y, sample_weight=w)
        routed = pipe[-1].predict(pipe[0].transform(X))
    expected = DeepEnsembleRegressor(**base).fit(StandardScaler().fit_transform(X), y, w)
    np.testing.assert_array_equal(routed, expected.predict(StandardScaler().fit(X).transform(X)))


@pytest.mark.parametrize("cls", [DeepEnsembleClassifier, BayesianMLPClassifier])
def test_a_classifier_refuses_weights_that_leave_one_class(cls):
    X, _, labels, _ = _data(30)
    with pytest.raises(InvalidInputError, match="one class only"):
        cls(epochs=1, hidden_layers=(4,)).fit(X, labels, sample_weight=labels.astype(float))


def test_bnn_fits_with_rows_of_weight_zero():
    X, y, _, _ = _data(30)
    w = np.r_[np.zeros(5), np.ones(25)]
    model = BayesianMLPRegressor(hidden_layers=(4,), epochs=2, n_samples=4, random_state=0)
    assert np.isfinite(model.fit(X, y, w).predict(X)).all()
