"""``uqkit demo``: a deep ensemble on the embedded concrete data, with a table and a plot."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="train a deep ensemble on the embedded concrete data and report its uncertainty",
        description=(
            "Train a 5-member deep ensemble on the embedded concrete compressive-strength data "
            "(80/20 split), print RMSE, NLL, 90% interval coverage and the mean aleatoric and "
            "epistemic variance, and write a plot of predictions with intervals (and, when the "
            "calibration module is installed, an HTML calibration report)."
        ),
    )
    parser.add_argument("--output", "-o", default="demo-output", help="folder for the outputs")
    parser.add_argument("--epochs", type=int, default=300, help="maximum epochs (default 300)")
    parser.add_argument("--members", type=int, default=5, help="ensemble size (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress output (verbose=0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the process exit code."""
    from uqkit.datasets import load_concrete
    from uqkit.ensemble import DeepEnsembleRegressor

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    X, y, names = load_concrete(return_names=True)
    order = np.random.default_rng(args.seed).permutation(len(X))
    n_test = len(X) // 5
    test, train = order[:n_test], order[n_test:]
    print(f"Concrete compressive strength: {len(train)} training and {n_test} test mixtures, "
          f"{X.shape[1]} features ({', '.join(names)}).")
    model = DeepEnsembleRegressor(
        n_members=args.members, epochs=args.epochs, lr=3e-3, random_state=args.seed,
        verbose=0 if args.quiet else 1,
    )
    model.fit(X[train], y[train])
    metrics = model.evaluate(X[test], y[test])
    rows = [
        ("RMSE (MPa)", metrics["rmse"]),
        ("NLL (mixture)", metrics["nll"]),
        ("NLL (moment-matched Gaussian)", metrics["nll_gaussian"]),
        ("CRPS (MPa)", metrics["crps"]),
        ("90% interval coverage", metrics["coverage_90"]),
        ("90% interval mean width (MPa)", metrics["width_90"]),
        ("mean aleatoric variance (MPa²)", metrics["mean_aleatoric"]),
        ("mean epistemic variance (MPa²)", metrics["mean_epistemic"]),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\n{'metric':<{width}}  test value")
    print(f"{'-' * width}  ----------")
    for name, value in rows:
        print(f"{name:<{width}}  {value:10.4f}")
    plot_path = output / "predictions.png"
    plot_predictions(model.predict_uncertainty(X[test]), y[test], plot_path)
    model_path = model.save(output / "model.safetensors")
    print(f"\nwrote {plot_path} and {model_path}")
    try:
        from uqkit.report import report
    except ImportError:
        return 0
    report_path = output / "report.html"
    report(model, X[test], y[test], names=["deep ensemble"]).to_html(report_path)
    print(f"wrote {report_path}")
    return 0


def plot_predictions(pred, y: np.ndarray, path: Path, alpha: float = 0.1) -> None:
    """Predicted vs observed with 90% intervals, split into aleatoric and total error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(pred.mean)
    lower, upper = pred.interval(alpha)
    x = np.arange(len(y))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.fill_between(x, lower[order], upper[order], color="tab:blue", alpha=0.25,
                      label=f"{round(100 * (1 - alpha))}% predictive interval")
    left.plot(x, pred.mean[order], color="tab:blue", label="predicted mean")
    inside = (y >= lower) & (y <= upper)
    left.scatter(x, y[order], s=8, c=np.where(inside[order], "black", "tab:red"),
                 label="observed (red: outside)")
    left.set(xlabel="test mixtures, sorted by prediction", ylabel="strength (MPa)",
             title=f"Predictions with intervals (coverage {inside.mean():.0%})")
    left.legend(loc="upper left", fontsize=8)
    points = right.scatter(np.sqrt(pred.aleatoric), np.sqrt(pred.epistemic), s=8,
                           c=np.abs(y - pred.mean), cmap="viridis")
    fig.colorbar(points, ax=right, label="|error| (MPa)")
    right.set(xlabel="aleatoric std (MPa)", ylabel="epistemic std (MPa)",
              title="Uncertainty split (colour: |error|)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
