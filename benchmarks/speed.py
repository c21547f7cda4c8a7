"""Vectorized vs serial training of a deep ensemble, timed in the same process.

5 members, one hidden layer of 50 units, 40 epochs, batch 100, on UCI concrete (split 0).
Runs alternate between the backends and the median of each is reported, so that load from other
processes on a shared machine hits both alike. Usage: ``python benchmarks/speed.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from uqkit.datasets import load_uci
from uqkit.ensemble import DeepEnsembleRegressor

RESULTS = Path(__file__).parent / "results" / "speed.md"


def time_fit(backend: str, X, y, members: int, epochs: int) -> float:
    model = DeepEnsembleRegressor(
        n_members=members, hidden_layers=(50,), epochs=epochs, batch_size=100, lr=1e-2,
        early_stopping=False, backend=backend, device="cpu", verbose=0, random_state=0,
    )
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, y, _, _ = load_uci("concrete", 0)
    # Warm-up: the first optimizer step of a process imports torch's compiler stack (1-2 s).
    time_fit("vectorized", X, y, 2, 2)
    time_fit("serial", X, y, 2, 2)
    times: dict[str, list[float]] = {"vectorized": [], "serial": []}
    for _ in range(args.repeats):
        for backend in times:
            times[backend].append(time_fit(backend, X, y, args.members, args.epochs))
    vec, ser = (statistics.median(times[b]) for b in ("vectorized", "serial"))
    lines = [
        "# Vectorized vs serial deep-ensemble training",
        "",
        f"{args.members} members, 1×50 ReLU, {args.epochs} epochs, batch 100, UCI concrete split 0 "
        f"({len(X)} rows); torch {torch.__version__}, {args.threads} thread(s), "
        f"{platform.processor() or platform.machine()}; median of {args.repeats} alternating runs.",
        "",
        "| backend | median fit time (s) | all runs (s) |",
        "|---|---|---|",
        *(f"| {b} | {statistics.median(t):.3f} | {', '.join(f'{v:.2f}' for v in t)} |"
          for b, t in times.items()),
        "",
        f"**Speed-up of vectorized over serial: {ser / vec:.2f}×** (ceiling ≈ {args.members}×).",
        "",
        "Command: `python benchmarks/speed.py`",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
