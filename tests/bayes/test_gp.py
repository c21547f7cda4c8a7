"""GPRegressor / GPClassifier: closed forms, scikit-learn agreement, SVGP = exact, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern
from sklearn.utils._param_validation import InvalidParameterError

import uqkit
from uqkit.bayes import GPClassifier, GPRegressor
from uqkit.bayes._gp_loss import MultivariateGaussianNLL
from uqkit.bayes._gp_training import train_exact
from uqkit.exceptions import ConvergenceWarning, DivergenceError, InvalidInputError, NotFittedError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

FAST_EXACT = {"epochs": 40, "random_state": 0}
FAST_INIT = {"init_exact_epochs": 40, "random_state": 0}  # SVGP: the initial exact GP


def _data(n=30, seed=0, p=2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, p)) * np.array([1.0, 5.0][:p]) + np.array([0.0, 10.0][:p])
    y = 3.0 * np.sin(X[:, 0]) + 0.2 * X[:, -1] + 0.3 * rng.normal(size=n) + 20.0
    return X, y


@pytest.fixture(scope="module")
def exact_fit():
    X, y = _data()
    return GPRegressor(method="exact", **FAST_EXACT).fit(X, y), X, y


def _rbf_ard(A, B, lengthscale, outputscale):
    d = (A[:, None, :] - B[None, :, :]) / lengthscale
    return outputscale * np.exp(-0.5 * np.sum(d**2, axis=-1))


def test_exact_gp_matches_direct_cholesky(exact_fit):
    """R&W Alg. 2.1 on the raw data with the learned hyperparameters in user units."""
    gp, X, y = exact_fit
    hp = gp.learned_hyperparameters()
    Xq = np.random.default_rng(1).uniform(-3, 3, size=(7, 2)) * [1.0, 5.0] + [0.0, 10.0]
    K = _rbf_ard(X, X, hp["lengthscale"], hp["outputscale"]) + hp["noise"] * np.eye(len(X))
    L = linalg.cholesky(K, lower=True)
    alpha = linalg.cho_solve((L, True), y - hp["mean"])
    Ks = _rbf_ard(X, Xq, hp["lengthscale"], hp["outputscale"])
    mean = hp["mean"] + Ks.T @ alpha
    v = linalg.solve_triangular(L, Ks, lower=True)
    var_f = hp["outputscale"] - np.sum(v**2, axis=0)

    pred = gp.predict_uncertainty(Xq)
    assert isinstance(pred, RegressionPrediction) and pred.distribution == "normal"
    np.testing.assert_allclose(pred.mean, mean, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(pred.epistemic, var_f, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(pred.aleatoric, hp["noise"], rtol=1e-12)
    np.testing.assert_allclose(pred.total, var_f + hp["noise"], rtol=1e-5)


def test_exact_gp_marginal_likelihood_is_the_training_objective(exact_fit):
    """min(train_loss) = -log p(y_std)/n, and log p(y_raw) = log p(y_std) - n log(y_scale)."""
    gp, X, y = exact_fit
    hp = gp.learned_hyperparameters()
    K = _rbf_ard(X, X, hp["lengthscale"], hp["outputscale"]) + hp["noise"] * np.eye(len(X))
    r = y - hp["mean"]
    L = linalg.cholesky(K, lower=True)
    log_p_raw = (
        -0.5 * r @ linalg.cho_solve((L, True), r)
        - np.sum(np.log(np.diag(L)))
        - 0.5 * len(y) * np.log(2 * np.pi)
    )
    log_p_std = -min(gp.history_[0]["train_loss"]) * len(y)
    np.testing.assert_allclose(log_p_raw, log_p_std - len(y) * np.log(gp.y_scale_), rtol=1e-8)


@pytest.mark.parametrize("kernel", ["rbf", "matern52", "matern32"])
def test_agrees_with_sklearn_gaussian_process_regressor(kernel):
    X, y = _data(n=25, seed=2)
    gp = GPRegressor(kernel=kernel, method="exact", **FAST_EXACT).fit(X, y)
    hp = gp.learned_hyperparameters()
    if kernel == "rbf":
        base = RBF(length_scale=hp["lengthscale"])
    else:
        base = Matern(length_scale=hp["lengthscale"], nu={"matern52": 2.5, "matern32": 1.5}[kernel])
    sk = GaussianProcessRegressor(
        ConstantKernel(hp["outputscale"]) * base, alpha=hp["noise"], optimizer=None
    ).fit(X, y - hp["mean"])
    Xq = np.random.default_rng(3).uniform(-3, 3, size=(9, 2)) * [1.0, 5.0] + [0.0, 10.0]
    mean, std = sk.predict(Xq, return_std=True)
    pred = gp.predict_uncertainty(Xq)
    np.testing.assert_allclose(pred.mean, mean + hp["mean"], rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(np.sqrt(pred.epistemic), std, rtol=1e-5, atol=1e-7)
    # and the same log marginal likelihood (standardised units, shifted by n log y_scale)
    lml = sk.log_marginal_likelihood_value_
    np.testing.assert_allclose(
        lml,
        -min(gp.history_[0]["train_loss"]) * len(y) - len(y) * np.log(gp.y_scale_),
        rtol=1e-7,
    )


def test_closed_form_gradient_matches_autograd():
    """The custom backward (R&W Eq. 5.9) against finite differences, for symmetric K."""
    rng = np.random.default_rng(0)
    A = torch.tensor(rng.normal(size=(6, 6)), requires_grad=True)
    r = torch.tensor(rng.normal(size=6), requires_grad=True)

    def nll(A, r):  # K built symmetric, as a kernel matrix is
        return MultivariateGaussianNLL.apply(A @ A.T + 6 * torch.eye(6, dtype=A.dtype), r)

    assert torch.autograd.gradcheck(nll, (A, r))
    K = A @ A.T + 6 * torch.eye(6, dtype=A.dtype)
    mvn = torch.distributions.MultivariateNormal(torch.zeros(6, dtype=K.dtype), K)
    reference = -mvn.log_prob(r)
    torch.testing.assert_close(nll(A, r), reference)


def test_svgp_equals_exact_gp_when_inducing_points_are_the_training_inputs():
    X, y = _data(n=40, seed=4)
    Xq = np.random.default_rng(5).uniform(-3, 3, size=(15, 2)) * [1.0, 5.0] + [0.0, 10.0]
    exact = GPRegressor(method="exact", **FAST_EXACT).fit(X, y).predict_uncertainty(Xq)
    common = dict(method="svgp", n_inducing=40, learn_inducing=False, **FAST_INIT)
    # Same hyperparameters (initialised by the exact GP on all 40 rows) and the optimal q(u):
    # Titsias's bound is tight at Z = X, so the predictive must be the exact posterior.
    svgp = GPRegressor(epochs=0, **common).fit(X, y)
    assert svgp.method_ == "svgp" and svgp.n_inducing_ == 40
    pred = svgp.predict_uncertainty(Xq)
    scale = np.std(y)
    np.testing.assert_allclose(pred.mean, exact.mean, atol=1e-3 * scale)
    np.testing.assert_allclose(pred.epistemic, exact.epistemic, atol=1e-4 * scale**2)
    np.testing.assert_allclose(pred.aleatoric, exact.aleatoric, rtol=1e-10)
    # A few mini-batch ELBO epochs keep it there (the ELBO optimum is the marginal likelihood's).
    trained = GPRegressor(epochs=4, batch_size=10, **common).fit(X, y)
    pred = trained.predict_uncertainty(Xq)
    np.testing.assert_allclose(pred.mean, exact.mean, atol=2e-2 * scale)
    np.testing.assert_allclose(pred.total, exact.total, rtol=0.1)


def test_auto_switches_to_svgp_past_the_threshold_and_learns():
    X, y = _data(n=60, seed=6)
    gp = GPRegressor(
        max_exact_samples=30,
        n_inducing=15,
        epochs=15,
        batch_size=20,
        lr=0.05,
        init_exact_samples=0,
        random_state=0,
    ).fit(X, y)
    assert gp.method_ == "svgp" and gp.n_inducing_ == 15
    assert gp.model_.variational_strategy.inducing_points.shape == (15, 2)
    train_loss = gp.history_[0]["train_loss"]
    assert len(train_loss) == 15 and train_loss[-1] < train_loss[0]
    assert gp.score(X, y) > 0.5
    assert GPRegressor(**FAST_EXACT).fit(X[:30], y[:30]).method_ == "exact"


def test_epistemic_grows_away_from_data_aleatoric_is_constant(exact_fit):
    gp, X, _ = exact_fit
    near = gp.predict_uncertainty(X[:5])
    far = gp.predict_uncertainty(X[:5] + np.array([30.0, 200.0]))
    assert np.all(far.epistemic > 10 * near.epistemic)
    np.testing.assert_allclose(far.epistemic, gp.learned_hyperparameters()["outputscale"])
    np.testing.assert_allclose(far.aleatoric, near.aleatoric)


@pytest.mark.parametrize(
    "params",
    [
        {"method": "exact", **FAST_EXACT},
        {"method": "svgp", "n_inducing": 8, "epochs": 2, "batch_size": 16, **FAST_INIT},
        {"method": "exact", "deep_kernel": (8, 2), "epochs": 15, "lr": 0.05, "random_state": 0},
        {"method": "svgp", "n_inducing": 8, "epochs": 1, "dtype": "float32", **FAST_INIT},
    ],
    ids=["exact", "svgp", "deep-kernel", "svgp-float32"],
)
def test_save_load_gives_identical_predictions(tmp_path, params):
    X, y = _data(n=32, seed=7)
    gp = GPRegressor(**params).fit(X, y)
    path = gp.save(tmp_path / "gp")
    loaded = uqkit.load(path)
    assert type(loaded) is GPRegressor and loaded.method_ == gp.method_
    a, b = gp.predict_uncertainty(X[:6]), loaded.predict_uncertainty(X[:6])
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.epistemic, b.epistemic)
    np.testing.assert_array_equal(a.aleatoric, b.aleatoric)


def test_seeded_fits_repeat_and_leave_the_global_rng_alone():
    X, y = _data(n=30, seed=8)
    params = dict(method="svgp", n_inducing=10, epochs=2, batch_size=8, init_exact_epochs=10)
    state = torch.random.get_rng_state()
    a = GPRegressor(random_state=3, **params).fit(X, y).predict(X)
    b = GPRegressor(random_state=3, **params).fit(X, y).predict(X)
    c = GPRegressor(random_state=4, **params).fit(X, y).predict(X)
    assert torch.equal(state, torch.random.get_rng_state())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # another inducing subset and mini-batch order


def test_sklearn_compatibility_and_errors():
    X, y = _data(n=20, seed=9)
    gp = GPRegressor(kernel="matern12", epochs=5)
    assert clone(gp).get_params() == gp.get_params()
    with pytest.raises(NotFittedError):
        gp.predict(X)
    with pytest.raises(InvalidParameterError, match="kernel"):
        GPRegressor(kernel="cosine").fit(X, y)
    with pytest.raises(InvalidInputError, match="one GPRegressor per column"):
        GPRegressor(epochs=2).fit(X, np.c_[y, y])
    with pytest.warns(DataConversionWarning, match="column-vector"):
        column = GPRegressor(epochs=2).fit(X, y[:, None])
    np.testing.assert_array_equal(column.predict(X), GPRegressor(epochs=2).fit(X, y).predict(X))
    with pytest.raises(InvalidInputError, match="deep_kernel"):
        GPRegressor(deep_kernel=(4, 0)).fit(X, y)
    gp.fit(X, y)
    with pytest.raises(InvalidInputError):
        gp.predict(X[:, :1])
    with pytest.raises(InvalidInputError):
        gp.fit(np.where(X > 0, np.nan, X), y)
    lower, upper = gp.predict_interval(X, alpha=0.1)
    assert np.all(lower < upper)
    scores = GPRegressor(epochs=5).fit(X, y, X_val=X[:5], y_val=y[:5]).validation_scores_
    assert np.isfinite(scores["nll"])


def _two_moons(n=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    X = np.c_[labels * 2.0 - 1.0, 0.0 * labels] + 0.4 * rng.normal(size=(n, 2))
    return X, np.where(labels == 1, "yes", "no")


@pytest.mark.parametrize(
    "params",
    [
        {"method": "dirichlet", "epochs": 30},
        {"method": "variational", "epochs": 40, "batch_size": 30},
    ],
    ids=["dirichlet", "variational-bernoulli"],
)
def test_gp_classifier_binary(params, tmp_path):
    X, y = _two_moons()
    clf = GPClassifier(random_state=0, n_samples=64, **params).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.score(X, y) > 0.9
    pred = clf.predict_uncertainty(X)
    assert isinstance(pred, ClassificationPrediction)
    assert pred.member_probs.shape == (64, len(X), 2)
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0)
    # near the class centres the label is sure; on the boundary far away the model is not
    sure = clf.predict_uncertainty(np.array([[-1.0, 0.0], [1.0, 0.0]]))
    unsure = clf.predict_uncertainty(np.array([[0.0, 8.0]]))
    assert unsure.epistemic[0] > sure.epistemic.max()
    assert unsure.total[0] > sure.total.max()
    loaded = uqkit.load(clf.save(tmp_path / "clf"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("method", ["dirichlet", "variational"])
def test_gp_classifier_three_classes(method):
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    labels = rng.integers(0, 3, size=60)
    X = centres[labels] + 0.5 * rng.normal(size=(60, 2))
    clf = GPClassifier(
        method=method,
        epochs=25 if method == "dirichlet" else 30,
        batch_size=30,
        n_samples=32,
        random_state=0,
    ).fit(X, labels)
    assert clf.score(X, labels) > 0.9
    assert clf.predict_proba(X).shape == (60, 3)


def test_gp_classifier_deep_kernel(tmp_path):
    X, y = _two_moons(n=40, seed=2)
    clf = GPClassifier(
        method="dirichlet", deep_kernel=(8, 2), epochs=20, lr=0.05, n_samples=16, random_state=0
    ).fit(X, y)
    assert clf.model_.feature_extractor is not None
    assert clf.score(X, y) > 0.8
    loaded = uqkit.load(clf.save(tmp_path / "dk"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_gp_classifier_errors():
    X, y = _two_moons(n=20)
    with pytest.raises(InvalidInputError, match="two classes"):
        GPClassifier(epochs=2).fit(X, np.zeros(20))
    with pytest.raises(NotFittedError):
        GPClassifier().predict_proba(X)
    with pytest.raises(InvalidParameterError, match="method"):
        GPClassifier(method="laplace").fit(X, y)


# ---------------------------------------------------------------------------- train/eval modes
def _modes(module):
    return [m.training for m in module.modules()]


@pytest.mark.parametrize(
    "make",
    [
        lambda: GPRegressor(method="exact", epochs=10, random_state=0),
        lambda: GPRegressor(method="svgp", n_inducing=8, epochs=1, **FAST_INIT),
        lambda: GPClassifier(method="dirichlet", epochs=5, n_samples=8, random_state=0),
        lambda: GPClassifier(method="variational", epochs=2, n_samples=8, random_state=0),
    ],
    ids=["exact", "svgp", "dirichlet", "variational"],
)
def test_prediction_restores_the_train_eval_mode_of_every_submodule(make):
    """STYLE convention 4: inference sets eval mode itself and gives back the mode it found."""
    X, y = _data(n=24, seed=10)
    if isinstance(make(), GPClassifier):
        y = (y > np.median(y)).astype(int)
    model = make().fit(X, y)
    assert not any(_modes(model.model_))  # fitted modules are left in eval mode
    reference = model.predict_uncertainty(X[:5])
    model.model_.train()
    model.likelihood_.eval()  # a mixed state must come back exactly as it was
    before = _modes(model.model_)
    assert any(before) and not all(before)
    again = model.predict_uncertainty(X[:5])
    assert _modes(model.model_) == before
    if isinstance(model, GPRegressor):
        np.testing.assert_array_equal(again.mean, reference.mean)
        np.testing.assert_array_equal(again.epistemic, reference.epistemic)
    else:
        np.testing.assert_array_equal(again.member_probs, reference.member_probs)


def test_history_has_the_shared_shape_and_epochs_defaults_per_method():
    X, y = _data(n=30, seed=11)
    svgp = GPRegressor(method="svgp", n_inducing=8, init_exact_samples=0, random_state=0)
    assert svgp.get_params()["epochs"] is None
    (entry,) = svgp.fit(X, y).history_
    assert set(entry) == {"member", "epochs", "best_epoch", "train_loss", "val_loss"}
    assert entry["member"] == 0 and entry["val_loss"] == []
    assert entry["epochs"] == len(entry["train_loss"]) == 50  # epochs=None: 50 SVGP passes
    assert entry["best_epoch"] == 50  # the SVGP keeps its last state
    exact = GPRegressor(method="exact", epochs=10, random_state=0).fit(X, y)
    (entry,) = exact.history_
    losses = entry["train_loss"]
    assert entry["epochs"] == len(losses) >= 1  # one entry per L-BFGS objective evaluation
    assert losses[entry["best_epoch"] - 1] == min(losses)  # the kept hyperparameters
    clf = GPClassifier(method="variational", epochs=3, n_samples=4, random_state=0)
    assert clf.fit(X, y > np.median(y)).history_[0]["epochs"] == 3


# ---------------------------------------------------------------------------- the exact loop
def _smooth(module):  # not quadratic, so that L-BFGS needs many evaluations
    return ((module.weight - 3.0) ** 4).sum() + torch.cosh(module.bias).sum()


def test_exact_training_keeps_the_best_evaluation_when_a_trial_step_fails():
    """A singular trial step stops L-BFGS with a warning; the best evaluation is restored."""
    module = torch.nn.Linear(1, 1)
    with torch.no_grad():
        module.weight.fill_(0.5)
        module.bias.fill_(1.0)
    module.register_buffer("counter", torch.zeros(()))
    states = []

    def loss_fn(m):
        with torch.no_grad():
            m.counter += 1  # a buffer that changes at every evaluation, the failed one too
        if len(states) == 5:
            return m.weight.sum() * float("nan")  # the sixth evaluation "goes singular"
        states.append((m.weight.item(), m.bias.item(), m.counter.item()))
        return _smooth(m)

    with pytest.warns(ConvergenceWarning, match="best hyperparameters"):
        losses, best = train_exact(module, loss_fn, epochs=50)
    assert len(losses) == 5 and losses[best - 1] == min(losses)
    weight, bias, counter = states[best - 1]
    assert module.weight.item() == weight and module.bias.item() == bias
    assert module.counter.item() == counter <= 5  # buffers come back too (6 without restoring)
    with pytest.raises(DivergenceError, match="not positive definite"):
        train_exact(torch.nn.Linear(1, 1), lambda m: m.weight.sum() * float("inf"), epochs=5)
    assert train_exact(torch.nn.Linear(1, 1), _smooth, epochs=0) == ([], 0)
