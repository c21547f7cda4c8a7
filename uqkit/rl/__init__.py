"""Uncertainty-aware reinforcement learning with generalized Gaussian TD errors.

Kim et al., "Generalized Gaussian Temporal Difference Error for Uncertainty-aware Reinforcement
Learning" (2024), with the batch inverse-variance weights of Mai, Mani & Paull, "Sample Efficient
Deep Reinforcement Learning via Uncertainty Estimation" (ICLR 2022).

* GGD helpers: :func:`ggd_log_pdf`, :func:`ggd_pdf`, :func:`ggd_variance`,
  :func:`ggd_excess_kurtosis`, :func:`ggd_nll`;
* losses: :func:`ggd_critic_loss` (risk-averse GGD NLL + BIEV), :func:`gaussian_critic_loss`
  (variance-head baseline), :func:`gaussian_nll`, :func:`risk_averse_weights`;
* epistemic weights: :func:`biv_weights`, :func:`biev_weights`, :func:`biev_variance`,
  :func:`find_xi`, :func:`effective_batch_size`, :func:`sample_excess_kurtosis`;
* ensemble value heads (plain PyTorch): :class:`GGDValueHead`, :class:`GaussianValueHead`;
* stable-baselines3 integration (needs ``pip install 'uqkit[rl]'``, imported on first use):
  :class:`GGDPPO`, :class:`GGDActorCriticPolicy`, :class:`EnsembleRolloutBuffer`;
* noisy environments in :mod:`uqkit.rl.envs` (gymnasium; registered when that module is imported):
  :class:`PushForceNoise`, :class:`RewardNoise`, ``"uqkit/NoisyCartPole-v1"``,
  ``"uqkit/NoisyPendulum-v1"``.

Examples
--------
>>> from uqkit.rl import ggd_nll, ggd_variance
>>> round(float(ggd_nll(0.5, 1.0, 1.0)), 4), round(float(ggd_variance(1.0, 1.0)), 4)
(1.1931, 2.0)
"""

from __future__ import annotations

import importlib

from uqkit.rl._ggd import ggd_excess_kurtosis, ggd_log_pdf, ggd_nll, ggd_pdf, ggd_variance
from uqkit.rl._heads import GaussianHeadOutput, GaussianValueHead, GGDHeadOutput, GGDValueHead
from uqkit.rl._losses import (
    CriticLoss,
    gaussian_critic_loss,
    gaussian_nll,
    ggd_critic_loss,
    risk_averse_weights,
)
from uqkit.rl._prediction import gaussian_ensemble_prediction, ggd_ensemble_prediction
from uqkit.rl._weights import (
    biev_variance,
    biev_weights,
    biv_weights,
    effective_batch_size,
    find_xi,
    sample_excess_kurtosis,
)

# Names whose modules import stable-baselines3 / gymnasium: loaded on first access, so that
# ``import uqkit.rl`` works without the ``rl`` extra.
_LAZY = {
    "GGDPPO": "uqkit.rl._ppo",
    "GGDActorCriticPolicy": "uqkit.rl._policy",
    "EnsembleRolloutBuffer": "uqkit.rl._buffer",
    "PushForceNoise": "uqkit.rl.envs",
    "RewardNoise": "uqkit.rl.envs",
    "make_noisy_cartpole": "uqkit.rl.envs",
    "make_noisy_pendulum": "uqkit.rl.envs",
    "register_envs": "uqkit.rl.envs",
    "NOISY_CARTPOLE_ID": "uqkit.rl.envs",
    "NOISY_PENDULUM_ID": "uqkit.rl.envs",
}

__all__ = [
    "GGDPPO",
    "NOISY_CARTPOLE_ID",
    "NOISY_PENDULUM_ID",
    "CriticLoss",
    "EnsembleRolloutBuffer",
    "GGDActorCriticPolicy",
    "GGDHeadOutput",
    "GGDValueHead",
    "GaussianHeadOutput",
    "GaussianValueHead",
    "PushForceNoise",
    "RewardNoise",
    "biev_variance",
    "biev_weights",
    "biv_weights",
    "effective_batch_size",
    "find_xi",
    "gaussian_critic_loss",
    "gaussian_ensemble_prediction",
    "gaussian_nll",
    "ggd_critic_loss",
    "ggd_ensemble_prediction",
    "ggd_excess_kurtosis",
    "ggd_log_pdf",
    "ggd_nll",
    "ggd_pdf",
    "ggd_variance",
    "make_noisy_cartpole",
    "make_noisy_pendulum",
    "register_envs",
    "risk_averse_weights",
    "sample_excess_kurtosis",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'uqkit.rl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
