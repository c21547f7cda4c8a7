"""Speed of uqkit's calibration metrics next to netcal's, on the same 10^6 predictions.

For every metric that both libraries compute, both are timed on identical inputs in this process
(best of ``--repeats`` runs, alternating the two libraries) and their values are checked to agree.
Metrics without a netcal counterpart are timed alone. The table is printed and written to
``benchmarks/results/calibration_speed.md``; the script exits with status 1 if uqkit is more than
1.2x slower than netcal on anything.

Usage: ``python benchmarks/calibration_speed.py [--n 1000000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

LIMIT = 1.2


def best_time(function, repeats: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def scalar(value) -> float:
    if hasattr(value, "picp"):  # netcal's PICP result: compare the coverages
        return float(np.mean(value.picp))
    if hasattr(value, "coverage"):  # uqkit's CoverageResult
        return float(np.mean(value.coverage))
    return float(np.mean(np.ravel(value)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of predictions")
    parser.add_argument("--classes", type=int, default=10, help="classes of the classifier")
    parser.add_argument("--repeats", type=int, default=3, help="timings per metric (best kept)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    import netcal.metrics as nm

    import uqkit.metrics as um

    rng = np.random.default_rng(0)
    n = args.n
    # regression: heteroscedastic Gaussian predictions, 30% over-confident
    mean = rng.normal(size=n)
    std = np.exp(0.5 * rng.normal(size=n))
    y = mean + 1.3 * std * rng.normal(size=n)
    gaussian = (mean, std)
    levels = np.array([0.5, 0.8, 0.9, 0.95])
    quantiles = np.asarray(um.DEFAULT_QUANTILES)
    # classification: a softmax model, sharpened (over-confident), labels drawn from the truth
    logits = 2.0 * rng.normal(size=(n, args.classes))
    true = np.exp(logits - logits.max(1, keepdims=True))
    true /= true.sum(1, keepdims=True)
    labels = (rng.uniform(size=(n, 1)) > true.cumsum(1)).sum(1).clip(0, args.classes - 1)
    probs = true**2 / (true**2).sum(1, keepdims=True)

    def netcal_classwise():
        return np.mean(
            [
                nm.ECE(bins=15).measure(probs[:, k], (labels == k).astype(np.int64))
                for k in range(args.classes)
            ]
        )

    pairs = [
        ("regression NLL (Gaussian)",
         lambda: um.regression_nll(gaussian, y),
         lambda: nm.NLL().measure(gaussian, y)),
        ("PICP + MPIW, 4 levels",
         lambda: um.coverage(gaussian, y, levels),
         lambda: nm.PICP(bins=10).measure(gaussian, y, q=levels)),
        ("QCE, marginal, 19 levels",
         lambda: um.quantile_calibration_error(gaussian, y, quantiles),
         lambda: nm.QCE(bins=10, marginal=True).measure(gaussian, y, q=quantiles)),
        ("QCE, 10 std bins, 19 levels",
         lambda: um.quantile_calibration_error(gaussian, y, quantiles, n_bins=10),
         lambda: nm.QCE(bins=10, marginal=False).measure(gaussian, y, q=quantiles)),
        ("ENCE, 10 bins",
         lambda: um.ence(gaussian, y, 10),
         lambda: nm.ENCE(bins=10).measure(gaussian, y)),
        ("UCE, 10 bins",
         lambda: um.uce(gaussian, y, 10),
         lambda: nm.UCE(bins=10).measure(gaussian, y)),
        (f"ECE equal-width, 15 bins, {args.classes} classes",
         lambda: um.expected_calibration_error(probs, labels, 15),
         lambda: nm.ECE(bins=15).measure(probs, labels)),
        (f"ECE equal-mass, 15 bins, {args.classes} classes",
         lambda: um.expected_calibration_error(probs, labels, 15, binning="equal_mass"),
         lambda: nm.ECE(bins=15, equal_intervals=False).measure(probs, labels)),
        (f"MCE, 15 bins, {args.classes} classes",
         lambda: um.maximum_calibration_error(probs, labels, 15),
         lambda: nm.MCE(bins=15).measure(probs, labels)),
        (f"classwise ECE, 15 bins, {args.classes} classes",
         lambda: um.classwise_ece(probs, labels, 15),
         netcal_classwise),
    ]  # fmt: skip
    alone = [
        ("CRPS (Gaussian, closed form)", lambda: um.crps(gaussian, y)),
        ("pinball loss, 19 quantiles", lambda: um.pinball_loss(gaussian, y)),
        ("miscalibration area (exact)", lambda: um.miscalibration_area(gaussian, y)),
        ("abs(error) vs std Spearman", lambda: um.error_std_correlation(gaussian, y)),
        ("classification NLL", lambda: um.classification_nll(probs, labels)),
        ("Brier score", lambda: um.brier_score(probs, labels)),
        ("AURC", lambda: um.aurc(probs, labels)),
        ("misclassification AUROC + AUPR", lambda: um.misclassification_detection(probs, labels)),
    ]

    rows, failures = [], []
    for name, ours, theirs in pairs:
        ours_times, theirs_times = [], []
        for _ in range(args.repeats):  # alternate, so that machine noise hits both alike
            t_ours, v_ours = best_time(ours, 1)
            t_theirs, v_theirs = best_time(theirs, 1)
            ours_times.append(t_ours)
            theirs_times.append(t_theirs)
        a, b = scalar(v_ours), scalar(v_theirs)
        if not np.isclose(a, b, rtol=1e-9, atol=1e-12):
            raise SystemExit(f"{name}: uqkit {a!r} and netcal {b!r} disagree")
        t_ours, t_theirs = min(ours_times), min(theirs_times)
        ratio = t_ours / t_theirs
        rows.append((name, t_ours, t_theirs, ratio, a))
        if ratio > LIMIT:
            failures.append(name)
        print(f"{name:45s} uqkit {t_ours:8.3f}s  netcal {t_theirs:8.3f}s  ratio {ratio:6.3f}")
    alone_rows = []
    for name, ours in alone:
        t, _ = best_time(ours, args.repeats)
        alone_rows.append((name, t))
        print(f"{name:45s} uqkit {t:8.3f}s  (no netcal counterpart)")

    import netcal

    machine = platform.processor() or platform.machine()
    lines = [
        "# Calibration metrics: uqkit vs netcal",
        "",
        f"{n:,} predictions (regression: Gaussian mean/std; classification: {args.classes} "
        f"classes). Best of {args.repeats} alternating runs per metric, both libraries in one "
        f"process on identical inputs; values agree to 1e-9. Machine: {machine}, "
        f"{os.cpu_count()} CPUs shared with other jobs (timings are noisy); "
        f"numpy {np.__version__}, "
        f"netcal {netcal.__version__}. Command: `python benchmarks/calibration_speed.py`; "
        "wall-time budget: under 15 minutes.",
        "",
        "ratio = uqkit time / netcal time (below 1: uqkit is faster). Requirement: ratio <= "
        f"{LIMIT} everywhere.",
        "",
        "| metric | uqkit (s) | netcal (s) | ratio | value |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.5g} |" for r in rows]
    lines += [
        "",
        "Metrics netcal does not compute (or computes differently: its `QuantileLoss` scores the "
        "bounds of central intervals, not quantiles), timed alone:",
        "",
        "| metric | uqkit (s) |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {t:.3f} |" for name, t in alone_rows]
    verdict = "all within the limit" if not failures else f"over the limit: {failures}"
    lines += ["", f"Result: {verdict}."]
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "calibration_speed.md").write_text("\n".join(lines) + "\n")
    print(f"\n{verdict}; table written to {output / 'calibration_speed.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
