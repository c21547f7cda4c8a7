"""GGDPPO on stable-baselines3: per-member returns, training, uncertainties, save/load."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")
gym = pytest.importorskip("gymnasium")

from stable_baselines3.common.buffers import RolloutBuffer  # noqa: E402

from uqkit.exceptions import InvalidInputError  # noqa: E402
from uqkit.rl import GGDPPO, EnsembleRolloutBuffer  # noqa: E402


def _fill(buffer, rng, values):
    for step in range(buffer.buffer_size):
        buffer.add(
            rng.normal(size=(buffer.n_envs, 2)).astype(np.float32),
            rng.integers(0, 2, size=(buffer.n_envs, 1)),
            rng.normal(size=buffer.n_envs).astype(np.float32),
            (rng.random(buffer.n_envs) < 0.2).astype(np.float32),
            torch.as_tensor(values[step]),
            torch.zeros(buffer.n_envs),
        )


def test_member_returns_equal_sb3_returns_when_members_agree():
    space, actions = gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(2)
    rng_a, rng_b = np.random.default_rng(0), np.random.default_rng(0)
    values = np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32)
    last, dones = torch.tensor([0.5, -1.0, 2.0]), np.array([0, 1, 0])
    reference = RolloutBuffer(16, space, actions, gamma=0.97, gae_lambda=0.9, n_envs=3)
    ours = EnsembleRolloutBuffer(16, space, actions, gamma=0.97, gae_lambda=0.9, n_envs=3,
                                 n_members=4)
    _fill(reference, rng_a, values)
    _fill(ours, rng_b, values)
    reference.compute_returns_and_advantage(last, dones)
    ours.compute_returns_and_advantage(last, dones)
    member_values = np.repeat(values[..., None], 4, axis=-1)
    ours.compute_member_returns(member_values, np.repeat(last.numpy()[:, None], 4, 1), dones)
    for i in range(4):
        np.testing.assert_allclose(ours.member_returns[..., i], reference.returns, rtol=1e-6)
    # shuffled minibatches keep each sample's members together
    batch = next(ours.get(batch_size=48))
    assert batch.member_returns.shape == (48, 4)
    torch.testing.assert_close(batch.member_returns[:, 2], batch.returns)


@pytest.fixture(scope="module")
def trained():
    model = GGDPPO(
        "MlpPolicy", "CartPole-v1", n_steps=256, batch_size=64, n_epochs=2, learning_rate=1e-3,
        seed=0, device="cpu",
    )
    return model.learn(2048)


def test_ggdppo_trains_on_cartpole_and_reports_finite_uncertainty(trained):
    env = gym.make("CartPole-v1")
    observations = np.stack([env.reset(seed=s)[0] for s in range(16)])
    pred = trained.predict_uncertainty(observations)
    assert pred.distribution == "ggd" and pred.mean.shape == (16,)
    for values in (pred.mean, pred.aleatoric, pred.epistemic, pred.shape, pred.scale):
        assert np.all(np.isfinite(values))
    assert np.all(pred.aleatoric > 0) and np.all(pred.epistemic > 0)
    # the critic has learned that starting states are worth several steps of reward
    assert pred.mean.mean() > 3.0
    # the buffer carries per-member returns that differ between members
    returns = trained.rollout_buffer.member_returns
    assert returns.shape[-1] == 5 and float(np.std(returns, axis=-1).mean()) > 0
    assert trained.logger.name_to_value["train/effective_batch_size"] >= 16 - 1e-6
    single = trained.predict_uncertainty(observations[0])
    assert len(single) == 1 and single.mean[0] == pytest.approx(pred.mean[0], rel=1e-5)


def test_save_and_load_keep_the_critic(trained, tmp_path):
    observations = np.zeros((3, 4), dtype=np.float32)
    path = tmp_path / "ggdppo.zip"
    trained.save(path)
    loaded = GGDPPO.load(path, device="cpu")
    assert loaded.n_critics == 5 and loaded.error_model == "ggd"
    np.testing.assert_allclose(
        loaded.predict_uncertainty(observations).total,
        trained.predict_uncertainty(observations).total,
        rtol=1e-6,
    )


def test_gaussian_variant_and_learned_scale_run():
    gaussian = GGDPPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=1,
                      error_model="gaussian", uncertainty_weighting="biv", n_critics=3, seed=0,
                      device="cpu").learn(128)
    assert gaussian.predict_uncertainty(np.zeros((2, 4))).distribution == "mixture"
    ggd = GGDPPO("MlpPolicy", "Pendulum-v1", n_steps=64, batch_size=32, n_epochs=1,
                 learn_scale=True, nll_form="authors", regression_loss="mae", seed=0,
                 device="cpu").learn(128)
    pred = ggd.predict_uncertainty(np.zeros((2, 3)))
    assert np.all(np.isfinite(pred.total))


def test_invalid_options_raise():
    with pytest.raises(InvalidInputError, match="n_critics >= 4"):
        GGDPPO("MlpPolicy", "CartPole-v1", n_critics=3)
    with pytest.raises(InvalidInputError, match="error_model"):
        GGDPPO("MlpPolicy", "CartPole-v1", error_model="student")
    with pytest.raises(InvalidInputError, match="policy_kwargs"):
        GGDPPO("MlpPolicy", "CartPole-v1", policy_kwargs={"n_critics": 4})


def test_import_without_sb3_and_no_registration_on_import():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["stable_baselines3"] = None  # simulate a missing optional dependency
        import uqkit, uqkit.rl, uqkit.losses, uqkit.nn
        from uqkit.exceptions import MissingDependencyError
        assert float(uqkit.losses.ggd_variance(1.0, 2.0)) == 0.5
        try:
            uqkit.rl.GGDPPO
        except MissingDependencyError as err:
            assert "uqkit[rl]" in str(err)
        else:
            raise AssertionError("GGDPPO imported without stable-baselines3")
        import gymnasium
        assert "uqkit/NoisyCartPole-v1" not in gymnasium.registry
        import uqkit.rl.envs
        assert "uqkit/NoisyCartPole-v1" in gymnasium.registry
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
