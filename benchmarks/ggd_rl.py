"""PPO vs GGDPPO (GGD critic + BIEV) vs the Gaussian variance-head critic (+ BIV) on noisy control.

Environments: ``uqkit/NoisyCartPole-v1`` (push force scaled by 1 + U(-0.3, 0.3)) and
``uqkit/NoisyPendulum-v1`` (N(0, 1) reward noise). All agents share each environment's PPO
hyperparameters; the ensemble critics have 5 members of 64-64 units. Returns are those of the
training episodes, without the reward noise (``info["reward_without_noise"]``).

Reported per method and environment, as mean ± standard error over seeds:
- final return: mean return of the episodes that end in the last 10% of the steps;
- AUC: area under the learning curve (returns binned on a 20-point step grid), divided by the
  number of steps, i.e. the average return over training.

Usage: ``nice -n 10 python benchmarks/ggd_rl.py [--seeds 5] [--cartpole-steps 20000]
[--pendulum-steps 20000] [--jobs 2]``. Writes ``benchmarks/results/ggd_rl.md`` and
``benchmarks/results/ggd_rl.png``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
METHODS = ("PPO", "Gaussian+BIV", "GGD+BIEV")
ENVS = {
    "NoisyCartPole": {
        "id": "uqkit/NoisyCartPole-v1",
        "ppo": {"n_steps": 64, "batch_size": 128, "n_epochs": 4, "learning_rate": 1e-3,
                "gamma": 0.98, "gae_lambda": 0.8, "ent_coef": 0.0},
    },
    "NoisyPendulum": {
        "id": "uqkit/NoisyPendulum-v1",
        "ppo": {"n_steps": 128, "batch_size": 256, "n_epochs": 5, "learning_rate": 1e-3,
                "gamma": 0.9, "gae_lambda": 0.95, "ent_coef": 0.0},
    },
}
N_ENVS = 8
GRID_POINTS = 20


def _make_model(method: str, env, seed: int, ppo_kwargs: dict):
    from stable_baselines3 import PPO

    from uqkit.rl import GGDPPO

    common = {"seed": seed, "device": "cpu", "verbose": 0, **ppo_kwargs}
    if method == "PPO":
        return PPO("MlpPolicy", env, policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
                   **common)
    if method == "Gaussian+BIV":
        return GGDPPO("MlpPolicy", env, error_model="gaussian", uncertainty_weighting="biv",
                      **common)
    if method == "GGD+BIEV":
        return GGDPPO("MlpPolicy", env, error_model="ggd", uncertainty_weighting="biev",
                      **common)
    raise ValueError(method)


def run_one(job: tuple[str, str, int, int]) -> dict:
    """Train one agent; return its (timestep, clean return) per finished training episode."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import uqkit.rl.envs  # noqa: F401  (registers the noisy environments)

    torch.set_num_threads(1)
    method, env_name, seed, timesteps = job

    class EpisodeReturns(BaseCallback):
        def _on_training_start(self) -> None:
            self.running = np.zeros(self.training_env.num_envs)
            self.episodes: list[tuple[int, float]] = []

        def _on_step(self) -> bool:
            infos, dones = self.locals["infos"], self.locals["dones"]
            rewards = self.locals["rewards"]
            for i, info in enumerate(infos):
                self.running[i] += info.get("reward_without_noise", rewards[i])
                if dones[i]:
                    self.episodes.append((self.num_timesteps, float(self.running[i])))
                    self.running[i] = 0.0
            return True

    env = make_vec_env(ENVS[env_name]["id"], n_envs=N_ENVS, seed=seed)
    model = _make_model(method, env, seed, ENVS[env_name]["ppo"])
    callback = EpisodeReturns()
    start = time.perf_counter()
    model.learn(timesteps, callback=callback)
    return {
        "method": method, "env": env_name, "seed": seed, "timesteps": timesteps,
        "episodes": np.array(callback.episodes), "seconds": time.perf_counter() - start,
    }


def learning_curve(episodes: np.ndarray, timesteps: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean return of the episodes ending in each of ``GRID_POINTS`` equal step windows.

    A window in which no episode ends takes the value of the previous one (the first windows,
    before any episode has ended, take the first value).
    """
    edges = np.linspace(0, timesteps, GRID_POINTS + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    curve = np.full(GRID_POINTS, np.nan)
    for j in range(GRID_POINTS):
        mask = (episodes[:, 0] > edges[j]) & (episodes[:, 0] <= edges[j + 1])
        if mask.any():
            curve[j] = episodes[mask, 1].mean()
        elif j > 0:
            curve[j] = curve[j - 1]
    first = curve[~np.isnan(curve)][0]
    return centres, np.where(np.isnan(curve), first, curve)


def summarise(result: dict) -> dict:
    episodes, timesteps = result["episodes"], result["timesteps"]
    centres, curve = learning_curve(episodes, timesteps)
    last = episodes[episodes[:, 0] > 0.9 * timesteps, 1]
    final = last.mean() if len(last) else episodes[-1, 1]
    return {**result, "centres": centres, "curve": curve, "final": float(final),
            "auc": float(np.mean(curve))}


def _mean_se(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def compare(metric: str, a: str, stats_a, b: str, stats_b) -> str:
    """One line: difference of two (mean, standard error) pairs and whether it exceeds 2 SE."""
    diff = stats_a[0] - stats_b[0]
    se = float(np.hypot(stats_a[1], stats_b[1]))
    if diff > 2 * se:
        verdict = f"{a} better"
    elif diff < -2 * se:
        verdict = f"{a} worse"
    else:
        verdict = "no clear difference"
    return f"{metric}: {a} − {b} = {diff:+.1f} (SE {se:.1f}, {diff / se:+.1f} SE) → {verdict}"


def verdict_lines(cells: dict) -> list[str]:
    """``cells[(env, method)] = {"final": (mean, se), "auc": (mean, se)}`` → comparison lines."""
    lines = []
    for env_name in ENVS:
        for other in ("PPO", "Gaussian+BIV"):
            if (env_name, "GGD+BIEV") not in cells or (env_name, other) not in cells:
                continue
            for metric in ("final", "auc"):
                text = compare(metric, "GGD+BIEV", cells[env_name, "GGD+BIEV"][metric], other,
                               cells[env_name, other][metric])
                lines.append(f"- {env_name}, {text}")
    return lines


def write_outputs(summaries: list[dict], args, wall: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(ENVS), figsize=(5.5 * len(ENVS), 3.8))
    lines = [
        "# GGD TD-error critics in PPO: noisy CartPole and noisy Pendulum",
        "",
        f"{args.seeds} seeds per cell (seeds 0..{args.seeds - 1}), {N_ENVS} parallel envs, "
        f"{args.cartpole_steps} steps on NoisyCartPole and {args.pendulum_steps} on NoisyPendulum; "
        "final return = mean return of the training episodes ending in the last 10% of the steps, "
        "AUC = average return over training (20-window learning curve); mean ± standard error "
        "over seeds; returns exclude the reward noise. Critic ensembles: 5 members × (64, 64) "
        "tanh; plain PPO: one (64, 64) critic. PPO hyperparameters shared per environment: "
        + "; ".join(f"{name}: {cfg['ppo']}" for name, cfg in ENVS.items())
        + ".",
        "",
        "| env | method | final return | AUC | Δ final vs PPO | s / run |",
        "|---|---|---|---|---|---|",
    ]
    cells: dict = {}
    for ax, env_name in zip(axes, ENVS):
        base_final = [
            s["final"] for s in summaries if s["env"] == env_name and s["method"] == "PPO"
        ]
        for method in METHODS:
            rows = [s for s in summaries if s["env"] == env_name and s["method"] == method]
            if not rows:
                continue
            final_m, final_se = _mean_se([r["final"] for r in rows])
            auc_m, auc_se = _mean_se([r["auc"] for r in rows])
            cells[env_name, method] = {"final": (final_m, final_se), "auc": (auc_m, auc_se)}
            seconds = np.mean([r["seconds"] for r in rows])
            delta = final_m - np.mean(base_final) if base_final else float("nan")
            lines.append(
                f"| {env_name} | {method} | {final_m:.1f} ± {final_se:.1f} | "
                f"{auc_m:.1f} ± {auc_se:.1f} | {delta:+.1f} | {seconds:.0f} |"
            )
            curves = np.stack([r["curve"] for r in rows])
            mean, se = curves.mean(0), curves.std(0, ddof=1) / np.sqrt(len(rows))
            ax.plot(rows[0]["centres"], mean, label=method)
            ax.fill_between(rows[0]["centres"], mean - se, mean + se, alpha=0.2)
        ax.set_title(env_name)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episode return (no reward noise)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "ggd_rl.png", dpi=110)
    lines += [
        "",
        "Differences of means with the standard error of the difference (a difference counts "
        "only beyond 2 SE):",
        "",
        *verdict_lines(cells),
        "",
        "![learning curves](ggd_rl.png)",
        "",
        f"Total wall time {wall / 60:.1f} min with {args.jobs} worker process(es), 1 torch thread "
        f"each, `nice -n 10`, on a shared 2-core machine ({platform.machine()}).",
        "",
    ]
    (RESULTS / "ggd_rl.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cartpole-steps", type=int, default=20_000)
    parser.add_argument("--pendulum-steps", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args()
    steps = {"NoisyCartPole": args.cartpole_steps, "NoisyPendulum": args.pendulum_steps}
    jobs = [
        (method, env_name, seed, steps[env_name])
        for env_name in ENVS
        for seed in range(args.seeds)
        for method in args.methods
    ]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = []
        for result in pool.imap_unordered(run_one, jobs):
            print(f"{result['env']:>14} {result['method']:>13} seed {result['seed']}: "
                  f"{len(result['episodes'])} episodes, {result['seconds']:.0f} s", flush=True)
            results.append(result)
    write_outputs([summarise(r) for r in results], args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
