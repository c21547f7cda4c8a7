"""Deep ensembles on the nine UCI regression benchmarks with their standard splits.

Protocol (Hernández-Lobato & Adams, 2015; Lakshminarayanan et al., 2017): 5 members with one
hidden layer of 50 units (100 for protein); features and target standardised on the training
rows of each split (inside the estimator); the learning rate is chosen per data set on a
validation part (20%) of the training rows of split 0 only; every split then trains on its
training rows with early stopping on a 10% part of them, and is scored on its test rows.
Reported: test NLL of the mixture predictive (exact), of the moment-matched Gaussian (what the
paper reports) and RMSE, as mean ± standard error over splits, next to the published figures.

Usage::

    python benchmarks/uci.py                       # all sets, all splits
    python benchmarks/uci.py --datasets yacht boston --splits 5
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from uqkit.datasets import UCI_DATASETS, load_uci, uci_n_splits
from uqkit.ensemble import DeepEnsembleRegressor

RESULTS = Path(__file__).parent / "results" / "uci.md"
# Lakshminarayanan et al. (2017), Table 1: deep ensembles, test NLL and RMSE.
PUBLISHED = {
    "boston": (2.41, 3.28), "concrete": (3.06, 6.03), "energy": (1.38, 2.09),
    "kin8nm": (-1.20, 0.09), "naval": (-5.63, 0.00), "power": (2.79, 4.11),
    "protein": (2.83, 4.71), "wine": (0.94, 0.64), "yacht": (1.18, 1.58),
}
LEARNING_RATES = (3e-3, 1e-2, 3e-2)


MAX_STEPS = 40_000


def make_model(
    name: str, n_train: int, lr: float, seed: int, max_steps: int = MAX_STEPS
) -> DeepEnsembleRegressor:
    hidden = (100,) if name == "protein" else (50,)
    steps_per_epoch = max(1, n_train // 100)
    # a cap on optimiser steps per member keeps the big sets within a CPU budget
    epochs = int(min(1000, max(40, max_steps // steps_per_epoch)))
    return DeepEnsembleRegressor(
        n_members=5, hidden_layers=hidden, lr=lr, epochs=epochs, batch_size=100, patience=30,
        verbose=0, random_state=seed, device="cpu",
    )


def choose_lr(name: str, max_steps: int = MAX_STEPS) -> float:
    """Learning rate of lowest validation NLL on the training rows of split 0 (no test rows)."""
    X, y, _, _ = load_uci(name, 0)
    order = np.random.default_rng(0).permutation(len(X))
    n_val = len(X) // 5
    val, train = order[:n_val], order[n_val:]
    scores = {}
    for lr in LEARNING_RATES:
        model = make_model(name, len(train), lr, 0, max_steps).fit(X[train], y[train])
        scores[lr] = model.predict_uncertainty(X[val]).nll(y[val])
    return min(scores, key=scores.get)


def evaluate(
    name: str, splits: list[int], lr: float, max_steps: int = MAX_STEPS
) -> dict[str, np.ndarray]:
    rows = {"nll": [], "nll_gaussian": [], "rmse": [], "coverage_90": []}
    for split in splits:
        X, y, X_test, y_test = load_uci(name, split)
        model = make_model(name, len(X), lr, split, max_steps).fit(X, y)
        metrics = model.evaluate(X_test, y_test)
        for key in rows:
            rows[key].append(metrics[key])
    return {key: np.asarray(values) for key, values in rows.items()}


def mean_se(values: np.ndarray) -> str:
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{values.mean():.2f} ± {se:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(UCI_DATASETS), choices=UCI_DATASETS)
    parser.add_argument("--splits", type=int, default=None, help="first N splits (default: all)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=MAX_STEPS,
                        help="cap on optimiser steps per member (sets the epochs of big sets)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    header = (
        "| data set | splits | lr | NLL (mixture) | NLL (Gaussian) | published NLL | RMSE | "
        "published RMSE | 90% coverage | NLL ≤ published | time (s) |"
    )
    lines = [header, "|" + "---|" * 11]
    wins = 0
    for name in args.datasets:
        start = time.perf_counter()
        n_splits = uci_n_splits(name)
        splits = list(range(n_splits if args.splits is None else min(args.splits, n_splits)))
        lr = choose_lr(name, args.max_steps)
        result = evaluate(name, splits, lr, args.max_steps)
        nll_pub, rmse_pub = PUBLISHED[name]
        better = result["nll"].mean() <= nll_pub
        wins += better
        line = (
            f"| {name} | {len(splits)} | {lr:g} | {mean_se(result['nll'])} | "
            f"{mean_se(result['nll_gaussian'])} | {nll_pub:.2f} | {mean_se(result['rmse'])} | "
            f"{rmse_pub:.2f} | {result['coverage_90'].mean():.2f} | {'yes' if better else 'no'} | "
            f"{time.perf_counter() - start:.0f} |"
        )
        lines.append(line)
        print(line, flush=True)
    summary = (
        f"Mixture NLL at or below the published figure on {wins} of {len(args.datasets)} sets."
    )
    picked = "" if args.datasets == list(UCI_DATASETS) else f" --datasets {' '.join(args.datasets)}"
    text = "\n".join(
        [
            "# Deep ensembles on the UCI regression benchmarks",
            "",
            (__doc__ or "").split("Usage::")[0].strip(),
            "",
            f"Machine: {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s). "
            f"Command: `python benchmarks/uci.py"
            + (f" --splits {args.splits}" if args.splits else "")
            + picked
            + (f" --max-steps {args.max_steps}" if args.max_steps != 40_000 else "")
            + "`",
            "",
            *lines,
            "",
            summary,
        ]
    )
    print(summary)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
