"""Convolutional members of a ``StackedModule``: on the CPU they run member by member (faster
there than ``vmap``); either way member ``i`` is the same network as the module alone, in
training and evaluation mode, BatchNorm statistics included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from uqkit.ensemble import DeepEnsembleClassifier
from uqkit.nn import StackSpec
from uqkit.nn import _stacked_module as stacked_module

SEEDS = [3, 4, 5]


class _ConvBN(nn.Module):
    """A tiny CNN on flattened 1×8×8 images, with BatchNorm after the convolution."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(4 * 4 * 4, n_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, 1, 8, 8))


def _stack_and_members():
    spec = StackSpec(in_features=64, out_features=3, module_factory=_ConvBN, dtype="float64")
    stack = spec.build(SEEDS)
    members = []
    for i in range(len(SEEDS)):
        member = _ConvBN(64, 3).double()
        member.load_state_dict(stack.member_state_dict(i))
        members.append(member)
    return stack, members


def _inputs(rows: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(len(SEEDS), rows, 64, generator=generator, dtype=torch.float64)


def test_conv_modules_run_member_by_member_on_the_cpu_only():
    assert stacked_module._one_by_one_on(torch.device("cpu"), _ConvBN(64, 3))
    assert not stacked_module._one_by_one_on(torch.device("cuda"), _ConvBN(64, 3))
    assert not stacked_module._one_by_one_on(torch.device("cpu"), nn.Linear(3, 2))


@pytest.mark.parametrize("vectorized", [False, True], ids=["member_by_member", "vmap"])
def test_conv_members_stacked_equal_the_module_alone_in_train_and_eval(monkeypatch, vectorized):
    if vectorized:  # the path CUDA takes, checked here on the CPU
        monkeypatch.setattr(stacked_module, "_one_by_one_on", lambda device, template: False)
    stack, members = _stack_and_members()
    x = _inputs()
    tolerance = {"atol": 1e-10, "rtol": 0}
    # training mode: batch statistics, running statistics updated once per member
    out = stack.train()(x)
    out.square().sum().backward()
    for i, member in enumerate(members):
        alone = member.train()(x[i])
        alone.square().sum().backward()
        torch.testing.assert_close(out[i], alone, **tolerance)
        for name, value in member.state_dict().items():
            torch.testing.assert_close(stack.member_state_dict(i)[name], value, **tolerance)
        grads = dict(zip(stack._names, (p.grad[i] for p in stack.params), strict=True))
        for name, parameter in member.named_parameters():
            torch.testing.assert_close(grads[name], parameter.grad, **tolerance)
    assert int(stack.member_state_dict(0)["body.1.num_batches_tracked"]) == 1
    # evaluation mode: the running statistics, nothing written; more rows than one CPU
    # evaluation pass takes (stacked_module._CPU_EVAL_ROWS), so chunks are joined too
    before = {name: value.clone() for name, value in stack.state_dict().items()}
    x = _inputs(rows=2 * stacked_module._CPU_EVAL_ROWS + 7)
    with torch.no_grad():
        out = stack.eval()(x)
        for i, member in enumerate(members):
            torch.testing.assert_close(out[i], member.eval()(x[i]), **tolerance)
    for name, value in stack.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_conv_ensemble_members_are_the_same_vectorized_and_serial():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 64))
    y = (X[:, :32].sum(1) > 0).astype(int) + (X[:, 32:].sum(1) > 0)
    kwargs = dict(module=_ConvBN, n_members=3, epochs=3, batch_size=32, dtype="float64",
                  early_stopping=False, feature_scaling="none", device="cpu", random_state=1)
    vectorized = DeepEnsembleClassifier(backend="vectorized", **kwargs).fit(X, y)
    serial = DeepEnsembleClassifier(backend="serial", **kwargs).fit(X, y)
    a, b = vectorized.predict_uncertainty(X), serial.predict_uncertainty(X)
    np.testing.assert_allclose(a.member_probs, b.member_probs, atol=1e-10, rtol=0)
    assert a.epistemic.mean() > 0  # the members differ: three networks, not one
