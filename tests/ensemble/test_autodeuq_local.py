"""The AutoDEUQ estimators' pipeline (split, catalog, selection, refit, predict, save/load) with
the Ray search replaced by in-process trials that write the same checkpoints (fast, no cluster)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import uqkit
import uqkit.search
from tests.helpers import in_process_trials
from uqkit.ensemble import AutoDEUQClassifier, AutoDEUQRegressor, DeepEnsembleRegressor, mixture_nll
from uqkit.exceptions import InvalidInputError
from uqkit.search import network_outputs
from uqkit.training import RayBackend

pytest.importorskip("ray")  # fit checks that the search extra is installed (no cluster starts)

SPACE = {"max_layers": 2, "units": [16, 32], "epochs": 4, "patience": 2, "batch_size": [32, 64],
         "dropout": [0.0, 0.0]}


def _in_process_search(data, setup, *, n_trials, storage_path, **_):
    """Stand-in for the Tune driver: the same trial body, run here one after another."""
    failed = {"trial_name": "t-failed", "status": "ERROR", "config": {},
              "error": "RuntimeError: boom", "attempts": 3}
    return in_process_trials(data, setup, n_trials, storage_path), [failed]


@pytest.fixture(autouse=True)
def local_search(monkeypatch):
    monkeypatch.setattr(uqkit.search, "run_search", _in_process_search)


def _regression(n=150):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=n)


def test_regressor_mixture_weights_catalog_and_save_load(tmp_path):
    X, y = _regression()
    model = AutoDEUQRegressor(n_trials=5, ensemble_size=3, space=SPACE, random_state=0,
                              device="cpu").fit(X, y)
    assert model.weights_.sum() == pytest.approx(1.0)
    assert len(model.members_) == len(model.weights_) <= 3
    catalog = model.catalog_
    assert len(catalog) == 6 and catalog["status"].tolist().count("ERROR") == 1
    assert catalog["weight"].sum() == pytest.approx(1.0)
    # the reported selection NLL is the mixture NLL of the members' validation predictions,
    # recomputed here from the saved networks (standardised units)
    val = model.validation_indices_
    Xs = ((X[val] - model.x_mean_) / model.x_scale_).astype(np.float32)
    outputs = [network_outputs(net, Xs) for net in model.members_]
    means = np.stack([o[:, 0].numpy() for o in outputs])
    variances = np.stack([torch.nn.functional.softplus(o[:, 1]).numpy() + 1e-6 for o in outputs])
    ys = (y[val] - model.y_mean_[0]) / model.y_scale_[0]
    ll = -0.5 * (np.log(2 * np.pi * variances) + (ys - means) ** 2 / variances)
    assert mixture_nll(ll, model.weights_) == pytest.approx(model.selection_path_[-1], rel=1e-5)
    # the prediction is the weighted mixture, in y's units
    pred = model.predict_uncertainty(X[:10])
    members = pred.member_means
    np.testing.assert_allclose(pred.mean, model.weights_ @ members, rtol=1e-10)
    np.testing.assert_allclose(pred.epistemic, model.weights_ @ (members - pred.mean) ** 2,
                               rtol=1e-8, atol=1e-12)
    loaded = uqkit.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_uncertainty(X[:10]).total, pred.total)


def test_history_has_the_shape_of_every_estimator():
    X, y = _regression()
    model = AutoDEUQRegressor(n_trials=3, ensemble_size=2, space=SPACE, random_state=0,
                              device="cpu").fit(X, y)
    ensemble = DeepEnsembleRegressor(n_members=1, epochs=2, random_state=0).fit(X, y)
    assert len(model.history_) == len(model.members_)
    for j, entry in enumerate(model.history_):
        assert set(entry) == set(ensemble.history_[0])
        assert entry["member"] == j and len(entry["train_loss"]) == entry["epochs"]
        assert len(entry["val_loss"]) == entry["epochs"] and 1 <= entry["best_epoch"] <= 4


def test_same_data_preparation_and_mixture_as_the_deep_ensemble():
    X, y = _regression()
    model = AutoDEUQRegressor(n_trials=3, ensemble_size=2, space=SPACE, validation_fraction=0.2,
                              random_state=4, device="cpu").fit(X, y)
    ensemble = DeepEnsembleRegressor(n_members=1, epochs=1, validation_fraction=0.2,
                                     random_state=4).fit(X, y)
    np.testing.assert_array_equal(model.validation_indices_, ensemble.validation_indices_)
    for name in ("x_mean_", "x_scale_", "y_mean_", "y_scale_"):
        np.testing.assert_array_equal(getattr(model, name), getattr(ensemble, name))
    # the mixture of the members, as every ensemble predicts it
    pred = model.predict_uncertainty(X[:7])
    assert pred.distribution == "mixture"
    np.testing.assert_array_equal(pred.weights, model.weights_)


def test_dropout_draws_from_each_trial_generator_not_the_global_one():
    # the bug: dropout masks came from torch's global generator, so the same random_state gave
    # different members and fit moved the caller's random state
    X, y = _regression()
    space = {**SPACE, "dropout": [0.2, 0.4]}

    def fit():
        return AutoDEUQRegressor(n_trials=3, ensemble_size=2, space=space, random_state=0,
                                 device="cpu").fit(X, y)

    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = fit()
    assert torch.equal(torch.get_rng_state(), before), "fit moved the global torch generator"
    torch.manual_seed(123)  # whatever the caller's generator holds, the members are the same
    second = fit()
    assert any(config["dropout"] > 0 for config in first.member_configs_)
    a, b = first.predict_uncertainty(X[:20]), second.predict_uncertainty(X[:20])
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.total, b.total)


def test_topk_and_refit():
    X, y = _regression()
    model = AutoDEUQRegressor(n_trials=4, ensemble_size=2, selection="topk", refit=True,
                              space=SPACE, random_state=1, device="cpu").fit(X, y)
    finished = model.catalog_[model.catalog_["status"] == "FINISHED"]
    best_two = finished.sort_values("val_nll").index[:2].tolist()
    assert sorted(model.selected_rows_) == sorted(best_two)
    assert model.weights_.tolist() == [0.5, 0.5]
    assert np.isfinite(model.predict(X)).all()
    # the refit's histories: the chosen epoch count, no validation rows left
    for entry, row in zip(model.history_, model.selected_rows_):
        assert entry["epochs"] == max(1, model.catalog_.loc[row, "best_epoch"])
        assert entry["val_loss"] == []


def test_classifier_mixture_of_categoricals():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "a", "b")
    model = AutoDEUQClassifier(n_trials=4, ensemble_size=2, space=SPACE, random_state=0,
                               device="cpu").fit(X, y)
    pred = model.predict_uncertainty(X[:20])
    np.testing.assert_allclose(pred.probs, np.einsum("k,knc->nc", model.weights_,
                                                     pred.member_probs))
    assert set(model.predict(X)) <= {"a", "b"} and model.score(X, y) > 0.6
    assert model.weights_.sum() == pytest.approx(1.0)


def test_invalid_parameters_are_refused():
    X, y = _regression(40)
    with pytest.raises(InvalidInputError, match="sample_size"):
        AutoDEUQRegressor(population_size=2, sample_size=3).fit(X, y)
    with pytest.raises(ValueError, match="selection"):
        AutoDEUQRegressor(selection="best").fit(X, y)
    with pytest.raises(ValueError, match="backend"):
        AutoDEUQRegressor(backend="vectorized").fit(X, y)
    with pytest.raises(InvalidInputError, match="members_per_task"):
        AutoDEUQRegressor(backend=RayBackend(members_per_task=2)).fit(X, y)
    with pytest.raises(InvalidInputError, match="max_retries"):
        AutoDEUQRegressor(backend=RayBackend(max_retries=-1)).fit(X, y)


def test_ray_backend_is_kept_through_save_and_load(tmp_path):
    X, y = _regression()
    backend = RayBackend(resources={"num_cpus": 1}, max_retries=1,
                         checkpoint_dir=str(tmp_path / "trials"))
    model = AutoDEUQRegressor(n_trials=2, ensemble_size=1, space=SPACE, backend=backend,
                              random_state=0, device="cpu").fit(X, y)
    assert (tmp_path / "trials").is_dir()  # the trials were kept where the backend said
    loaded = uqkit.load(model.save(tmp_path / "m"))
    assert loaded.get_params()["backend"] == backend
    np.testing.assert_array_equal(loaded.predict(X[:5]), model.predict(X[:5]))


def test_cli_writes_model_catalog_and_report(tmp_path, capsys):
    from uqkit.cli import main

    config = tmp_path / "tiny.yaml"
    config.write_text(
        "dataset: yacht\nsearch:\n  n_trials: 3\n  ensemble_size: 2\n  population_size: 2\n"
        "  sample_size: 2\nspace:\n  max_layers: 1\n  units: [16, 16]\n  epochs: 3\n"
        "  patience: 2\n"
    )
    out = tmp_path / "out"
    assert main(["search", str(config), "--split", "1", "--output", str(out),
                 "--max-train-rows", "120", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "yacht split 1: test NLL" in printed
    model = uqkit.load(out / "model.safetensors")
    assert model.n_trials == 3 and model.weights_.sum() == pytest.approx(1.0)
    assert (out / "catalog.csv").read_text().count("\n") == 5  # header + 3 trials + 1 failed
    assert (out / "report.html").stat().st_size > 0
