import numpy as np
import pytest
import torch
from torch.nn import functional as F

import uqkit
from uqkit._random import derive_seed
from uqkit.dca import DCAClassifier, DCARegressor
from uqkit.dca._base import ORDER_STREAM
from uqkit.exceptions import InvalidInputError, ModelFileError, NotFittedError
from uqkit.losses import gaussian_nll
from uqkit.nn import gaussian_head

FAST = {"epochs": 5, "lr": 1e-2, "batch_size": 32, "verbose": 0, "random_state": 0}


def _plain_training(model, X, targets, loss_fn):
    """Ordinary training of the K = 1 network: same init, same data order, plain Adam loop."""
    init = model._build_module("dca_")  # the untrained network, rebuilt from the same seeds
    net = init.proposal_network((0,) * init.n_components)
    Xs = torch.as_tensor((X - X.mean(0)) / X.std(0), dtype=torch.float64)
    optimizer = torch.optim.Adam(net.parameters(), lr=model.lr)
    order_generator = torch.Generator().manual_seed(derive_seed(model.random_state_, ORDER_STREAM))
    for _ in range(model.epochs):
        order = torch.randperm(len(Xs), generator=order_generator)
        for start in range(0, len(Xs), model.batch_size):
            index = order[start : start + model.batch_size]
            optimizer.zero_grad()
            loss_fn(net(Xs[index]), targets[index]).backward()
            optimizer.step()
    return net, Xs


@pytest.mark.parametrize("n_train_proposals", [1, 5])
def test_k1_classifier_equals_ordinary_training(blobs3, n_train_proposals):
    X, y = blobs3
    model = DCAClassifier(
        n_instances=1, n_train_proposals=n_train_proposals, dtype="float64", **FAST
    ).fit(X, y)
    labels = torch.as_tensor(np.searchsorted(model.classes_, y))
    net, Xs = _plain_training(model, X, labels, F.cross_entropy)
    trained = model.dca_.proposal_network((0,) * len(model.component_names_))
    for a, b in zip(trained.parameters(), net.parameters()):
        assert torch.allclose(a, b, atol=1e-9, rtol=0)
    with torch.no_grad():
        expected = F.softmax(net(Xs), dim=-1).numpy()
    assert np.allclose(model.predict_proba(X), expected, atol=1e-9)
    pred = model.predict_uncertainty(X)
    assert pred.member_probs.shape == (1, len(X), 3)
    assert np.all(pred.epistemic == 0)


def test_k1_regressor_equals_ordinary_training(sine):
    X, y = sine
    model = DCARegressor(n_instances=1, n_train_proposals=2, dtype="float64", **FAST).fit(X, y)
    ys = torch.as_tensor(((y - y.mean()) / y.std())[:, None])

    def nll(raw, target):
        return gaussian_nll(*gaussian_head(raw, model.min_variance), target)

    net, Xs = _plain_training(model, X, ys, nll)
    with torch.no_grad():
        mean, var = gaussian_head(net(Xs), model.min_variance)
    pred = model.predict_uncertainty(X)
    assert np.allclose(pred.mean, mean[:, 0].numpy() * y.std() + y.mean(), atol=1e-9)
    assert np.allclose(pred.aleatoric, var[:, 0].numpy() * y.var(), atol=1e-9)


def test_member_axis_holds_the_sampled_proposals(blobs3):
    X, y = blobs3
    many = DCAClassifier(n_instances=3, hidden_layers=(8, 8), n_predict_proposals=10, **FAST)
    pred = many.fit(X, y).predict_uncertainty(X[:7])  # 3^3 = 27 proposals, M = 10 drawn
    assert pred.member_probs.shape == (10, 7, 3)
    assert len({tuple(p) for p in many.proposals_}) == 10
    few = DCAClassifier(n_instances=2, hidden_layers=(8,), n_predict_proposals=64, **FAST)
    pred = few.fit(X, y).predict_uncertainty(X[:7])  # 2^2 = 4 < M: all of them
    assert pred.member_probs.shape == (4, 7, 3)
    assert sorted(map(tuple, few.proposals_)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # each member row is the softmax of that proposal's plain network
    Xs = torch.as_tensor((X[:7] - few.x_mean_) / few.x_scale_, dtype=torch.float32)
    for row, proposal in zip(pred.member_probs, few.proposals_):
        with torch.no_grad():
            expected = F.softmax(few.dca_.proposal_network(proposal.tolist())(Xs), -1)
        assert np.allclose(row, expected.double().numpy(), atol=1e-6)
    assert np.allclose(pred.probs, pred.member_probs.mean(0))


def test_regressor_mixture_over_proposals(sine):
    X, y = sine
    model = DCARegressor(n_instances=3, n_predict_proposals=5, **FAST).fit(X, y)
    pred = model.predict_uncertainty(X)
    assert pred.distribution == "mixture" and pred.member_means.shape == (5, len(X))
    assert np.all(pred.epistemic > 0)
    assert np.allclose(pred.mean, pred.member_means.mean(0))
    with torch.no_grad():  # proposals that agree (all instances equal) → zero epistemic variance
        for wrapper in model.dca_.components():
            for inst in wrapper.instances[1:]:
                inst.load_state_dict(wrapper.instances[0].state_dict())
    assert np.allclose(model.predict_uncertainty(X).epistemic, 0, atol=1e-12)


def test_dcwa_prediction_uses_the_averaged_network(blobs3):
    X, y = blobs3
    model = DCAClassifier(n_instances=3, **FAST).fit(X, y)
    model.set_params(weight_averaging=True)  # prediction-time switch, no retraining
    pred = model.predict_uncertainty(X)
    assert pred.member_probs.shape == (1, len(X), 3)
    averaged = model.weight_averaged_network()
    Xs = torch.as_tensor((X - model.x_mean_) / model.x_scale_, dtype=torch.float32)
    with torch.no_grad():
        expected = F.softmax(averaged(Xs), -1).double().numpy()
    assert np.allclose(pred.probs, expected, atol=1e-6)
    assert model.score(X, y) > 0.9
    trained = DCAClassifier(n_instances=3, weight_averaging=True, **FAST).fit(X, y)
    assert np.allclose(trained.predict_proba(X), pred.probs)


@pytest.mark.parametrize("components", ["model", ["block0"]])
def test_coarse_dcwa_raises_at_fit(blobs3, components):
    X, y = blobs3
    model = DCAClassifier(
        components=components, hidden_layers=(8, 8), weight_averaging=True, **FAST
    )
    if components == "model":
        with pytest.raises(InvalidInputError, match="DCWA needs fine-grain components"):
            model.fit(X, y)
    else:  # block0 = Linear + ReLU: one parametrised layer, fine-grain
        assert model.fit(X, y).predict_uncertainty(X).member_probs.shape[0] == 1


def test_random_state_reproduces_and_global_rng_is_untouched(sine):
    X, y = sine
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    a = DCARegressor(n_instances=2, **FAST).fit(X, y).predict(X)
    b = DCARegressor(n_instances=2, **FAST).fit(X, y).predict(X)
    assert np.array_equal(a, b)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])  # noqa: NPY002
    c = DCARegressor(n_instances=2, **{**FAST, "random_state": 1}).fit(X, y).predict(X)
    assert not np.allclose(a, c)


def test_save_and_load_round_trip(tmp_path, blobs3, sine):
    X, y = blobs3
    model = DCAClassifier(n_instances=2, components="block", **FAST).fit(X, y)
    loaded = uqkit.load(model.save(tmp_path / "dca"))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.component_names_ == model.component_names_
    Xr, yr = sine
    reg = DCARegressor(n_instances=2, **FAST).fit(Xr, yr)
    again = uqkit.load(reg.save(tmp_path / "reg.safetensors"))
    assert np.array_equal(again.predict_uncertainty(Xr).member_vars,
                          reg.predict_uncertainty(Xr).member_vars)
    custom = DCAClassifier(module=lambda i, o: torch.nn.Linear(i, o), **FAST).fit(X, y)
    with pytest.raises(ModelFileError, match="never code"):
        custom.save(tmp_path / "custom")


def test_cnn_preset_on_flattened_images():
    rng = np.random.default_rng(0)
    X = rng.random((40, 64))
    y = (X[:, :32].sum(1) > X[:, 32:].sum(1)).astype(int)
    model = DCAClassifier(
        architecture="cnn", image_shape=(1, 8, 8), cnn_channels=(4,), hidden_layers=(8,),
        components="layer", n_instances=2, n_train_proposals=2, **FAST,
    ).fit(X, y)
    assert model.component_names_ == ["stage0.0", "head.1", "head.3"]
    assert model.predict_uncertainty(X).member_probs.shape == (8, 40, 2)
    with pytest.raises(InvalidInputError, match="image_shape"):
        DCAClassifier(architecture="cnn", **FAST).fit(X, y)


def test_early_stopping_records_validation_and_restores_the_best_epoch(sine):
    X, y = sine
    model = DCARegressor(
        n_instances=2, early_stopping=True, patience=2, **{**FAST, "epochs": 30, "lr": 0.05}
    ).fit(X, y)
    (history,) = model.history_
    assert history["member"] == 0 and history["epochs"] == len(history["train_loss"])
    assert len(history["val_loss"]) == len(history["train_loss"]) >= history["best_epoch"]
    assert len(model.validation_indices_) == 12
    best = min(history["val_loss"])
    assert history["val_loss"][history["best_epoch"] - 1] == best
    # the restored network reproduces the best validation NLL
    Xv, yv = X[model.validation_indices_], y[model.validation_indices_]
    nll = model.predict_uncertainty(Xv).nll(yv) - np.log(model.y_scale_[0])
    assert np.isclose(nll, best, atol=1e-5)


def test_history_has_the_shared_shape_without_validation(sine):
    X, y = sine
    model = DCARegressor(n_instances=2, **FAST).fit(X, y)
    assert model.history_ == [
        {
            "member": 0,
            "epochs": FAST["epochs"],
            "best_epoch": FAST["epochs"],
            "train_loss": model.history_[0]["train_loss"],
            "val_loss": [],
        }
    ]
    assert len(model.history_[0]["train_loss"]) == FAST["epochs"]


def test_early_stopping_restores_batchnorm_buffers_too(blobs3):
    """The restored network is the best epoch's network, running statistics included."""
    X, y = blobs3

    def net(n_in, n_out):
        return torch.nn.Sequential(
            torch.nn.Linear(n_in, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
            torch.nn.Linear(8, n_out),
        )

    model = DCAClassifier(
        n_instances=2, module=net, early_stopping=True, patience=2,
        **{**FAST, "epochs": 30, "lr": 0.05},
    ).fit(X, y)
    (history,) = model.history_
    Xv, yv = X[model.validation_indices_], y[model.validation_indices_]
    nll = -np.mean(np.log(model.predict_proba(Xv)[np.arange(len(yv)),
                                                 np.searchsorted(model.classes_, yv)]))
    assert history["best_epoch"] < history["epochs"]  # it stopped later: restoring mattered
    assert np.isclose(nll, history["val_loss"][history["best_epoch"] - 1], atol=1e-5)


def test_feature_scaling_none_feeds_the_raw_features(blobs3):
    X, y = blobs3
    model = DCAClassifier(n_instances=2, feature_scaling="none", **FAST).fit(X, y)
    assert np.all(model.x_mean_ == 0) and np.all(model.x_scale_ == 1)
    proposal = model.proposals_[0].tolist()
    with torch.no_grad():
        logits = model.dca_.proposal_network(proposal)(torch.as_tensor(X, dtype=torch.float32))
    assert np.allclose(model.predict_uncertainty(X).member_probs[0],
                       F.softmax(logits, -1).double().numpy(), atol=1e-6)


def test_errors(blobs3):
    X, y = blobs3
    with pytest.raises(NotFittedError):
        DCAClassifier().predict(X)
    with pytest.raises(ValueError, match="n_instances"):
        DCAClassifier(n_instances=0).fit(X, y)
    with pytest.raises(InvalidInputError, match="submodule names"):
        DCAClassifier(components=[torch.nn.Linear], **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="No submodule named"):
        DCAClassifier(components=["nope"], **FAST).fit(X, y)
    model = DCAClassifier(n_instances=2, **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="features"):
        model.predict(X[:, :1])
