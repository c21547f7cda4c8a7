"""Issue 17: the GGD shape is bounded and its NLL stays finite; GGDPPO refuses a missing GPU."""

import warnings

import pytest
import torch

from uqkit.exceptions import InvalidInputError, UQKitWarning
from uqkit.losses import ggd_nll
from uqkit.nn import GGDValueHead


def test_ggd_nll_is_finite_for_a_large_shape_in_float32():
    delta = torch.tensor([3.0, 0.5, 0.0], requires_grad=True)
    shape = torch.tensor(100.0, requires_grad=True)
    with pytest.warns(UQKitWarning, match=r"continued linearly in log-space"):
        loss = ggd_nll(delta, 1.0, shape)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(delta.grad).all() and torch.isfinite(shape.grad)
    assert delta.grad[0] > 0  # a larger error still costs more


def test_ggd_nll_is_unchanged_below_the_cap():
    delta, shape = torch.tensor([3.0, -0.5, 0.0]), torch.tensor([2.0, 0.7, 9.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for ordinary values
        nll = ggd_nll(delta, 1.0, shape, reduction="none")
    expected = (delta.abs() ** shape - torch.log(shape) + torch.log(torch.tensor(2.0))
                + torch.lgamma(1 / shape))
    torch.testing.assert_close(nll, expected)


def test_ggd_head_clamps_the_shape_with_a_warning_and_a_gradient():
    head = GGDValueHead(2, n_members=2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        head.layers[-1].bias[..., 1] = 50.0  # softplus(50) + 0.05: far above the ceiling
    with pytest.warns(UQKitWarning, match="shape_max=10"):
        out = head.members(torch.zeros(3, 2))
    assert torch.all(out.shape == 10.0)
    out.shape.sum().backward()
    assert torch.all(head.layers[-1].bias.grad[..., 1] != 0)  # straight-through: not stuck
    with pytest.raises(InvalidInputError, match="shape_max"):
        GGDValueHead(2, initial_shape=12.0)


def test_ggdppo_refuses_cuda_without_a_gpu_and_empty_critics():
    pytest.importorskip("stable_baselines3")
    pytest.importorskip("gymnasium")
    from uqkit.rl import GGDPPO

    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="CUDA is not available here"):
            GGDPPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, device="cuda")
    with pytest.raises(InvalidInputError, match="device='tpu' is not a device"):
        GGDPPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, device="tpu")
    with pytest.raises(InvalidInputError, match="critic_hidden_layers must be a non-empty"):
        GGDPPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, device="cpu",
               critic_hidden_layers=())
