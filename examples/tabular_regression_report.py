"""Tabular regression with a calibration report.

Fits a deep ensemble on the embedded concrete data set, prints its predictive uncertainty for a
few test rows, recalibrates it with conformal prediction, and writes a calibration report
(Markdown and HTML) comparing the raw and the conformalised model.

Run::

    python examples/tabular_regression_report.py            # ~1 minute on a laptop CPU
    python examples/tabular_regression_report.py --quick    # a few seconds (CI)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sklearn.model_selection import train_test_split

from uqkit.calibration import ConformalRegressor
from uqkit.datasets import load_concrete
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.report import report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for tests (seconds)")
    parser.add_argument("--output", default="example-output", help="folder for the report")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("UQKIT_EXAMPLE_QUICK") == "1"

    X, y = load_concrete()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    X_fit, X_cal, y_fit, y_cal = train_test_split(X_train, y_train, test_size=0.25, random_state=0)

    model = DeepEnsembleRegressor(
        n_members=2 if quick else 5,
        hidden_layers=(16,) if quick else (64, 64),
        lr=5e-3,
        epochs=3 if quick else 300,
        random_state=0,
        verbose=0,
    )
    model.fit(X_fit, y_fit)

    pred = model.predict_uncertainty(X_test[:5])
    print("Predictive distribution for five test mixtures (MPa, variances in MPa²):")
    print(pred.to_frame().round(2))
    lower, upper = model.predict_interval(X_test[:5], alpha=0.1)
    print("90% intervals:", [f"[{lo:.1f}, {hi:.1f}]" for lo, hi in zip(lower, upper)])

    # Split-conformal recalibration on rows the ensemble never saw.
    conformal = ConformalRegressor(model).fit(X_cal, y_cal)

    rep = report({"deep ensemble": model, "conformal": conformal}, X_test, y_test)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(rep.to_markdown(), encoding="utf-8")
    html = rep.to_html(out / "report.html")
    markdown = rep.to_markdown()
    verdicts = markdown[markdown.find("## Verdicts") :]
    print(verdicts[: verdicts.find("\n## ", 1)].strip())
    print(f"Report written to {out / 'report.md'} and {html}")


if __name__ == "__main__":
    main()
