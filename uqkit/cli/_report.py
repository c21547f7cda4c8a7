"""``uqkit report MODEL DATA.csv --target COLUMN [--ood OOD.csv] -o report.html``."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the ``report`` subcommand to the ``uqkit`` parser."""
    parser = subparsers.add_parser(
        "report",
        help="write a calibration report of a saved model on a CSV file",
        description=(
            "Evaluate a model saved with estimator.save(...) on a CSV file and write a "
            "self-contained HTML calibration report (metrics, plots and a verdict)."
        ),
    )
    parser.add_argument("model", help="model file written by estimator.save(...)")
    parser.add_argument("data", help="CSV file with the feature columns and the target column")
    parser.add_argument("--target", required=True, help="name of the target column in DATA")
    parser.add_argument(
        "--ood", default=None, help="CSV file of out-of-distribution inputs (same feature columns)"
    )
    parser.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    parser.add_argument("--name", default=None, help="model name shown in the report")
    parser.add_argument(
        "--device", default=None,
        help="run the model here, e.g. 'cpu' for a model saved with device='cuda' (default: the "
        "saved device)",
    )
    parser.set_defaults(run=run)


def _features(frame, model, target: str | None, source: str):
    """The feature matrix of ``frame`` as the model was fitted on it.

    With ``feature_names_in_`` the columns are matched by name (any order; other columns are
    ignored) and a missing name is refused. Without names the columns besides the target are
    taken in file order: a different count is refused, and a warning says the order is assumed.
    """
    import warnings

    import numpy as np

    from uqkit.exceptions import InvalidInputError, UQKitWarning

    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        names = [str(c) for c in names]
        columns = {str(c): c for c in frame.columns}
        missing = [c for c in names if c not in columns]
        if missing:
            raise InvalidInputError(
                f"{source} lacks the feature columns {missing[:10]} that the model was fitted "
                f"on (it has {[str(c) for c in frame.columns][:20]}). Give the CSV a header with "
                f"the fitted feature names {names[:20]}; their order does not matter."
            )
        return frame[[columns[c] for c in names]]
    columns = [c for c in frame.columns if c != target]
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and len(columns) != expected:
        raise InvalidInputError(
            f"{source} has {len(columns)} feature columns besides the target but the model was "
            f"fitted on {expected}. The model has no feature names (it was fitted on an array), "
            "so pass a CSV whose columns besides the target are exactly its features, in the "
            "order used at fit."
        )
    warnings.warn(
        f"The model was fitted without feature names, so the {len(columns)} columns of "
        f"{source} besides the target are taken in file order ({[str(c) for c in columns][:10]})"
        ". Check that it is the order used at fit, or fit on a DataFrame so that columns are "
        "matched by name.",
        UQKitWarning,
        stacklevel=2,
    )
    return np.asarray(frame[columns], dtype=float)


def run(args: argparse.Namespace) -> int:
    """Build the report; 0 on success, 2 with a message on bad input."""
    import pandas as pd

    import uqkit
    from uqkit.exceptions import UQKitError
    from uqkit.report import report

    try:
        model = uqkit.load(args.model, device=args.device)
        frame = pd.read_csv(args.data)
        if args.target not in frame.columns:
            raise KeyError(
                f"{args.data} has no column {args.target!r}; columns: {list(frame.columns)[:20]}"
            )
        X = _features(frame, model, args.target, args.data)
        y = frame[args.target].to_numpy()
        X_ood = None
        if args.ood:
            ood = pd.read_csv(args.ood)
            ood = ood.drop(columns=[args.target], errors="ignore")
            X_ood = _features(ood, model, None, args.ood)
        name = args.name or type(model).__name__
        result = report(model, X, y, X_ood=X_ood, names=[name])
        path = result.to_html(args.output)
    except (UQKitError, OSError, KeyError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"uqkit report: error: {message}", file=sys.stderr)
        return 2
    for sentence in result.verdicts()[name]:
        print(f"- {sentence}")
    print(f"Report written to {path}")
    return 0
