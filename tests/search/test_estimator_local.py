"""The estimators' pipeline (split, catalog, selection, refit, predict, save/load) with the Ray
search replaced by in-process trials that write the same checkpoints (fast, no cluster)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import uqkit
from uqkit.search import AutoDEUQClassifier, AutoDEUQRegressor, SearchSpace, mixture_nll

_tune = pytest.importorskip("uqkit.search._tune")  # imports ray (no cluster is started)

SPACE = {"max_layers": 2, "units": [16, 32], "epochs": 4, "patience": 2, "batch_size": [32, 64],
         "dropout": [0.0, 0.0]}


def _in_process_search(data, setup, *, n_trials, storage_path, **_):
    """Stand-in for the Tune driver: the same trial body, run here one after another."""
    setup = {**setup, "fingerprint": "local"}
    space = SearchSpace.from_dict(setup["space"])
    rng = np.random.default_rng(setup["seed"])
    records = []
    for i in range(n_trials):
        folder = storage_path / f"trial-{i}"
        folder.mkdir(parents=True)
        _tune.run_trial(space.sample(rng), {**data, "setup": setup}, folder, name=f"t{i}")
        records.append(_tune.load_trial(folder))
    return records, [{"trial_name": "t-failed", "status": "ERROR", "config": {},
                      "error": "RuntimeError: boom", "attempts": 3}]


@pytest.fixture(autouse=True)
def local_search(monkeypatch):
    monkeypatch.setattr(_tune, "run_search", _in_process_search)


def _regression(n=150):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=n)


def test_regressor_mixture_weights_catalog_and_save_load(tmp_path):
    X, y = _regression()
    model = AutoDEUQRegressor(n_trials=5, ensemble_size=3, space=SPACE, random_state=0,
                              device="cpu", verbose=0).fit(X, y)
    assert model.weights_.sum() == pytest.approx(1.0)
    assert len(model.members_) == len(model.weights_) <= 3
    catalog = model.catalog_
    assert len(catalog) == 6 and catalog["status"].tolist().count("ERROR") == 1
    assert catalog["weight"].sum() == pytest.approx(1.0)
    # the reported selection NLL is the mixture NLL of the members' validation predictions,
    # recomputed here from the saved networks (standardised units)
    val = model.validation_indices_
    Xs = ((X[val] - model.x_mean_) / model.x_scale_).astype(np.float32)
    outputs = [_tune.network_outputs(net, Xs) for net in model.members_]
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


def test_topk_and_refit():
    X, y = _regression()
    model = AutoDEUQRegressor(n_trials=4, ensemble_size=2, selection="topk", refit=True,
                              space=SPACE, random_state=1, device="cpu", verbose=0).fit(X, y)
    finished = model.catalog_[model.catalog_["status"] == "FINISHED"]
    best_two = finished.sort_values("val_nll").index[:2].tolist()
    assert sorted(model.selected_rows_) == sorted(best_two)
    assert model.weights_.tolist() == [0.5, 0.5]
    assert np.isfinite(model.predict(X)).all()


def test_classifier_mixture_of_categoricals():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "a", "b")
    model = AutoDEUQClassifier(n_trials=4, ensemble_size=2, space=SPACE, random_state=0,
                               device="cpu", verbose=0).fit(X, y)
    pred = model.predict_uncertainty(X[:20])
    np.testing.assert_allclose(pred.probs, np.einsum("k,knc->nc", model.weights_,
                                                     pred.member_probs))
    assert set(model.predict(X)) <= {"a", "b"} and model.score(X, y) > 0.6
    assert model.weights_.sum() == pytest.approx(1.0)


def test_invalid_parameters_are_refused():
    X, y = _regression(40)
    with pytest.raises(uqkit.exceptions.InvalidInputError, match="sample_size"):
        AutoDEUQRegressor(population_size=2, sample_size=3, verbose=0).fit(X, y)
    with pytest.raises(ValueError, match="selection"):
        AutoDEUQRegressor(selection="best", verbose=0).fit(X, y)


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
