"""Noisy control environments for testing uncertainty-aware critics.

Importing this module registers two gymnasium environments (idempotently; importing
``uqkit`` or ``uqkit.rl`` alone registers nothing):

========================== ================================================================
``"uqkit/NoisyCartPole-v1"`` CartPole-v1 whose push force is scaled by :math:`1 + \\epsilon`,
                           :math:`\\epsilon \\sim U(-0.3, 0.3)` redrawn every step
                           (:class:`PushForceNoise`).
``"uqkit/NoisyPendulum-v1"`` Pendulum-v1 with :math:`N(0, 1)` noise added to every reward
                           (:class:`RewardNoise`).
========================== ================================================================

Both follow the noisy-dynamics / noisy-reward settings used to probe aleatoric uncertainty in
Kim et al. (2024) and Mai et al. (ICLR 2022). Keyword arguments of ``gymnasium.make`` reach the
factories (e.g. ``gym.make("uqkit/NoisyCartPole-v1", noise=0.1)``).

Requires gymnasium (``pip install 'uqkit[rl]'``).

Examples
--------
>>> import gymnasium as gym
>>> import uqkit.rl.envs
>>> env = gym.make("uqkit/NoisyCartPole-v1")
>>> obs, info = env.reset(seed=0)
>>> obs.shape
(4,)
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from uqkit.exceptions import InvalidInputError, require

gym = require("gymnasium", "rl")
_cartpole = require("gymnasium.envs.classic_control.cartpole", "rl")
_pendulum = require("gymnasium.envs.classic_control.pendulum", "rl")

__all__ = [
    "NOISY_CARTPOLE_ID",
    "NOISY_PENDULUM_ID",
    "PushForceNoise",
    "RewardNoise",
    "make_noisy_cartpole",
    "make_noisy_pendulum",
    "register_envs",
]

NOISY_CARTPOLE_ID = "uqkit/NoisyCartPole-v1"
NOISY_PENDULUM_ID = "uqkit/NoisyPendulum-v1"


class _SeededNoise:
    """A noise generator re-seeded by ``reset(seed=...)``, independent of the env's own RNG."""

    def __init__(self) -> None:
        self._rng: np.random.Generator | None = None

    def reseed(self, seed: int | None, env) -> None:
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), 0x6E6F697365])
        elif self._rng is None:  # first reset without a seed: derive from the env's generator
            self._rng = np.random.default_rng(int(env.unwrapped.np_random.integers(2**63)))

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            raise InvalidInputError("Call reset() before step() on a noisy environment.")
        return self._rng


class PushForceNoise(gym.Wrapper):
    """Multiply a CartPole's push force by :math:`1 + \\epsilon`, :math:`\\epsilon \\sim
    U(-\\text{noise}, \\text{noise})`, drawn anew at every step.

    Parameters
    ----------
    env : gymnasium.Env
        An environment whose unwrapped core has a ``force_mag`` attribute (CartPole).
    noise : float, default=0.3
        Relative noise level, in ``[0, 1)`` so that the push keeps its direction.

    Examples
    --------
    >>> import gymnasium as gym
    >>> env = PushForceNoise(gym.make("CartPole-v1"), noise=0.3)
    >>> _ = env.reset(seed=1)
    >>> _ = env.step(1)
    >>> env.unwrapped.force_mag  # restored after the step
    10.0
    """

    def __init__(self, env, noise: float = 0.3) -> None:
        super().__init__(env)
        if not hasattr(env.unwrapped, "force_mag"):
            raise InvalidInputError(
                f"PushForceNoise needs an environment with a 'force_mag' (CartPole); got "
                f"{type(env.unwrapped).__name__}."
            )
        if not 0.0 <= float(noise) < 1.0:
            raise InvalidInputError(f"noise must be in [0, 1); got {noise}.")
        self.noise = float(noise)
        self._force_mag = float(env.unwrapped.force_mag)
        self._noise = _SeededNoise()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        result = self.env.reset(seed=seed, options=options)
        self._noise.reseed(seed, self.env)
        return result

    def step(self, action):
        factor = 1.0 + self._noise.rng.uniform(-self.noise, self.noise)
        core = self.env.unwrapped
        core.force_mag = self._force_mag * factor
        try:
            return self.env.step(action)
        finally:
            core.force_mag = self._force_mag


class RewardNoise(gym.Wrapper):
    """Add zero-mean noise of standard deviation ``std`` to every reward.

    The noise-free reward is kept in ``info["reward_without_noise"]`` so that learning curves can
    report the true return.

    Parameters
    ----------
    env : gymnasium.Env
        Any environment.
    std : float, default=1.0
        Standard deviation of the reward noise (``>= 0``).
    distribution : {"normal", "laplace"}, default="normal"
        Noise family; ``"laplace"`` gives heavy-tailed noise of the same variance.

    Examples
    --------
    >>> import gymnasium as gym
    >>> env = RewardNoise(gym.make("Pendulum-v1"), std=0.0)
    >>> _ = env.reset(seed=0)
    >>> reward = env.step(env.action_space.sample())[1]
    >>> bool(reward <= 0.0)
    True
    """

    def __init__(
        self, env, std: float = 1.0, distribution: Literal["normal", "laplace"] = "normal"
    ) -> None:
        super().__init__(env)
        if not float(std) >= 0.0:
            raise InvalidInputError(f"std must be >= 0; got {std}.")
        if distribution not in ("normal", "laplace"):
            raise InvalidInputError(
                f"distribution must be 'normal' or 'laplace'; got {distribution!r}."
            )
        self.std = float(std)
        self.distribution = distribution
        self._noise = _SeededNoise()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        result = self.env.reset(seed=seed, options=options)
        self._noise.reseed(seed, self.env)
        return result

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        rng = self._noise.rng
        if self.distribution == "normal":
            noise = rng.normal(0.0, self.std)
        else:  # Laplace(0, b) has variance 2 b^2
            noise = rng.laplace(0.0, self.std / np.sqrt(2.0))
        info = {**info, "reward_without_noise": float(reward)}
        return obs, float(reward) + float(noise), terminated, truncated, info


def make_noisy_cartpole(noise: float = 0.3, render_mode: str | None = None):
    """CartPole with push-force noise (the entry point of ``"uqkit/NoisyCartPole-v1"``).

    Parameters
    ----------
    noise : float, default=0.3
        Relative push-force noise, see :class:`PushForceNoise`.
    render_mode : str, optional
        Passed to ``CartPoleEnv``.

    Returns
    -------
    PushForceNoise
        The wrapped environment (``gymnasium.make`` adds the 500-step time limit).

    Examples
    --------
    >>> make_noisy_cartpole(0.1).noise
    0.1
    """
    return PushForceNoise(_cartpole.CartPoleEnv(render_mode=render_mode), noise=noise)


def make_noisy_pendulum(
    reward_noise_std: float = 1.0,
    distribution: Literal["normal", "laplace"] = "normal",
    render_mode: str | None = None,
):
    """Pendulum with reward noise (the entry point of ``"uqkit/NoisyPendulum-v1"``).

    Parameters
    ----------
    reward_noise_std : float, default=1.0
        Standard deviation of the reward noise.
    distribution : {"normal", "laplace"}, default="normal"
        Noise family, see :class:`RewardNoise`.
    render_mode : str, optional
        Passed to ``PendulumEnv``.

    Returns
    -------
    RewardNoise
        The wrapped environment (``gymnasium.make`` adds the 200-step time limit).

    Examples
    --------
    >>> make_noisy_pendulum(2.0).std
    2.0
    """
    env = _pendulum.PendulumEnv(render_mode=render_mode)
    return RewardNoise(env, std=reward_noise_std, distribution=distribution)


def register_envs() -> None:
    """Register the noisy environments with gymnasium; calling it again does nothing.

    Examples
    --------
    >>> import gymnasium as gym
    >>> register_envs(); register_envs()
    >>> NOISY_PENDULUM_ID in gym.registry
    True
    """
    specs = (
        (NOISY_CARTPOLE_ID, make_noisy_cartpole, 500, 475.0),
        (NOISY_PENDULUM_ID, make_noisy_pendulum, 200, None),
    )
    for env_id, entry_point, max_steps, threshold in specs:
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=entry_point,
                max_episode_steps=max_steps,
                reward_threshold=threshold,
            )


register_envs()
