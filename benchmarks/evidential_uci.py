"""Deep evidential regression on the nine UCI regression benchmarks with their standard splits.

Protocol (Hernández-Lobato & Adams, 2015; as for the deep-ensemble benchmark `uci.py`): one
network with one hidden layer of 50 units (100 for protein), batch size 100, Adam; features and
target standardised on the training rows of each split (inside the estimator). The evidence
regulariser's coefficient λ (Amini et al., 2020, Eq. 10) is chosen per data set on a validation
part (20%) of the training rows of split 0 only (at most `--search-rows` of them); every split
then trains on its training rows with early stopping on a 10% part of them and is scored on its
test rows. Reported: test NLL of the Student-t predictive (in the target's units), RMSE and 90%
interval coverage, as mean ± standard error over the splits, next to the NLL published for deep
evidential regression (Amini et al., 2020, Table 1).

Usage::

    python benchmarks/evidential_uci.py                      # all sets, all splits
    python benchmarks/evidential_uci.py --splits-small 5 --splits-large 1
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from uqkit.datasets import UCI_DATASETS, load_uci, uci_n_splits
from uqkit.evidential import EvidentialRegressor

RESULTS = Path(__file__).parent / "results" / "evidential_uci.md"
# Amini et al. (NeurIPS 2020), Table 1: deep evidential regression, test NLL.
PUBLISHED_NLL = {
    "boston": 2.35, "concrete": 3.01, "energy": 1.39, "kin8nm": -1.24, "naval": -5.73,
    "power": 2.81, "protein": 2.63, "wine": 0.89, "yacht": 1.03,
}
LARGE = ("kin8nm", "naval", "power", "protein")
REGULARIZATIONS = (0.001, 0.01, 0.1)


def make_model(name: str, n_train: int, regularization: float, seed: int, args):
    hidden = (100,) if name == "protein" else (50,)
    steps_per_epoch = max(1, n_train // 100)
    epochs = int(min(1000, max(20, args.max_steps // steps_per_epoch)))
    return EvidentialRegressor(
        regularization=regularization, hidden_layers=hidden, lr=args.lr, epochs=epochs,
        batch_size=100, patience=20, verbose=0, random_state=seed, device="cpu",
    )


def choose_regularization(name: str, args) -> tuple[float, dict[float, float]]:
    """λ of lowest validation NLL on the training rows of split 0 (never the test rows)."""
    X, y, _, _ = load_uci(name, 0)
    order = np.random.default_rng(0).permutation(len(X))[: args.search_rows]
    n_val = len(order) // 5
    val, train = order[:n_val], order[n_val:]
    scores = {}
    for reg in REGULARIZATIONS:
        model = make_model(name, len(train), reg, seed=0, args=args).fit(X[train], y[train])
        scores[reg] = model.predict_uncertainty(X[val]).nll(y[val])
    return min(scores, key=scores.get), scores


def evaluate(name: str, splits: list[int], regularization: float, args) -> dict[str, np.ndarray]:
    rows = {"nll": [], "rmse": [], "coverage_90": [], "epochs": []}
    for split in splits:
        X, y, X_test, y_test = load_uci(name, split)
        model = make_model(name, len(X), regularization, seed=split, args=args).fit(X, y)
        metrics = model.evaluate(X_test, y_test)
        for key in ("nll", "rmse", "coverage_90"):
            rows[key].append(metrics[key])
        rows["epochs"].append(model.history_["best_epoch"])
    return {key: np.asarray(values, dtype=float) for key, values in rows.items()}


def mean_se(values: np.ndarray) -> str:
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{values.mean():.2f} ± {se:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(UCI_DATASETS), choices=UCI_DATASETS)
    parser.add_argument("--splits-small", type=int, default=None,
                        help="first N splits of the five small sets (default all)")
    parser.add_argument("--splits-large", type=int, default=None,
                        help="first N splits of kin8nm, naval, power, protein (default all)")
    parser.add_argument("--max-steps", type=int, default=40_000,
                        help="cap on optimiser steps per fit (sets the epoch budget)")
    parser.add_argument("--search-rows", type=int, default=100_000,
                        help="at most this many training rows of split 0 for choosing λ")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    header = (
        "| data set | splits | λ (validation NLL per λ) | NLL | published NLL | RMSE | "
        "90% coverage | best epoch | NLL ≤ published | time (s) |"
    )
    lines = [header, "|" + "---|" * 10]
    wins = 0
    total_start = time.perf_counter()
    for name in args.datasets:
        start = time.perf_counter()
        limit = args.splits_large if name in LARGE else args.splits_small
        n_splits = uci_n_splits(name)
        splits = list(range(n_splits if limit is None else min(limit, n_splits)))
        reg, scores = choose_regularization(name, args)
        result = evaluate(name, splits, reg, args)
        published = PUBLISHED_NLL[name]
        better = result["nll"].mean() <= published
        wins += better
        search = ", ".join(f"{k:g}: {v:.2f}" for k, v in scores.items())
        line = (
            f"| {name} | {len(splits)}/{n_splits} | {reg:g} ({search}) | {mean_se(result['nll'])} "
            f"| {published:.2f} | {mean_se(result['rmse'])} | "
            f"{result['coverage_90'].mean():.2f} | {result['epochs'].mean():.0f} | "
            f"{'yes' if better else 'no'} | {time.perf_counter() - start:.0f} |"
        )
        lines.append(line)
        print(line, flush=True)
    summary = (
        f"Student-t NLL at or below the published figure on {wins} of {len(args.datasets)} sets. "
        f"Total wall time {time.perf_counter() - total_start:.0f} s."
    )
    command = "python benchmarks/evidential_uci.py"
    for flag in ("splits_small", "splits_large"):
        if getattr(args, flag) is not None:
            command += f" --{flag.replace('_', '-')} {getattr(args, flag)}"
    command += f" --max-steps {args.max_steps} --search-rows {args.search_rows} --lr {args.lr:g}"
    if args.datasets != list(UCI_DATASETS):
        command += f" --datasets {' '.join(args.datasets)}"
    text = "\n".join(
        [
            "# Deep evidential regression on the UCI regression benchmarks",
            "",
            (__doc__ or "").split("Usage::")[0].strip(),
            "",
            f"Machine: {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s). "
            f"Command: `{command}`",
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
