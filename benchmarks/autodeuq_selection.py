"""The two AutoDEUQ selection losses on synthetic catalogs: how often they pick different
members, and the held-out NLL of what each picks.

``selection_loss="mixture"`` (uqkit's default) scores a candidate ensemble by the exact NLL of
the mixture it predicts with; ``"moment_matched"`` (the paper's code, DeepHyper's
``greedy_caruana``) by the NLL of the Gaussian with the mixture's mean and total variance
(Egele et al., 2022, Eq. 4). Both run the same greedy selection with replacement
(:func:`uqkit.ensemble.greedy_selection`, ``K`` distinct members, ``k_init = 1``).

A catalog is made without training, so that many can be drawn: a 1-D heteroscedastic problem
``y = sin(3x) + x/2 + s(x) e`` with ``s(x) = 0.1 + 0.3 |x|``; each of ``--members`` catalog
models predicts ``mu = f(x) + b(x)`` with a smooth random error ``b`` (random amplitude, a few
random Fourier terms: the kind of disagreement trained networks show) and
``sigma^2 = (c s(x))^2 + b_0^2`` with a random calibration factor ``c`` (over- and
under-confident models). Selection sees ``--val`` validation rows; the scores are on ``--test``
held-out rows of the same problem. The ensemble predicts with the mixture in both cases, so the
held-out mixture NLL is the score that matters; the held-out moment-matched NLL is shown too.

With ``--trained N`` the script also trains one real catalog: ``N`` networks of the DeepHyper
preset (:class:`uqkit.search.DeepHyperSpace`, configurations drawn at random, each trained by
:func:`uqkit.search.fit_network` with its searched optimiser and patiences) on half of the
embedded concrete data (``uqkit.datasets.load_concrete``; early stopping on a fifth of that
half); the other half is split at random ``--catalogs`` times into validation rows (selection)
and held-out rows (scores), in standardised units of y.

Usage: ``python benchmarks/autodeuq_selection.py [--catalogs 60] [--members 40] [--size 5]
[--trained 24]``; writes ``benchmarks/results/autodeuq_selection.md``.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np

from uqkit.ensemble._selection import (
    MomentMatchedObjective,
    greedy_selection,
    member_log_likelihoods,
    mixture_nll,
    moment_matched_nll,
)


def noise_scale(x: np.ndarray) -> np.ndarray:
    return 0.1 + 0.3 * np.abs(x)


def truth(x: np.ndarray) -> np.ndarray:
    return np.sin(3 * x) + 0.5 * x


REGIMES = {
    # name: (scale of the members' errors, log-mean of their calibration factor)
    "close": (0.08, 0.0),      # members agree within their noise: a near-Gaussian mixture
    "diverse": (0.3, -0.5),    # members disagree by more than their over-confident noise
}


def catalog(rng: np.random.Generator, members: int, regime: str):
    """A function ``x -> (means, variances)`` of shape ``(members, len(x))`` each."""
    spread, log_calibration = REGIMES[regime]
    amplitude = rng.gamma(2.0, spread, size=members)
    terms = 4
    freq = rng.uniform(0.5, 4.0, size=(members, terms))
    phase = rng.uniform(0, 2 * np.pi, size=(members, terms))
    coef = rng.normal(size=(members, terms)) / np.sqrt(terms)
    calibration = np.exp(rng.normal(log_calibration, 0.35, size=members))
    floor = amplitude * rng.uniform(0.0, 0.5, size=members)

    def predict(x: np.ndarray):
        error = (coef[:, :, None] * np.sin(freq[:, :, None] * x + phase[:, :, None])).sum(1)
        means = truth(x)[None] + amplitude[:, None] * error
        variances = (calibration[:, None] * noise_scale(x)[None]) ** 2 + floor[:, None] ** 2
        return means, variances

    return predict


def draw(rng: np.random.Generator, n: int):
    x = rng.uniform(-2, 2, size=n)
    return x, truth(x) + noise_scale(x) * rng.normal(size=n)


def compare(seed: int, val: tuple, test: tuple, size: int) -> dict:
    """Greedy selection under both losses on ``val = (means, variances, y)``, each pick scored
    on ``test`` (same layout; means and variances ``(members, rows)``)."""
    picks = {
        "mixture": greedy_selection(member_log_likelihoods(*val), size),
        "moment_matched": greedy_selection(MomentMatchedObjective(*val), size),
    }
    test_ll = member_log_likelihoods(*test)
    row = {"seed": seed}
    for name, result in picks.items():
        row[name] = {
            "members": sorted(int(i) for i in result.indices),
            "counts": result["counts"],
            "test_mixture_nll": mixture_nll(test_ll, result["counts"]),
            "test_matched_nll": moment_matched_nll(*test, result["counts"]),
        }
    row["differ"] = row["mixture"]["members"] != row["moment_matched"]["members"]
    return row


def one_catalog(seed: int, members: int, size: int, n_val: int, n_test: int,
                regime: str) -> dict:
    rng = np.random.default_rng(seed)
    predict = catalog(rng, members, regime)
    x_val, y_val = draw(rng, n_val)
    x_test, y_test = draw(rng, n_test)
    row = compare(seed, (*predict(x_val), y_val), (*predict(x_test), y_test), size)
    row["weights_differ"] = not np.allclose(
        row["mixture"]["counts"] / row["mixture"]["counts"].sum(),
        row["moment_matched"]["counts"] / row["moment_matched"]["counts"].sum())
    return row


def trained_catalog(n_models: int, seed: int = 0):
    """``(means, variances, y)`` of ``n_models`` trained DeepHyper-preset networks on the
    held-out half of concrete (standardised units)."""
    from uqkit.datasets import load_concrete
    from uqkit.nn import gaussian_head
    from uqkit.search import DeepHyperSpace, TrialSetup, fit_network, network_outputs

    X, y = load_concrete()
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    fit_rows, pool = order[: len(X) // 2], order[len(X) // 2:]
    x_mean, x_std = X[fit_rows].mean(0), X[fit_rows].std(0)
    y_mean, y_std = y[fit_rows].mean(), y[fit_rows].std()
    Xs = ((X - x_mean) / x_std).astype(np.float32)
    ys = ((y - y_mean) / y_std).astype(np.float32)[:, None]
    stop = len(fit_rows) // 5
    data = {"X": Xs[fit_rows[stop:]], "y": ys[fit_rows[stop:]],
            "X_val": Xs[fit_rows[:stop]], "y_val": ys[fit_rows[:stop]]}
    space = DeepHyperSpace()
    setup = TrialSetup(space=space.to_dict(), task="regression", out_features=2, seed=seed)
    means, variances = [], []
    while len(means) < n_models:
        config = space.sample(rng)
        try:
            net, _ = fit_network(space.architecture(config), config, setup, data,
                                 seed=int(rng.integers(2**31)), epochs=space.epochs,
                                 patience=space.patience, device="cpu")
        except Exception as error:  # a diverged trial is a failed trial of a search
            print(f"trial failed ({type(error).__name__}); drawing another")
            continue
        mean, var = gaussian_head(network_outputs(net, Xs[pool]), 1e-6)
        means.append(mean[:, 0].numpy())
        variances.append(var[:, 0].numpy())
        print(f"trained {len(means)}/{n_models}", flush=True)
    return np.stack(means), np.stack(variances), ys[pool, 0].astype(np.float64)


def trained_row(means, variances, y, size: int, repeats: int, n_val: int) -> dict:
    out = []
    for seed in range(repeats):
        order = np.random.default_rng(1000 + seed).permutation(len(y))
        val, test = order[:n_val], order[n_val:]
        out.append(compare(seed, (means[:, val], variances[:, val], y[val]),
                           (means[:, test], variances[:, test], y[test]), size))
    return out


def mean_se(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f} ± {values.std(ddof=1) / np.sqrt(len(values)):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", type=int, default=60)
    parser.add_argument("--members", type=int, default=40, help="models per catalog")
    parser.add_argument("--size", type=int, default=5, help="K, distinct members asked")
    parser.add_argument("--val", type=int, default=200, help="validation rows")
    parser.add_argument("--test", type=int, default=5000, help="held-out rows")
    parser.add_argument("--trained", type=int, default=0,
                        help="also train a real catalog of this many DeepHyper-preset networks")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    lines = [
        "# AutoDEUQ selection losses: exact mixture NLL vs moment-matched Gaussian NLL",
        "",
        f"`python benchmarks/autodeuq_selection.py --catalogs {args.catalogs} --members "
        f"{args.members} --size {args.size} --val {args.val} --test {args.test}` "
        f"(numpy {np.__version__}, Python {platform.python_version()}; no training: synthetic "
        "catalogs, see the script's docstring). Greedy selection with replacement, "
        f"K = {args.size}, k_init = 1, on {args.val} validation rows; scores on {args.test} "
        "held-out rows, in the units of y. Mean ± standard error over the catalogs of a "
        "regime; lower is better. Regimes: *close*: the members' errors are small next to "
        "their noise (the mixture is nearly Gaussian); *diverse*: the members disagree by more "
        "than their over-confident noise (a wider mixture, further from a Gaussian).",
        "",
        "| regime | picks differ | mixture loss better / worse / tied | distinct members "
        "(mixture, matched) | held-out mixture NLL: mixture loss | moment_matched loss | "
        "paired Δ (mixture − matched) | held-out matched NLL: mixture loss | "
        "moment_matched loss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    regimes: dict = {regime: [one_catalog(seed, args.members, args.size, args.val, args.test,
                                          regime) for seed in range(args.catalogs)]
                     for regime in REGIMES}
    if args.trained:
        means, variances, y = trained_catalog(args.trained)
        n_val = len(y) // 2
        regimes[f"trained (concrete, {args.trained} networks, {n_val} val / "
                f"{len(y) - n_val} held-out rows)"] = trained_row(
            means, variances, y, args.size, args.catalogs, n_val)
    for regime, rows in regimes.items():
        mix = [r["mixture"]["test_mixture_nll"] for r in rows]
        mm = [r["moment_matched"]["test_mixture_nll"] for r in rows]
        mix_g = [r["mixture"]["test_matched_nll"] for r in rows]
        mm_g = [r["moment_matched"]["test_matched_nll"] for r in rows]
        diff = np.subtract(mix, mm)
        n_differ = sum(r["differ"] for r in rows)
        better, worse = int(np.sum(diff < -1e-12)), int(np.sum(diff > 1e-12))
        sizes = [np.mean([len(r[name]["members"]) for r in rows])
                 for name in ("mixture", "moment_matched")]
        lines.append(
            f"| {regime} | {n_differ} of {args.catalogs} | {better} / {worse} / "
            f"{args.catalogs - better - worse} | {sizes[0]:.2f}, {sizes[1]:.2f} | "
            f"{mean_se(mix)} | {mean_se(mm)} | {mean_se(diff)} | {mean_se(mix_g)} | "
            f"{mean_se(mm_g)} |")
    lines += [
        "",
        "The ensemble predicts with the mixture whichever loss selected it, so the held-out "
        "mixture NLL is the score of its predictions; the last two columns score the Gaussian "
        "summary of the same ensembles (what the paper's loss optimises).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "autodeuq_selection.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
