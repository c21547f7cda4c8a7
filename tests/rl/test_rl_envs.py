"""Noisy environment wrappers and their gymnasium registration."""

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
envs = pytest.importorskip("uqkit.rl.envs")

from uqkit.exceptions import InvalidInputError  # noqa: E402


class _ForceRecorder(gym.Env):
    """A minimal CartPole-like env that records the push force of every step."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.force_mag = 10.0
        self.forces = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.forces.append(self.force_mag)
        return np.zeros(1, dtype=np.float32), 0.0, False, False, {}


def test_registration_is_idempotent_and_makes_both_envs():
    envs.register_envs()
    envs.register_envs()
    assert envs.NOISY_CARTPOLE_ID in gym.registry and envs.NOISY_PENDULUM_ID in gym.registry
    cartpole = gym.make(envs.NOISY_CARTPOLE_ID, noise=0.1)
    assert cartpole.spec.max_episode_steps == 500
    assert cartpole.unwrapped.force_mag == 10.0
    pendulum = gym.make(envs.NOISY_PENDULUM_ID)
    assert pendulum.spec.max_episode_steps == 200
    obs, _ = pendulum.reset(seed=0)
    assert obs.shape == (3,)


def test_push_force_noise_is_bounded_seeded_and_restored():
    wrapped = envs.PushForceNoise(_ForceRecorder(), noise=0.3)
    wrapped.reset(seed=4)
    for _ in range(500):
        wrapped.step(1)
    forces = np.array(wrapped.unwrapped.forces)
    assert forces.min() >= 7.0 and forces.max() <= 13.0
    assert forces.std() > 1.0  # U(-3, 3) has sd 1.73
    assert wrapped.unwrapped.force_mag == 10.0
    again = envs.PushForceNoise(_ForceRecorder(), noise=0.3)
    again.reset(seed=4)
    for _ in range(500):
        again.step(1)
    np.testing.assert_array_equal(forces, again.unwrapped.forces)


def test_zero_noise_cartpole_equals_cartpole():
    plain, noisy = gym.make("CartPole-v1"), gym.make(envs.NOISY_CARTPOLE_ID, noise=0.0)
    a, _ = plain.reset(seed=3)
    b, _ = noisy.reset(seed=3)
    for t in range(8):
        np.testing.assert_array_equal(a, b)
        a = plain.step(t % 2)[0]
        b = noisy.step(t % 2)[0]


def test_reward_noise_moments():
    base = _ForceRecorder()  # reward 0 every step, so the rewards are the noise
    normal = envs.RewardNoise(base, std=2.0)
    normal.reset(seed=0)
    draws = np.array([normal.step(0)[1] for _ in range(4000)])
    assert abs(draws.mean()) < 0.15 and draws.std() == pytest.approx(2.0, rel=0.05)
    laplace = envs.RewardNoise(_ForceRecorder(), std=2.0, distribution="laplace")
    laplace.reset(seed=0)
    heavy = np.array([laplace.step(0)[1] for _ in range(4000)])
    assert heavy.std() == pytest.approx(2.0, rel=0.07)
    assert np.mean(heavy**4) / heavy.var() ** 2 > np.mean(draws**4) / draws.var() ** 2 + 1


def test_wrappers_reject_bad_arguments():
    with pytest.raises(InvalidInputError, match="force_mag"):
        envs.PushForceNoise(gym.make("Pendulum-v1"))
    with pytest.raises(InvalidInputError, match="noise"):
        envs.PushForceNoise(gym.make("CartPole-v1"), noise=1.5)
    with pytest.raises(InvalidInputError, match="std"):
        envs.RewardNoise(gym.make("Pendulum-v1"), std=-1)
