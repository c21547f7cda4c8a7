"""User modules as one stacked model (uqkit.nn.StackedModule): BatchNorm buffers per member,
and a module that vmap cannot stack running member by member with one warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.exceptions import UnstackableModuleWarning
from uqkit.nn import StackSpec


class NormCNN(nn.Module):
    def __init__(self, n_out: int) -> None:
        super().__init__()
        # no bias before BatchNorm: its gradient is zero up to rounding, which Adam would
        # amplify into steps that differ between the stacked and the lone member
        self.conv = nn.Conv2d(1, 3, 3, bias=False)
        self.norm = nn.BatchNorm2d(3)
        self.head = nn.Linear(3 * 4 * 4, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.norm(self.conv(x))).flatten(1))


class Branching(nn.Module):
    """Data-dependent control flow: vmap cannot run it."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.layer = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer(x)
        if out.abs().max() > 1e6:  # never true here; reading the value is what vmap refuses
            out = out / 1e6
        return out


def images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1, 6, 6)).astype(np.float32)
    return X, (X[:, 0, :3].mean(axis=(1, 2)) > X[:, 0, 3:].mean(axis=(1, 2))).astype(int)


def test_batchnorm_members_stacked_equal_members_trained_alone():
    X, y = images()
    kwargs = {"n_members": 2, "epochs": 3, "batch_size": 8, "random_state": 0, "device": "cpu",
              "module": lambda i, o: NormCNN(o)}
    stacked = DeepEnsembleClassifier(**kwargs).fit(X, y)
    alone = DeepEnsembleClassifier(**kwargs, backend="serial").fit(X, y)
    for i in range(2):
        a, b = stacked.stack_.member_state_dict(i), alone.stack_.member_state_dict(i)
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    assert stacked.stack_.member_state_dict(0)["norm.num_batches_tracked"] > 0
    # eval mode uses each member's own running statistics
    np.testing.assert_allclose(stacked.predict_proba(X), alone.predict_proba(X), atol=1e-6)


def test_train_and_eval_mode_of_a_stacked_batchnorm():
    spec = StackSpec(36, 2, module_factory=lambda i, o: NormCNN(o))
    stack = spec.build([3, 4]).train()
    x = torch.randn(2, 10, 1, 6, 6)
    stack(x)
    single = spec.build([4]).train()
    single(x[1:])
    torch.testing.assert_close(stack.member_state_dict(1)["norm.running_var"],
                               single.member_state_dict(0)["norm.running_var"])
    stack.eval(), single.eval()
    torch.testing.assert_close(stack(x)[1], single(x[1:])[0])


def test_an_unstackable_module_runs_member_by_member_with_one_warning():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    kwargs = {"n_members": 3, "epochs": 3, "random_state": 0, "device": "cpu",
              "module": Branching}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = DeepEnsembleRegressor(**kwargs).fit(X, y)
        prediction = model.predict(X)
    unstackable = [w for w in caught if issubclass(w.category, UnstackableModuleWarning)]
    assert len(unstackable) == 1
    message = str(unstackable[0].message)
    assert "Branching cannot be stacked" in message and "control flow" in message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnstackableModuleWarning)
        alone = DeepEnsembleRegressor(**kwargs, backend="serial").fit(X, y)
    np.testing.assert_allclose(prediction, alone.predict(X), rtol=1e-5, atol=1e-6)


def test_a_module_that_fails_alone_raises_its_own_error():
    class Broken(nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.layer = nn.Linear(n_in + 1, n_out)  # wrong width

        def forward(self, x):
            return self.layer(x)

    stack = StackSpec(3, 1, module_factory=Broken).build([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnstackableModuleWarning)
        with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
            stack(torch.zeros(2, 4, 3))


class NormDropoutMLP(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_in, 8)
        self.norm = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(8, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(torch.relu(self.norm(self.hidden(x)))))


@pytest.mark.parametrize("module", [nn.Linear, NormDropoutMLP])
def test_a_one_member_stack_is_that_member_of_a_larger_stack(module):
    # one member runs without vmap; its values, dropout masks and BatchNorm statistics are
    # those it has as member 1 of a two-member stack
    spec = StackSpec(3, 2, module_factory=module)
    pair, single = spec.build([3, 4]).train(), spec.build([4]).train()
    pair.seed_dropout([5, 6]), single.seed_dropout([6])
    x = torch.randn(2, 16, 3)
    for _ in range(2):  # training passes with an evaluation pass between them, as in fit
        pair.train(), single.train()
        torch.testing.assert_close(single(x[1:])[0], pair(x)[1])
        pair.eval(), single.eval()
        torch.testing.assert_close(single(x[1:])[0], pair(x)[1])
    for name, value in single.member_state_dict(0).items():
        torch.testing.assert_close(value, pair.member_state_dict(1)[name], msg=name)


def test_a_one_member_stack_of_an_unstackable_module_does_not_warn():
    stack = StackSpec(3, 1, module_factory=Branching).build([0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnstackableModuleWarning)
        assert stack(torch.zeros(1, 4, 3)).shape == (1, 4, 1)
