"""A stable-baselines3 rollout buffer that also holds every critic member's λ-returns.

Each member :math:`i` of a critic ensemble gets its own GAE(λ) return
:math:`R_{ik} = A_{ik} + V_i(s_k)` computed with its own values (Schulman et al., 2016, GAE;
per-member targets as in the ensembles of Mai et al., 2022 and Kim et al., 2024), so that the
members are trained on bootstrapped targets of their own and keep disagreeing where they are
unsure. The policy still uses the advantages of the ensemble-mean value.

Requires stable-baselines3 (``pip install 'uqkit[rl]'``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import NamedTuple

import numpy as np
import torch

from uqkit.exceptions import InvalidInputError, require

_buffers = require("stable_baselines3.common.buffers", "rl")

__all__ = ["EnsembleRolloutBuffer", "EnsembleRolloutBufferSamples"]


class EnsembleRolloutBufferSamples(NamedTuple):
    """A minibatch: the fields of SB3's ``RolloutBufferSamples`` plus the members' returns."""

    observations: torch.Tensor
    actions: torch.Tensor
    old_values: torch.Tensor
    old_log_prob: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    member_returns: torch.Tensor  # (batch, n_members)


def member_gae_returns(
    rewards: np.ndarray,
    episode_starts: np.ndarray,
    member_values: np.ndarray,
    last_member_values: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> np.ndarray:
    """GAE(λ) returns for every member at once.

    Parameters
    ----------
    rewards, episode_starts : ndarray of shape (n_steps, n_envs)
    member_values : ndarray of shape (n_steps, n_envs, n_members)
    last_member_values : ndarray of shape (n_envs, n_members)
        Values of the observation after the last step.
    dones : ndarray of shape (n_envs,)
        Whether the last step ended an episode.
    gamma, gae_lambda : float

    Returns
    -------
    ndarray of shape (n_steps, n_envs, n_members)
        :math:`R_i = A_i + V_i` with :math:`A_i` the GAE of member :math:`i`'s values.

    Examples
    --------
    >>> import numpy as np
    >>> r = member_gae_returns(np.ones((2, 1)), np.zeros((2, 1)), np.zeros((2, 1, 2)),
    ...                        np.array([[0.0, 10.0]]), np.zeros(1), 0.5, 1.0)
    >>> r[:, 0, :].tolist()  # member 1 bootstraps from its own last value 10
    [[1.5, 4.0], [1.0, 6.0]]
    """
    n_steps = rewards.shape[0]
    advantages = np.zeros_like(member_values)
    last_gae = np.zeros_like(last_member_values)
    for step in reversed(range(n_steps)):
        if step == n_steps - 1:
            next_non_terminal = 1.0 - dones.astype(np.float32)
            next_values = last_member_values
        else:
            next_non_terminal = 1.0 - episode_starts[step + 1]
            next_values = member_values[step + 1]
        next_non_terminal = next_non_terminal[:, None]
        delta = rewards[step][:, None] + gamma * next_values * next_non_terminal
        delta = delta - member_values[step]
        last_gae = delta + gamma * gae_lambda * next_non_terminal * last_gae
        advantages[step] = last_gae
    return advantages + member_values


class EnsembleRolloutBuffer(_buffers.RolloutBuffer):
    """SB3 ``RolloutBuffer`` with per-member values and λ-returns for an ensemble critic.

    Parameters
    ----------
    buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs
        As in ``stable_baselines3.common.buffers.RolloutBuffer``.
    n_members : int, default=5
        Number of critic members.

    Examples
    --------
    >>> import numpy as np
    >>> from gymnasium import spaces
    >>> buf = EnsembleRolloutBuffer(4, spaces.Box(-1, 1, (2,)), spaces.Discrete(2), n_members=3)
    >>> buf.member_returns.shape
    (4, 1, 3)
    """

    member_values: np.ndarray
    member_returns: np.ndarray

    def __init__(
        self,
        buffer_size: int,
        observation_space,
        action_space,
        device: torch.device | str = "auto",
        gae_lambda: float = 1,
        gamma: float = 0.99,
        n_envs: int = 1,
        n_members: int = 5,
    ) -> None:
        if int(n_members) < 1:
            raise InvalidInputError(f"n_members must be a positive integer; got {n_members}.")
        self.n_members = int(n_members)
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device=device,
            gae_lambda=gae_lambda,
            gamma=gamma,
            n_envs=n_envs,
        )

    def reset(self) -> None:
        shape = (self.buffer_size, self.n_envs, self.n_members)
        self.member_values = np.zeros(shape, dtype=np.float32)
        self.member_returns = np.zeros(shape, dtype=np.float32)
        super().reset()

    def compute_member_returns(
        self, member_values: np.ndarray, last_member_values: np.ndarray, dones: np.ndarray
    ) -> None:
        """Store the members' values and compute their λ-returns (call after the rollout).

        Parameters
        ----------
        member_values : ndarray of shape (buffer_size, n_envs, n_members)
            Each member's value of every stored observation.
        last_member_values : ndarray of shape (n_envs, n_members)
            Each member's value of the observation after the last step.
        dones : ndarray of shape (n_envs,)
            Whether the last step ended an episode.
        """
        expected = (self.buffer_size, self.n_envs, self.n_members)
        if member_values.shape != expected:
            raise InvalidInputError(
                f"member_values must have shape {expected}; got {member_values.shape}."
            )
        self.member_values = member_values.astype(np.float32)
        self.member_returns = member_gae_returns(
            self.rewards,
            self.episode_starts,
            self.member_values,
            np.asarray(last_member_values, dtype=np.float32),
            np.asarray(dones),
            self.gamma,
            self.gae_lambda,
        ).astype(np.float32)

    def get(
        self, batch_size: int | None = None
    ) -> Generator[EnsembleRolloutBufferSamples, None, None]:
        if not self.generator_ready:
            self.member_returns = self.swap_and_flatten(self.member_returns)
            self.member_values = self.swap_and_flatten(self.member_values)
        yield from super().get(batch_size)

    def _get_samples(self, batch_inds: np.ndarray, env=None) -> EnsembleRolloutBufferSamples:
        base = super()._get_samples(batch_inds, env)
        member_returns = self.to_torch(self.member_returns[batch_inds])
        return EnsembleRolloutBufferSamples(*base, member_returns=member_returns)
