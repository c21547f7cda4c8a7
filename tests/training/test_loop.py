"""The training loop: early stopping restores parameters and buffers, members are decided by their
seeds on every backend, dropout never draws from torch's global generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import sine_data
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.losses import GaussianMemberLoss, MemberLoss
from uqkit.nn import StackSpec, use_generator
from uqkit.training import EarlyStopping, MemberData, TrainConfig, fit_members, train_stack


# --------------------------------------------------------------------------- EarlyStopping
def _stack_with_buffer(k: int) -> nn.Module:
    module = nn.Module()
    module.weight = nn.Parameter(torch.zeros(k, 3))
    module.register_buffer("running", torch.zeros(k, 3))
    return module


def _step(module: nn.Module, value: float) -> None:
    with torch.no_grad():
        module.weight.fill_(value)
        module.running.fill_(10 * value)


def test_early_stopping_restores_parameters_and_buffers_per_member():
    module = _stack_with_buffer(2)
    stopper = EarlyStopping(patience=2, n_members=2)
    for epoch, losses in enumerate([[5.0, 5.0], [4.0, 6.0], [3.0, 7.0], [2.0, 8.0]]):
        _step(module, epoch + 1)
        stopper.update(torch.tensor(losses), module, epoch)
        stopper.freeze(module)
    assert stopper.active.tolist() == [True, False]
    assert not stopper.stopped
    assert stopper.best_epoch == [4, 1] and stopper.epochs_trained == [4, 3]
    assert stopper.best_loss == [2.0, 5.0]
    # member 1 stopped after epoch 3 and was frozen at its best state (epoch 1) ever since
    assert module.weight[1].tolist() == [1.0] * 3 and module.running[1].tolist() == [10.0] * 3
    stopper.restore(module)
    assert module.weight[:, 0].tolist() == [4.0, 1.0]
    assert module.running[:, 0].tolist() == [40.0, 10.0]  # buffers too, not only parameters


def test_early_stopping_of_one_model_and_without_patience():
    model = nn.BatchNorm1d(2)
    stopper = EarlyStopping(patience=1)
    with torch.no_grad():
        model.running_mean.fill_(1.0)
    stopper.update(1.0, model, 0)
    with torch.no_grad():
        model.running_mean.fill_(2.0)
        model.weight.fill_(3.0)
    stopper.update(1.5, model, 1)
    assert stopper.stopped and stopper.active is False and stopper.best_epoch == [1]
    stopper.restore(model)
    assert model.running_mean.tolist() == [1.0, 1.0] and model.weight.tolist() == [1.0, 1.0]

    keep_last = EarlyStopping(patience=None, n_members=2)
    module = _stack_with_buffer(2)
    for epoch, losses in enumerate([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]):
        _step(module, epoch + 1)
        keep_last.update(torch.tensor(losses), module, epoch)
    keep_last.restore(module)  # nothing to restore: the last state is kept
    assert not keep_last.stopped and keep_last.best_epoch == [3, 3]
    assert keep_last.best_loss == [1.0, 1.0]
    assert module.weight[:, 0].tolist() == [3.0, 3.0]


def test_early_stopping_refuses_a_stack_without_member_axis():
    stopper = EarlyStopping(patience=3, n_members=2)
    with pytest.raises(ValueError, match="member axis"):
        stopper.update(torch.tensor([1.0, 1.0]), nn.Linear(3, 4), 0)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


# --------------------------------------------------------------------------- buffers (bug fix)
class _BatchNormNet(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, 16), nn.BatchNorm1d(16), nn.Tanh(),
                                  nn.Linear(16, n_out))

    def forward(self, x):
        return self.body(x)


def test_batchnorm_members_are_the_same_vectorized_and_serial():
    # members stop at different epochs; the stopped ones keep running forward passes while the
    # others train, so their BatchNorm statistics must be snapshotted and restored too
    X, y = sine_data(n=160)
    kwargs = dict(module=_BatchNormNet, n_members=3, epochs=40, patience=2, lr=0.05,
                  batch_size=32, dtype="float64", verbose=0, random_state=5)
    vectorized = DeepEnsembleRegressor(backend="vectorized", **kwargs).fit(X, y)
    serial = DeepEnsembleRegressor(backend="serial", **kwargs).fit(X, y)
    stopped = [h["epochs"] for h in vectorized.history_]
    assert len(set(stopped)) > 1 and max(stopped) < 40  # the case the fix is about
    assert stopped == [h["epochs"] for h in serial.history_]
    a, b = vectorized.predict_uncertainty(X), serial.predict_uncertainty(X)
    np.testing.assert_allclose(a.member_means, b.member_means, atol=1e-6, rtol=0)
    np.testing.assert_allclose(a.member_vars, b.member_vars, atol=1e-6, rtol=0)
    for key, value in serial.stack_.state_dict().items():
        torch.testing.assert_close(vectorized.stack_.state_dict()[key], value, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- dropout (bug fix)
class _DropoutNet(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Dropout(0.3),
                                  nn.Linear(32, n_out))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("backend", ["vectorized", "serial"])
def test_user_module_dropout_comes_from_member_generators(backend):
    X, y = sine_data(n=120)
    kwargs = dict(module=_DropoutNet, n_members=3, epochs=8, batch_size=32, verbose=0,
                  random_state=11, backend=backend)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = DeepEnsembleRegressor(**kwargs).fit(X, y)
    assert torch.equal(torch.get_rng_state(), before)  # fit leaves the caller's RNG alone
    torch.rand(5)  # whatever the caller draws in between does not change the next fit
    second = DeepEnsembleRegressor(**kwargs).fit(X, y)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def test_user_module_dropout_members_match_across_backends():
    X, y = sine_data(n=120)
    kwargs = dict(module=_DropoutNet, n_members=3, epochs=6, batch_size=32, dtype="float64",
                  verbose=0, random_state=2)
    a = DeepEnsembleRegressor(backend="vectorized", **kwargs).fit(X, y).predict_uncertainty(X)
    b = DeepEnsembleRegressor(backend="serial", **kwargs).fit(X, y).predict_uncertainty(X)
    np.testing.assert_allclose(a.member_means, b.member_means, atol=1e-9, rtol=0)
    assert a.epistemic.mean() > 0


def test_builtin_dropout_and_classifier_leave_the_global_rng_alone():
    X, y = sine_data(n=100)
    before = torch.get_rng_state()
    DeepEnsembleClassifier(n_members=2, dropout=0.2, epochs=3, verbose=0,
                           random_state=0).fit(X, y > 0)
    assert torch.equal(torch.get_rng_state(), before)


def test_use_generator_is_repeatable_and_restores_the_global_state():
    layer = nn.Dropout(0.5)
    before = torch.get_rng_state()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    with use_generator(g1):
        a = layer(torch.ones(100))
    torch.rand(3)
    after_draw = torch.get_rng_state()
    with use_generator(g2):
        b = layer(torch.ones(100))
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), after_draw)
    assert not torch.equal(before, after_draw)  # only the caller's own draw moved it


# --------------------------------------------------------------------------- member losses
class _AnnealedLoss(MemberLoss):
    def __init__(self):
        self.calls = []

    def set_epoch(self, epoch, epochs):
        self.calls.append((epoch, epochs))

    def __call__(self, raw, target):
        return GaussianMemberLoss()(raw, target)


def test_loop_calls_the_member_loss_epoch_hook():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(20, 2, generator=g), torch.randn(20, 1, generator=g)
    stack = StackSpec(2, 2, hidden_layers=(4,)).build([0])
    loss = _AnnealedLoss()
    history = train_stack(stack, loss, X, y, [0], TrainConfig(epochs=3, batch_size=10))
    assert loss.calls == [(0, 3), (1, 3), (2, 3)]
    assert history == [{"member": 0, "epochs": 3, "best_epoch": 3,
                        "train_loss": history[0]["train_loss"], "val_loss": []}]


def test_fit_members_history_has_the_common_shape():
    g = torch.Generator().manual_seed(1)
    data = MemberData(torch.randn(30, 2, generator=g), torch.randn(30, 1, generator=g),
                      torch.randn(10, 2, generator=g), torch.randn(10, 1, generator=g))
    _, history = fit_members(StackSpec(2, 2, hidden_layers=(4,)), GaussianMemberLoss(), data,
                             [4, 5], TrainConfig(epochs=4, batch_size=10, patience=None))
    for i, record in enumerate(history):
        assert set(record) == {"member", "epochs", "best_epoch", "train_loss", "val_loss"}
        assert record["member"] == i and record["epochs"] == record["best_epoch"] == 4
        assert len(record["train_loss"]) == len(record["val_loss"]) == 4
