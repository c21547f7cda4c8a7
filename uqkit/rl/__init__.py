"""Uncertainty-aware reinforcement learning with generalized Gaussian TD errors.

Kim et al., "Generalized Gaussian Temporal Difference Error for Uncertainty-aware Reinforcement
Learning" (2024), with the batch inverse-variance weights of Mai, Mani & Paull, "Sample Efficient
Deep Reinforcement Learning via Uncertainty Estimation" (ICLR 2022).

The plain-PyTorch building blocks live with the other heads and losses:

* ensemble value heads in :mod:`uqkit.nn`: ``GGDValueHead``, ``GaussianValueHead``, their outputs
  and ``ggd_ensemble_prediction`` / ``gaussian_ensemble_prediction``;
* in :mod:`uqkit.losses`: the GGD density, moments and NLL (``ggd_log_pdf``, ``ggd_pdf``,
  ``ggd_variance``, ``ggd_excess_kurtosis``, ``ggd_nll``), the critic losses
  (``ggd_critic_loss``, ``gaussian_critic_loss``, ``risk_averse_weights``, ``CriticLoss``) and
  the BIV/BIEV sample weights (``biv_weights``, ``biev_weights``, ``biev_variance``, ``find_xi``,
  ``effective_batch_size``, ``sample_excess_kurtosis``).

This package holds the stable-baselines3 integration (needs ``pip install 'uqkit[rl]'``, imported
on first use): :class:`GGDPPO`, :class:`GGDActorCriticPolicy`, :class:`EnsembleRolloutBuffer`;
and noisy environments in :mod:`uqkit.rl.envs` (gymnasium; registered when that module is
imported): :class:`PushForceNoise`, :class:`RewardNoise`, ``"uqkit/NoisyCartPole-v1"``,
``"uqkit/NoisyPendulum-v1"``.

Examples
--------
>>> import uqkit.rl
>>> sorted(name for name in uqkit.rl.__all__ if name.startswith("GGD"))
['GGDActorCriticPolicy', 'GGDPPO']
"""

from __future__ import annotations

import importlib

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
    "EnsembleRolloutBuffer",
    "GGDActorCriticPolicy",
    "PushForceNoise",
    "RewardNoise",
    "make_noisy_cartpole",
    "make_noisy_pendulum",
    "register_envs",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'uqkit.rl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
