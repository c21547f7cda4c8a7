"""``uqkit report MODEL [MODEL ...] --data DATA.csv --target COLUMN [--ood OOD.csv] -o out.html``.

The output format follows the extension of ``-o``: ``.html``, ``.md`` or ``.json``.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the ``report`` subcommand to the ``uqkit`` parser."""
    parser = subparsers.add_parser(
        "report",
        help="write a calibration report of one or several saved models on a CSV file",
        description=(
            "Evaluate models saved with estimator.save(...) on a CSV file and write a calibration "
            "report (metrics with bootstrap intervals, a paired comparison, plots and verdicts). "
            "The format follows the extension of -o: .html (self-contained), .md (figures as "
            "files next to it) or .json."
        ),
    )
    parser.add_argument(
        "models", nargs="+", metavar="MODEL",
        help="model files written by estimator.save(...); a last argument ending in .csv is "
        "taken as --data",
    )
    parser.add_argument(
        "--data", default=None, help="CSV file with the feature columns and the target column"
    )
    parser.add_argument("--target", required=True, help="name of the target column in DATA")
    parser.add_argument("--description", default=None, help="one line about the data")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000; 0: none)"
    )
    parser.add_argument(
        "--ood", default=None, help="CSV file of out-of-distribution inputs (same feature columns)"
    )
    parser.add_argument(
        "-o", "--output", default="report.html",
        help="file to write: .html, .md or .json (default report.html)",
    )
    parser.add_argument(
        "--name", action="append", default=None,
        help="model name shown in the report (repeat once per model)",
    )
    parser.add_argument(
        "--device", default=None,
        help="run the model here, e.g. 'cpu' for a model saved with device='cuda' (default: the "
        "saved device)",
    )
    parser.add_argument(
        "--trust", action="append", default=None, metavar="PACKAGE",
        help="a package whose network code the model files may name (a model saved with "
        "module='PACKAGE.models:Net'); repeat for several. Its code is imported and run, so "
        "trust only your own packages (uqkit.load(path, trust=[PACKAGE]))",
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


def _split_data(args) -> tuple[list[str], str]:
    """The model files and the data file (``--data``, or a trailing ``.csv`` positional)."""
    from uqkit.exceptions import InvalidInputError

    models = list(args.models)
    data = args.data
    if data is None and len(models) > 1 and models[-1].lower().endswith(".csv"):
        data = models.pop()
    if data is None:
        raise InvalidInputError(
            "No data: pass the evaluation CSV with --data test.csv (it needs the feature "
            "columns and the target column)."
        )
    return models, data


def _check_format(output: str) -> None:
    from uqkit.exceptions import InvalidInputError

    if not output.lower().endswith((".html", ".htm", ".md", ".markdown", ".json")):
        raise InvalidInputError(
            f"Cannot tell the report format from {output!r}: end -o in .html, .md or .json."
        )


def run(args: argparse.Namespace) -> int:
    """Build the report; 0 on success, 2 with a message on bad input."""
    import numpy as np
    import pandas as pd

    import uqkit
    from uqkit.exceptions import InvalidInputError, UQKitError
    from uqkit.report import report

    try:
        paths, data_path = _split_data(args)
        _check_format(args.output)
        models = [uqkit.load(p, device=args.device, trust=args.trust) for p in paths]
        frame = pd.read_csv(data_path)
        if args.target not in frame.columns:
            raise KeyError(
                f"{data_path} has no column {args.target!r}; columns: {list(frame.columns)[:20]}"
            )
        features = [_features(frame, m, args.target, data_path) for m in models]
        X = features[0]
        for path, other in zip(paths[1:], features[1:]):
            same_columns = list(getattr(other, "columns", [])) == list(getattr(X, "columns", []))
            if not same_columns or not np.array_equal(np.asarray(other), np.asarray(X)):
                raise InvalidInputError(
                    f"{path} was fitted on other feature columns than {paths[0]}; a report "
                    "compares models on the same features. Report them separately."
                )
        y = frame[args.target]
        X_ood = None
        if args.ood:
            ood = pd.read_csv(args.ood)
            ood = ood.drop(columns=[args.target], errors="ignore")
            X_ood = _features(ood, models[0], None, args.ood)
        names = args.name or _names(models, paths)
        if len(names) != len(models):
            raise InvalidInputError(
                f"Got {len(names)} --name for {len(models)} models; give one per model or none."
            )
        kwargs = {}
        if args.description is not None:
            kwargs["description"] = args.description
        if args.bootstrap != 1000:
            kwargs["n_boot"] = args.bootstrap
        result = report(models, X, y, X_ood=X_ood, names=names, **kwargs)
        path = result.write(args.output)
    except (UQKitError, OSError, KeyError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"uqkit report: error: {message}", file=sys.stderr)
        return 2
    for name, sentences in result.verdicts().items():
        print(f"{name}:")
        for sentence in sentences:
            print(f"- {sentence}")
    for sentence in result.comparison():
        print(sentence)
    print(f"Report written to {path}")
    return 0


def _names(models, paths) -> list[str]:
    """Class names, or file stems where two models share a class."""
    from pathlib import Path

    classes = [type(m).__name__ for m in models]
    if len(set(classes)) == len(classes):
        return classes
    stems = [Path(p).stem for p in paths]
    return stems if len(set(stems)) == len(stems) else [f"{c} #{i + 1}" for i, c in
                                                          enumerate(classes)]
