"""BayesianMLPRegressor / BayesianMLPClassifier: Pyro SVI, isolation, uncertainty behaviour."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

import uqkit
from uqkit.bayes import BayesianMLP, BayesianMLPClassifier, BayesianMLPRegressor
from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

SMALL = {"hidden_layers": (16,), "n_samples": 50, "random_state": 0}


def _line(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    return X, 2.0 * X[:, 0] + 5.0 + 0.1 * rng.normal(size=n)


@pytest.fixture(scope="module")
def fitted():
    X, y = _line(64)
    return BayesianMLPRegressor(epochs=60, batch_size=32, **SMALL).fit(X, y), X, y


def test_plate_scales_the_minibatch_likelihood_by_n_over_b():
    """Mini-batch ELBO: the batch log-likelihood is multiplied by N / |B| (subsample scaling)."""
    net = BayesianMLP(2, (4,), 1, likelihood="homoscedastic")
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    with pyro.get_param_store().scope():
        trace = pyro.poutine.trace(net).get_trace(x, y, 100)
        trace.compute_log_prob()
    site = trace.nodes["obs"]
    assert site["scale"] == pytest.approx(100 / 8)
    noise = site["fn"].base_dist.scale
    mean = trace.nodes["mean"]["value"]
    expected = torch.distributions.Normal(mean, noise).log_prob(y).sum()
    torch.testing.assert_close(trace.log_prob_sum(lambda name, _: name == "obs"), 12.5 * expected)
    # priors: W ~ N(0, prior_scale^2 / fan_in), b ~ N(0, prior_scale^2)
    prior = trace.nodes["layers.0.weight"]["fn"].base_dist
    torch.testing.assert_close(prior.scale, torch.full((4, 2), 2**-0.5))


def test_mixture_identities(fitted):
    bnn, X, _ = fitted
    pred = bnn.predict_uncertainty(X[:10])
    assert isinstance(pred, RegressionPrediction) and pred.distribution == "mixture"
    assert pred.member_means.shape == (50, 10)
    # epistemic = variance of the sampled means, aleatoric = mean of the sampled variances
    np.testing.assert_allclose(pred.epistemic, pred.member_means.var(axis=0), rtol=1e-10)
    np.testing.assert_allclose(pred.aleatoric, pred.member_vars.mean(axis=0), rtol=1e-10)
    # homoscedastic: the learned noise, in user units, for every sample and row
    noise = float(bnn.posterior_.model.noise_scale.detach()) ** 2 * bnn.y_scale_[0] ** 2
    np.testing.assert_allclose(pred.member_vars, noise, rtol=1e-5)
    assert bnn.score(X, fitted[2]) > 0.9  # the fit is in user units
    train_loss = bnn.history_[0]["train_loss"]
    assert len(train_loss) == 60 and train_loss[-1] < train_loss[0]


def test_epistemic_grows_away_from_the_data(fitted):
    bnn, _, _ = fitted
    inside = bnn.predict_uncertainty(np.linspace(-0.9, 0.9, 7)[:, None]).epistemic
    outside = bnn.predict_uncertainty(np.array([[-6.0], [6.0]])).epistemic
    assert outside.min() > 5 * inside.max()


def test_epistemic_shrinks_with_more_data():
    """Same model, same number of SVI steps; 16 vs 512 rows from the same line."""
    grid = np.linspace(-0.9, 0.9, 9)[:, None]
    epistemic = {}
    for n, batch in ((16, 16), (512, 64)):
        X, y = _line(n, seed=1)
        steps_per_epoch = n // batch
        model = BayesianMLPRegressor(epochs=160 // steps_per_epoch, batch_size=batch, **SMALL)
        epistemic[n] = model.fit(X, y).predict_uncertainty(grid).epistemic.mean()
    assert epistemic[512] < 0.5 * epistemic[16]


def test_two_estimators_are_independent_and_leave_global_state_alone():
    X, y = _line(48, seed=2)
    X2, y2 = _line(48, seed=3)
    store = pyro.get_param_store()
    with store.scope():  # a user's own Pyro parameter must survive untouched
        user = pyro.param("user_weight", torch.tensor(1.5))
        rng_state = torch.random.get_rng_state()
        params = {"epochs": 20, "batch_size": 16, **SMALL}
        a = BayesianMLPRegressor(**params).fit(X, y)
        pred_a = a.predict_uncertainty(X)
        b = BayesianMLPRegressor(**{**params, "random_state": 1}).fit(X2, -y2)
        b.predict_uncertainty(X2)
        assert torch.equal(rng_state, torch.random.get_rng_state())  # no global seeding
        assert list(store.keys()) == ["user_weight"] and store["user_weight"] is user
        # a's parameters were not touched by b: same predictions as before
        again = a.predict_uncertainty(X)
        np.testing.assert_array_equal(again.member_means, pred_a.member_means)
        # and refitting a clone after b reproduces a exactly (no state carried over)
        refit = clone(a).fit(X, y).predict_uncertainty(X)
        np.testing.assert_array_equal(refit.member_means, pred_a.member_means)
        # b's guide parameters are distinct tensors from a's
        ids_a = {id(p) for p in a.posterior_.parameters()}
        assert ids_a.isdisjoint(id(p) for p in b.posterior_.parameters())


@pytest.mark.parametrize(
    "params",
    [{"noise": "heteroscedastic", "guide": "lowrank", "guide_rank": 3}, {"activation": "tanh"}],
    ids=["hetero-lowrank", "tanh"],
)
def test_save_load_gives_identical_predictions(tmp_path, params):
    X, y = _line(40, seed=4)
    bnn = BayesianMLPRegressor(epochs=5, batch_size=20, **SMALL, **params).fit(X, y)
    loaded = uqkit.load(bnn.save(tmp_path / "bnn"))
    a, b = bnn.predict_uncertainty(X), loaded.predict_uncertainty(X)
    np.testing.assert_array_equal(a.member_means, b.member_means)
    np.testing.assert_array_equal(a.member_vars, b.member_vars)


def test_heteroscedastic_head_and_multi_output():
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(64, 2))
    Y = np.c_[X[:, 0], -X[:, 1]] + 0.05 * rng.normal(size=(64, 2))
    bnn = BayesianMLPRegressor(noise="heteroscedastic", epochs=10, batch_size=32, **SMALL)
    pred = bnn.fit(X, Y).predict_uncertainty(X[:5])
    assert pred.mean.shape == (5, 2) and pred.member_vars.shape == (50, 5, 2)
    assert np.all(pred.aleatoric > 0)
    # per-sample variances differ across rows: the head is input dependent
    assert np.ptp(pred.member_vars[:, :, 0]) > 0


def test_classifier_probabilities_and_uncertainty(tmp_path):
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, size=90)
    centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    X = centres[labels] + 0.4 * rng.normal(size=(90, 2))
    y = np.array(["a", "b", "c"])[labels]
    clf = BayesianMLPClassifier(epochs=40, batch_size=30, **SMALL).fit(X, y)
    assert clf.score(X, y) > 0.9
    pred = clf.predict_uncertainty(X)
    assert isinstance(pred, ClassificationPrediction)
    assert pred.member_probs.shape == (50, 90, 3) and list(pred.classes) == ["a", "b", "c"]
    np.testing.assert_allclose(pred.probs, pred.member_probs.mean(axis=0))
    # between the clusters the label is uncertain and the sampled networks disagree more
    centre = clf.predict_uncertainty(centres)
    between = clf.predict_uncertainty((centres + np.roll(centres, 1, axis=0)) / 2)
    assert between.total.min() > centre.total.max()
    assert between.epistemic.mean() > 1.2 * centre.epistemic.mean()
    loaded = uqkit.load(clf.save(tmp_path / "clf"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_errors_and_sklearn_compatibility():
    X, y = _line(20)
    model = BayesianMLPRegressor(epochs=2)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict(X)
    with pytest.raises(InvalidParameterError, match="guide"):
        BayesianMLPRegressor(guide="flow").fit(X, y)
    with pytest.raises(InvalidInputError, match="hidden_layers"):
        BayesianMLPRegressor(hidden_layers=(8, -1)).fit(X, y)
    with pytest.raises(InvalidInputError, match="two classes"):
        BayesianMLPClassifier(epochs=1).fit(X, np.ones(20))
    with pytest.raises(InvalidInputError):
        BayesianMLPRegressor(epochs=1).fit(X, np.r_[y[:-1], np.inf])


def test_package_exports_resolve():
    import uqkit.bayes

    for name in uqkit.bayes.__all__:
        assert getattr(uqkit.bayes, name) is not None
