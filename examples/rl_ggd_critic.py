"""Reinforcement learning with a generalized-Gaussian (GGD) TD-error critic.

Trains :class:`uqkit.rl.GGDPPO` (PPO whose critic is an ensemble of GGD value heads, with
batch-inverse error-variance weighting, BIEV) on the noisy CartPole registered by
:mod:`uqkit.rl.envs`, then asks the critic how sure it is of the value of a few states: the
aleatoric part is the TD-error variance of the GGD heads, the epistemic part the members'
disagreement. ``benchmarks/ggd_rl.py`` compares it with plain PPO and a Gaussian critic.
Needs the ``rl`` extra (stable-baselines3, gymnasium).

Run::

    python examples/rl_ggd_critic.py            # a few minutes on a CPU
    python examples/rl_ggd_critic.py --quick    # seconds (CI)
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for tests (seconds)")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("UQKIT_EXAMPLE_QUICK") == "1"

    from uqkit.exceptions import require

    require("stable_baselines3", "rl")
    from stable_baselines3.common.env_util import make_vec_env

    from uqkit.rl import GGDPPO, NOISY_CARTPOLE_ID, register_envs

    register_envs()  # uqkit/NoisyCartPole-v1 and uqkit/NoisyPendulum-v1 (idempotent)
    steps = 256 if quick else 16_000
    ppo_args = dict(n_steps=32 if quick else 64, batch_size=64 if quick else 128,
                    n_epochs=1 if quick else 4, learning_rate=1e-3, gamma=0.98, gae_lambda=0.8,
                    seed=0, device="cpu")
    env = make_vec_env(NOISY_CARTPOLE_ID, n_envs=4 if quick else 8, seed=0)
    model = GGDPPO("MlpPolicy", env, n_critics=5, error_model="ggd",
                   uncertainty_weighting="biev", **ppo_args)
    model.learn(steps)

    obs = env.reset()
    pred = model.predict_uncertainty(obs)  # a RegressionPrediction over the states
    lower, upper = pred.interval(0.1)
    print(f"Value of {len(obs)} states after {steps} steps ({pred.distribution} predictive):")
    for i in range(len(obs)):
        print(f"  V = {pred.mean[i]:7.2f}  90% [{lower[i]:7.2f}, {upper[i]:7.2f}]  "
              f"aleatoric {pred.aleatoric[i]:.3g}  epistemic {pred.epistemic[i]:.3g}")
    returns = [info["r"] for info in model.ep_info_buffer]
    if returns:
        print(f"mean return of the last {len(returns)} training episodes: {np.mean(returns):.1f}")
    env.close()


if __name__ == "__main__":
    main()
