"""The two selection losses: the exact mixture NLL (uqkit's default) and the NLL of the
moment-matched Gaussian (the paper's code), and the estimators' ``selection_loss`` /
``space="deephyper"`` with the search run in-process (no Ray cluster)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

import uqkit
import uqkit.search
from tests.helpers import in_process_trials
from uqkit.ensemble import AutoDEUQClassifier, AutoDEUQRegressor
from uqkit.ensemble._selection import (
    MixtureObjective,
    MomentMatchedObjective,
    greedy_selection,
    member_log_likelihoods,
    mixture_nll,
    moment_matched_nll,
    top_k_selection,
)
from uqkit.exceptions import InvalidInputError
from uqkit.search import DeepHyperSpace


def test_the_moment_matched_loss_is_the_gaussian_nll_of_the_matched_moments():
    means = np.array([[0.0, 1.0], [2.0, 1.5], [-1.0, 0.0]])
    variances = np.array([[1.0, 0.5], [0.25, 2.0], [1.0, 1.0]])
    y = np.array([0.5, 1.0])
    w = np.array([2.0, 1.0, 1.0]) / 4
    mu = w @ means
    var = w @ variances + w @ (means - mu) ** 2  # law of total variance
    expected = -norm.logpdf(y, mu, np.sqrt(var)).mean()
    assert moment_matched_nll(means, variances, y, [2, 1, 1]) == pytest.approx(expected,
                                                                                rel=1e-12)
    # by hand at sample 0: mu = (0 + 0 + 2 - 1) / 4 = 0.25, var = (2 + 0.25 + 1) / 4 + spread
    spread = (2 * 0.25**2 + 1.75**2 + 1.25**2) / 4
    assert mu[0] == 0.25 and var[0] == pytest.approx(3.25 / 4 + spread)


def test_targets_add_up_and_candidates_agree_with_score():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(5, 30, 2))
    variances = rng.uniform(0.1, 2.0, size=(5, 30, 2))
    y = rng.normal(size=(30, 2))
    objective = MomentMatchedObjective(means, variances, y)
    counts = np.array([2.0, 0.0, 1.0, 0.0, 0.0])
    per_target = sum(moment_matched_nll(means[..., d], variances[..., d], y[:, d], counts)
                     for d in range(2))
    assert objective.score(counts) == pytest.approx(per_target, rel=1e-12)
    for j, value in enumerate(objective.candidates(counts)):
        more = counts.copy()
        more[j] += 1
        assert value == pytest.approx(objective.score(more), rel=1e-12)
    mixture = MixtureObjective(member_log_likelihoods(means, variances, y))
    for j, value in enumerate(mixture.candidates(counts)):
        more = counts.copy()
        more[j] += 1
        assert value == pytest.approx(mixture_nll(mixture.log_lik, more), rel=1e-12)
    # one model: the moment match is the model itself, both losses are its own NLL
    np.testing.assert_allclose(objective.single(), mixture.single(), rtol=1e-12)


def test_one_member_ensembles_are_the_same_under_both_losses():
    rng = np.random.default_rng(1)
    means, variances = rng.normal(size=(6, 40)), rng.uniform(0.2, 1.5, size=(6, 40))
    y = rng.normal(size=40)
    mixture = greedy_selection(member_log_likelihoods(means, variances, y), 1)
    matched = greedy_selection(MomentMatchedObjective(means, variances, y), 1)
    assert mixture.indices.tolist() == matched.indices.tolist()
    assert mixture["path"] == pytest.approx(matched["path"], rel=1e-12)
    top = top_k_selection(MomentMatchedObjective(means, variances, y), 3)
    assert top.indices.tolist() == top_k_selection(
        member_log_likelihoods(means, variances, y), 3).indices.tolist()


def test_a_bimodal_target_separates_the_two_losses():
    """Targets at -1 and +1; two sharp models, one at each, and a broad one at 0 (the best
    single model, where greedy selection starts). With the sharp ones the exact mixture fits
    both modes; every Gaussian match of such a mixture is broad and no better, so the paper's
    loss keeps the broad model alone."""
    y = np.array([-1.0, 1.0] * 10)
    means = np.stack([np.full(20, -1.0), np.full(20, 1.0), np.zeros(20)])
    variances = np.stack([np.full(20, 0.01), np.full(20, 0.01), np.full(20, 1.0)])
    mixture = greedy_selection(member_log_likelihoods(means, variances, y), 3)
    matched = greedy_selection(MomentMatchedObjective(means, variances, y), 3)
    assert mixture.indices.tolist() == [2, 0, 1]
    assert matched.indices.tolist() == [2] and matched["stopped"] == "no_gain"
    held_out = member_log_likelihoods(means, variances, y)
    assert mixture_nll(held_out, mixture["counts"]) < mixture_nll(held_out, matched["counts"])


# -- the estimators, with the search run in-process ----------------------------------------
def _in_process_search(data, setup, *, n_trials, storage_path, **_):
    return in_process_trials(data, setup, n_trials, storage_path), []


@pytest.fixture
def local_search(monkeypatch):
    pytest.importorskip("ray")  # fit checks that the search extra is installed
    monkeypatch.setattr(uqkit.search, "run_search", _in_process_search)


SMALL = {"kind": "deephyper", "num_nodes": 3, "units": [16, 32], "epochs": 4,
         "patience_early_stopping": [2, 3], "batch_size": [32, 64]}


@pytest.mark.usefixtures("local_search")
def test_the_deephyper_preset_end_to_end_with_the_papers_selection_loss(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=150)
    model = AutoDEUQRegressor(n_trials=5, ensemble_size=3, space=SMALL, min_members=2,
                              selection_loss="moment_matched", random_state=0,
                              device="cpu").fit(X, y)
    assert all(a["kind"] == "dense_skipco" for a in model.member_architectures_)
    assert {"optimizer", "patience_reduce_lr"} <= set(model.catalog_.columns)
    assert model.weights_.sum() == pytest.approx(1.0) and len(model.members_) >= 2
    pred = model.predict_uncertainty(X[:4])
    assert np.all(pred.total > 0) and np.all(np.isfinite(pred.mean))
    path = tmp_path / "model.safetensors"
    model.save(path)
    np.testing.assert_allclose(uqkit.load(path).predict(X[:4]), model.predict(X[:4]))


@pytest.mark.usefixtures("local_search")
def test_the_selection_path_is_the_chosen_loss_of_the_chosen_members(monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 2))
    y = X[:, 0] + 0.2 * rng.normal(size=120)
    common = dict(n_trials=4, ensemble_size=2, space={"max_layers": 1, "units": [8, 16],
                                                      "epochs": 3, "patience": 2},
                  min_members=2, random_state=0, device="cpu")
    seen = {}
    original = AutoDEUQRegressor._selection_objective

    def spy(self, records, y_val):
        objective = original(self, records, y_val)
        seen[self.selection_loss] = objective
        return objective

    monkeypatch.setattr(AutoDEUQRegressor, "_selection_objective", spy)
    mixture = AutoDEUQRegressor(selection_loss="mixture", **common).fit(X, y)
    matched = AutoDEUQRegressor(selection_loss="moment_matched", **common).fit(X, y)
    assert isinstance(seen["mixture"], MixtureObjective)
    assert isinstance(seen["moment_matched"], MomentMatchedObjective)
    for model, objective in ((mixture, seen["mixture"]), (matched, seen["moment_matched"])):
        counts = np.zeros(objective.n_models)
        counts[model.selected_rows_] = model.weights_
        assert model.selection_path_[-1] == pytest.approx(objective.score(counts), rel=1e-9)


@pytest.mark.usefixtures("local_search")
def test_classifier_moment_matching_is_the_mixture_and_the_head_is_checked():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = (X[:, 0] > 0).astype(int)
    space = {**SMALL, "head": "softmax"}
    fits = [AutoDEUQClassifier(n_trials=3, ensemble_size=2, space=space, selection_loss=loss,
                               min_members=2, random_state=0, device="cpu").fit(X, y)
            for loss in ("mixture", "moment_matched")]
    assert fits[0].selected_rows_ == fits[1].selected_rows_
    np.testing.assert_array_equal(fits[0].weights_, fits[1].weights_)
    np.testing.assert_allclose(fits[0].predict_proba(X[:3]).sum(axis=1), 1.0)
    with pytest.raises(InvalidInputError, match="head='softmax'"):
        AutoDEUQClassifier(n_trials=1, space=DeepHyperSpace(), random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="selection_loss"):
        AutoDEUQClassifier(n_trials=1, selection_loss="exact", random_state=0).fit(X, y)
