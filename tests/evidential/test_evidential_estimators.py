"""EvidentialClassifier and EvidentialRegressor: the shared interface and what the methods claim."""

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

import uqkit.base
from uqkit.evidential import EvidentialClassifier, EvidentialRegressor
from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.losses import DirichletMemberLoss, MemberLoss, NIGMemberLoss
from uqkit.training import member_losses

FAST = {"epochs": 15, "verbose": 0, "random_state": 0}


# ------------------------------------------------------------------------------ regressor
def test_regressor_predicts_a_student_t_in_the_units_of_y(cubic_data):
    X, y = cubic_data
    model = EvidentialRegressor(**FAST).fit(X, y)
    pred = model.predict_uncertainty(X[:40])
    nig = model.predict_nig(X[:40])
    assert pred.distribution == "student_t" and pred.mean.shape == (40,)
    assert np.allclose(pred.mean, nig["gamma"]) and np.allclose(model.predict(X[:40]), pred.mean)
    assert np.allclose(pred.df, 2 * nig["alpha"]) and np.all(pred.df > 2)
    # total variance is the variance of the predictive Student-t, in y's units
    variance = stats.t.var(pred.df, loc=pred.mean, scale=pred.scale)
    assert np.allclose(pred.total, variance)
    assert np.allclose(pred.aleatoric, nig["beta"] / (nig["alpha"] - 1))
    assert np.allclose(pred.epistemic, pred.aleatoric / nig["nu"])
    lower, upper = model.predict_interval(X[:40], alpha=0.1)
    assert np.all(lower < pred.mean) and np.all(pred.mean < upper)
    metrics = model.evaluate(X, y)
    assert np.isfinite(metrics["nll"]) and 0 <= metrics["coverage_90"] <= 1
    assert model.score(X, y) > 0.5


def test_regressor_nig_in_user_units_matches_the_standardised_network(cubic_data):
    X, y = cubic_data
    model = EvidentialRegressor(**FAST).fit(X, y)
    scaled = EvidentialRegressor(**FAST).fit(X, (y - 5.0) / 10.0)
    a, b = model.predict_nig(X[:10]), scaled.predict_nig(X[:10])
    # standardisation makes the trained networks identical; only the units differ
    assert np.allclose(a["gamma"], 5.0 + 10.0 * b["gamma"], rtol=1e-5)
    assert np.allclose(a["beta"], 100.0 * b["beta"], rtol=1e-5)
    assert np.allclose(a["nu"], b["nu"], rtol=1e-5) and np.allclose(a["alpha"], b["alpha"])


def test_meinert_split_changes_only_aleatoric_and_epistemic(cubic_data):
    X, y = cubic_data
    model = EvidentialRegressor(**FAST).fit(X, y)
    amini = model.predict_uncertainty(X[:30])
    model.set_params(uncertainty="meinert")  # a prediction-time option: no refit needed
    meinert = model.predict_uncertainty(X[:30])
    nig = model.predict_nig(X[:30])
    assert np.allclose(meinert.aleatoric, meinert.scale**2)
    assert np.allclose(meinert.epistemic, model.y_scale_[0] ** 2 / nig["nu"])
    assert np.allclose(meinert.nll(y[:30], "none"), amini.nll(y[:30], "none"))


def test_epistemic_variance_grows_away_from_the_training_data(cubic_data):
    # Amini et al. (2020, Fig. 3) toy problem. With a tanh network the NIG's evidence decays
    # outside [-4, 4]; with ReLU it need not (see docs/evidential.md).
    X, y = cubic_data
    model = EvidentialRegressor(hidden_layers=(50,), activation="tanh", lr=5e-3, epochs=100,
                                early_stopping=False, verbose=0, random_state=0).fit(X, y)
    inside = model.predict_uncertainty(np.linspace(-3.5, 3.5, 30)[:, None])
    outside = model.predict_uncertainty(np.array([[-7.0], [7.0]]))
    assert outside.epistemic.min() > 3 * inside.epistemic.mean()
    # and the mean still fits the cubic inside the training range
    assert np.mean(np.abs(inside.mean - np.linspace(-3.5, 3.5, 30) ** 3)) < 6.0


def test_multi_output_regression(cubic_data):
    X, y = cubic_data
    Y = np.column_stack([y, -2 * y + 1])
    model = EvidentialRegressor(**FAST).fit(X, Y)
    pred = model.predict_uncertainty(X[:7])
    assert pred.mean.shape == pred.epistemic.shape == (7, 2)
    assert model.stack_(torch.zeros(1, 3, 1)).shape == (1, 3, 8)


# ------------------------------------------------------------------------------ classifier
def test_classifier_predicts_a_dirichlet(blob_data):
    X, y = blob_data
    model = EvidentialClassifier(**FAST).fit(X, y)
    pred = model.predict_uncertainty(X)
    concentration = model.predict_concentration(X)
    assert list(model.classes_) == ["a", "b", "c"]
    assert np.all(concentration >= 1) and np.allclose(pred.concentration, concentration)
    assert np.allclose(pred.probs, concentration / concentration.sum(1, keepdims=True))
    assert np.allclose(model.predict_proba(X).sum(1), 1.0)
    assert model.score(X, y) > 0.95
    assert np.all(pred.epistemic >= 0) and np.allclose(pred.vacuity, 3 / concentration.sum(1))
    metrics = model.evaluate(X, y)
    assert metrics["accuracy"] > 0.95 and np.isfinite(metrics["nll"])


@pytest.mark.parametrize("evidence", ["softplus", "exp"])
@pytest.mark.parametrize("loss", ["mse", "log", "digamma"])
def test_every_evidence_and_loss_learns(blob_data, evidence, loss):
    X, y = blob_data
    model = EvidentialClassifier(evidence=evidence, loss=loss, epochs=10, lr=1e-2,
                                 early_stopping=False, verbose=0, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.9


def test_relu_evidence_learns_unless_a_class_starts_in_its_zero_evidence_region(blob_data):
    X, y = blob_data
    kwargs = dict(evidence="relu", epochs=10, lr=1e-2, early_stopping=False, verbose=0)
    assert EvidentialClassifier(random_state=1, **kwargs).fit(X, y).score(X, y) > 0.9
    # With seed 0 one class's logit is negative on every input at initialisation: its evidence
    # is 0 everywhere, no gradient reaches it, and the class is never predicted (Pandey & Yu,
    # ICML 2023). This is why the default evidence is softplus.
    stuck = EvidentialClassifier(random_state=0, **kwargs).fit(X, y)
    assert np.all(stuck.predict_concentration(X)[:, 1] == 1.0) and "b" not in set(stuck.predict(X))


def test_evidence_is_low_where_the_classes_overlap():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(600, 1))
    y = (X[:, 0] > 0).astype(int)
    flip = np.abs(X[:, 0]) < 0.5  # labels are coin flips near the boundary
    y[flip] = rng.integers(0, 2, size=flip.sum())
    model = EvidentialClassifier(epochs=40, lr=1e-2, verbose=0, random_state=0).fit(X, y)
    pred = model.predict_uncertainty(np.array([[0.0], [-2.5], [2.5]]))
    assert pred.vacuity[0] > 2 * pred.vacuity[1:].max()
    assert pred.total[0] > pred.total[1:].max()


def test_evidential_member_losses_follow_the_member_loss_protocol():
    assert isinstance(DirichletMemberLoss(), MemberLoss) and isinstance(NIGMemberLoss(), MemberLoss)
    nig = NIGMemberLoss(regularization=0.1)
    raw, target = torch.randn(2, 8, 4), torch.randn(2, 8, 1)
    before = nig(raw, target)
    nig.set_epoch(5, 10)  # the protocol's no-op: the NIG objective does not change with the epoch
    assert torch.equal(nig(raw, target), before)
    assert torch.equal(nig.validation_loss(raw, target), before)


def test_early_stopping_criterion_does_not_drift_with_the_annealing():
    raw = torch.randn(1, 16, 3)
    labels = torch.randint(0, 3, (1, 16))
    member_loss = DirichletMemberLoss(loss="mse", annealing_epochs=10, kl_weight=1.0)
    member_loss.set_epoch(0, 30)
    training_at_0 = member_loss(raw, labels)

    class Fixed(torch.nn.Module):  # a "stack" of one member that outputs ``raw``
        n_members = 1

        def forward(self, x):
            return raw

    # how train_stack scores validation data for early stopping
    validation_at_0 = member_losses(Fixed(), member_loss, torch.zeros(16, 1), labels[0])
    member_loss.set_epoch(7, 30)
    validation_at_7 = member_losses(Fixed(), member_loss, torch.zeros(16, 1), labels[0])
    member_loss.set_epoch(20, 30)
    training_at_20 = member_loss(raw, labels)
    assert torch.equal(validation_at_0, validation_at_7)
    # the final, fully annealed objective
    assert torch.allclose(validation_at_0.float(), training_at_20)
    assert not torch.allclose(training_at_0, training_at_20)


def test_cnn_architecture_on_flat_images(tiny_images, tmp_path):
    X, y = tiny_images
    model = EvidentialClassifier(architecture="cnn", image_shape=(1, 16, 16), hidden_layers=(8,),
                                 conv_channels=(2, 3), **FAST).fit(X, y)
    assert np.allclose(model.x_scale_, model.x_scale_[0])  # one global pixel scale
    assert model.predict_uncertainty(X[:5]).probs.shape == (5, 2)
    loaded = uqkit.base.load(model.save(tmp_path / "cnn"))
    assert np.array_equal(loaded.predict_concentration(X), model.predict_concentration(X))
    with pytest.raises(InvalidInputError, match="pixels but X has"):
        EvidentialClassifier(architecture="cnn", **FAST).fit(X, y)  # default 28x28 ≠ 256


@pytest.mark.parametrize("scaling", ["column", "global", "none"])
def test_feature_scaling(scaling, blob_data):
    X, y = blob_data
    X = X * np.array([1.0, 100.0]) + 5.0
    model = EvidentialClassifier(feature_scaling=scaling, epochs=2, verbose=0, random_state=0)
    model.fit(X, y)
    if scaling == "column":
        assert np.allclose(model.x_scale_, X.std(0)) and np.allclose(model.x_mean_, X.mean(0))
    elif scaling == "global":
        assert np.allclose(model.x_scale_, X.std()) and np.allclose(model.x_mean_, X.mean())
    else:
        assert np.all(model.x_scale_ == 1.0) and np.all(model.x_mean_ == 0.0)


# ------------------------------------------------------------------------------ shared interface
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_save_load_gives_identical_predictions(kind, cubic_data, blob_data, tmp_path):
    if kind == "regressor":
        X, y = cubic_data
        model = EvidentialRegressor(uncertainty="meinert", **FAST).fit(X, y)
    else:
        X, y = blob_data
        model = EvidentialClassifier(evidence="exp", loss="digamma", **FAST).fit(X, y)
    loaded = uqkit.base.load(model.save(tmp_path / kind))
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    a, b = model.predict_uncertainty(X), loaded.predict_uncertainty(X)
    assert np.array_equal(a.mean if kind == "regressor" else a.probs,
                          b.mean if kind == "regressor" else b.probs)
    assert np.array_equal(a.epistemic, b.epistemic)
    assert loaded.history_ == model.history_


def test_same_random_state_same_model_and_clone(cubic_data):
    X, y = cubic_data
    model = EvidentialRegressor(**FAST)
    a = model.fit(X, y).predict(X)
    b = clone(model).fit(X, y).predict(X)
    c = EvidentialRegressor(epochs=15, verbose=0, random_state=1).fit(X, y).predict(X)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert model.validation_indices_.shape == (30,)  # 10% held out for early stopping
    assert 1 <= model.history_[0]["best_epoch"] <= model.history_[0]["epochs"] <= 15


def test_explicit_validation_data(blob_data):
    X, y = blob_data
    model = EvidentialClassifier(**FAST).fit(X[:200], y[:200], X_val=X[200:], y_val=y[200:])
    assert len(model.history_[0]["val_loss"]) == model.history_[0]["epochs"]
    assert not hasattr(model, "validation_indices_")
    with pytest.raises(InvalidInputError, match="do not occur in y"):
        EvidentialClassifier(**FAST).fit(X, y, X_val=X[:3], y_val=["a", "b", "zzz"])


def test_bad_inputs_raise_clear_errors(cubic_data, blob_data):
    X, y = cubic_data
    with pytest.raises(NotFittedError):
        EvidentialRegressor().predict(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        EvidentialRegressor(**FAST).fit(bad, y)
    model = EvidentialRegressor(**FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="features"):
        model.predict(np.ones((3, 2)))
    with pytest.raises(InvalidParameterError, match="'lr' parameter"):
        EvidentialRegressor(lr=-1.0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'uncertainty' parameter"):
        EvidentialRegressor(uncertainty="sensoy").fit(X, y)
    with pytest.raises(InvalidInputError, match="hidden_layers"):
        EvidentialRegressor(hidden_layers=(0,)).fit(X, y)
    Xc, yc = blob_data
    with pytest.raises(InvalidInputError, match="at least two classes"):
        EvidentialClassifier(**FAST).fit(Xc, np.full(len(Xc), "a"))
    with pytest.raises(InvalidParameterError, match="'evidence' parameter"):
        EvidentialClassifier(evidence="sigmoid").fit(Xc, yc)
    with pytest.raises(InvalidInputError, match="too few"):
        EvidentialClassifier(**FAST).fit(Xc[:2], yc[:2])
