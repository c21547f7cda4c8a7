"""``uqkit search CONFIG.yaml --dataset NAME``: run an AutoDEUQ experiment from a YAML config,
on a UCI benchmark or on the user's own CSV (``--data train.csv --target y``).

The config (see the top-level ``search/`` folder) has five sections, all optional::

    dataset: boston          # default data set (``--dataset`` overrides it)
    split: 0                 # standard split (``--split`` overrides it)
    data:                    # or the user's own table (``--data``/``--target``/... override it)
      train: train.parquet   # .csv or .parquet; relative paths start at the config's folder
      target: y
      test: test.parquet     # optional; else test_fraction of train is held out
      test_fraction: 0.1
    search:                  # AutoDEUQRegressor parameters (all but space and backend)
      n_trials: 100
      ensemble_size: 5
      searcher: evolution
    space:                   # SearchSpace fields
      max_layers: 5
      units: [16, 512]
    ray:                     # RayBackend fields: where and how trials run
      checkpoint_dir: runs/autodeuq
      max_retries: 2
      resources: {num_cpus: 1, num_gpus: 0.25}   # Ray resources of one trial

Heavy imports (torch, ray) happen only when the command runs.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

__all__ = ["register", "run"]

_SECTIONS = ("dataset", "split", "data", "search", "space", "ray")
_DATA_KEYS = ("train", "target", "test", "test_fraction")

_DESCRIPTION = """\
Run an AutoDEUQ search (Egele et al., ICPR 2022) on a UCI regression benchmark (--dataset) or
on your own table (--data train.csv|.parquet --target y, optionally --test test.csv, or a
'data:' section in the config): Ray Tune
trains n_trials networks from the joint architecture/hyperparameter space of the config, greedy
selection with replacement builds the ensemble from the catalog, and the command prints the test
NLL/RMSE, then writes the fitted ensemble (model.safetensors, load with uqkit.load), the
catalog of every trial (catalog.csv) and an HTML calibration report into --output.

On a Ray cluster, start the command on the head node (or pass --ray-address auto), set the
resources of a trial (e.g. num_gpus: 0.25) in the config's ray section, and put checkpoint_dir
on a disk every node shares; rerun with --resume after an interruption: finished trials are not
retrained.
"""


def register(subparsers) -> None:
    """Add the ``search`` subcommand to the ``uqkit`` parser."""
    parser = subparsers.add_parser(
        "search", help="run an AutoDEUQ architecture + hyperparameter search (Ray Tune)",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", type=Path,
                        help="YAML experiment config (sections: dataset, split, search, space, "
                             "ray), e.g. search/uci_default.yaml")
    parser.add_argument("--dataset", default=None,
                        help="UCI data set (boston, concrete, energy, kin8nm, naval, power, "
                             "protein, wine, yacht); overrides the config's 'dataset'")
    parser.add_argument("--data", type=Path, default=None,
                        help="your own training table (.csv or .parquet) instead of a UCI set "
                             "(needs --target); every other column is a feature")
    parser.add_argument("--target", default=None, help="the target column of --data")
    parser.add_argument("--test", type=Path, default=None,
                        help="test table with the same columns (default: hold out "
                             "--test-fraction of --data, seeded by --seed)")
    parser.add_argument("--test-fraction", type=float, default=None,
                        help="share of --data held out for the test scores when --test is not "
                             "given (default: config or 0.1)")
    parser.add_argument("--split", type=int, default=None,
                        help="index of the standard train/test split (default: config or 0)")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder for model.safetensors, catalog.csv and report.html "
                             "(default: autodeuq-<dataset>-split<split>)")
    parser.add_argument("--n-trials", type=int, default=None,
                        help="override the search budget (number of trained networks)")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="override where trials are checkpointed (shared disk on a cluster)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the search found in the checkpoint dir (finished trials "
                             "count against the budget and are not retrained)")
    parser.add_argument("--ray-address", default=None,
                        help="connect to a running Ray cluster ('auto' or 'ray://host:10001'); "
                             "default: start a local Ray")
    parser.add_argument("--max-train-rows", type=int, default=None,
                        help="subsample the training rows to at most this many (quick runs)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random_state of the search (default: config or 0)")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the HTML calibration report")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only the final scores (no Tune progress)")
    parser.set_defaults(run=run)


def load_config(path: Path) -> dict:
    """Read and check an experiment config."""
    import yaml

    from uqkit.exceptions import InvalidInputError

    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise InvalidInputError(f"Cannot read the search config {str(path)!r}: {err}.") from err
    if not isinstance(config, dict):
        raise InvalidInputError(f"{str(path)!r} must hold a YAML mapping.")
    unknown = sorted(set(config) - set(_SECTIONS))
    if unknown:
        raise InvalidInputError(
            f"{str(path)!r}: unknown sections {unknown}; use {', '.join(_SECTIONS)}."
        )
    data = config.get("data")
    if data is not None:
        if not isinstance(data, dict):
            raise InvalidInputError(
                f"{str(path)!r}: 'data' must be a mapping with keys {', '.join(_DATA_KEYS)}."
            )
        unknown = sorted(set(data) - set(_DATA_KEYS))
        if unknown:
            raise InvalidInputError(
                f"{str(path)!r}: unknown keys {unknown} in the 'data' section; use "
                f"{', '.join(_DATA_KEYS)}."
            )
        if "dataset" in config:
            raise InvalidInputError(
                f"{str(path)!r} has both 'dataset' (a UCI set) and 'data' (your table): keep one."
            )
        # relative paths in a config start at the config's folder, wherever the command runs
        for key in ("train", "test"):
            if data.get(key) is not None:
                data[key] = Path(path).parent / Path(str(data[key])).expanduser()
    return config


def data_arguments(config: dict, args) -> tuple:
    """``(train, target, test, test_fraction)`` of the user's table: the command line overrides
    the config's ``data`` section; ``train`` is ``None`` when neither names a table."""
    data = config.get("data") or {}
    train = args.data if args.data is not None else data.get("train")
    target = args.target if args.target is not None else data.get("target")
    test = args.test if args.test is not None else data.get("test")
    fraction = args.test_fraction
    if fraction is None:
        fraction = data.get("test_fraction", 0.1)
    return train, target, test, fraction


def build_estimator(config: dict, args):
    """The :class:`~uqkit.ensemble.AutoDEUQRegressor` a config (plus command-line overrides)
    describes."""
    from uqkit.ensemble import AutoDEUQRegressor
    from uqkit.exceptions import InvalidInputError
    from uqkit.search import space_from_dict
    from uqkit.training import RayBackend

    params = dict(config.get("search") or {})
    allowed = set(AutoDEUQRegressor().get_params()) - {"space", "backend"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidInputError(
            f"Unknown keys in the 'search' section: {unknown}; allowed: {sorted(allowed)}."
        )
    ray = dict(config.get("ray") or {})
    ray_fields = {f.name for f in fields(RayBackend)}
    unknown = sorted(set(ray) - ray_fields)
    if unknown:
        raise InvalidInputError(
            f"Unknown keys in the 'ray' section: {unknown}; allowed (RayBackend fields): "
            f"{sorted(ray_fields)}."
        )
    space = space_from_dict(config.get("space")).to_dict()  # checked here, early
    ray_overrides = {"address": args.ray_address, "checkpoint_dir": args.checkpoint_dir}
    ray.update({k: v for k, v in ray_overrides.items() if v is not None})
    if args.seed is not None:
        params["random_state"] = args.seed
    if args.n_trials is not None:
        params["n_trials"] = args.n_trials
    if args.resume:
        params["resume"] = True
    params.setdefault("random_state", 0)
    params["verbose"] = 0 if args.quiet else max(1, int(params.get("verbose", 1)))
    return AutoDEUQRegressor(space=space, backend=RayBackend(**ray), **params)


def read_table(path: Path):
    """The user's table as a DataFrame: ``.csv`` or ``.parquet`` (``.pq``), by suffix."""
    import pandas as pd

    from uqkit.exceptions import InvalidInputError

    suffix = Path(path).suffix.lower()
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
    if suffix not in readers:
        raise InvalidInputError(
            f"Cannot read {str(path)!r}: use a .csv or .parquet file (got {suffix or 'no suffix'})."
        )
    try:
        return readers[suffix](path)
    except ImportError as err:  # parquet needs pyarrow or fastparquet
        raise InvalidInputError(
            f"Reading {str(path)!r} needs a parquet engine: pip install pyarrow ({err})."
        ) from err
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"Cannot read the table {str(path)!r}: {err}.") from err


def csv_problem(data: Path, target: str | None, test: Path | None, test_fraction: float,
                seed: int):
    """``(X, y, X_test, y_test, name)`` from the user's tables (``uqkit search --data``).

    ``data`` and ``test`` are CSV or parquet files (:func:`read_table`). Every column but
    ``target`` is a feature and must be numeric; the features stay a DataFrame, so the fitted
    model keeps their names (``feature_names_in_``). Without a ``test`` file a seeded
    ``test_fraction`` of the rows is held out for the test scores.
    """
    import numpy as np
    import pandas as pd

    from uqkit.exceptions import InvalidInputError

    if not target:
        raise InvalidInputError("--data needs --target NAME: the column to predict.")

    def read(path: Path):
        frame = read_table(path)
        if target not in frame.columns:
            raise InvalidInputError(
                f"{str(path)!r} has no column {target!r} (--target); its columns are "
                f"{list(frame.columns)}."
            )
        features = frame.drop(columns=[target])
        text = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
        if text:
            raise InvalidInputError(
                f"{str(path)!r}: the feature columns {text} are not numeric. Encode them as "
                "numbers (or drop them) before the search."
            )
        return features, np.asarray(frame[target], dtype=np.float64)

    X, y = read(data)
    if test is not None:
        X_test, y_test = read(test)
        if list(X_test.columns) != list(X.columns):
            raise InvalidInputError(
                f"The test CSV's feature columns {list(X_test.columns)} differ from the "
                f"training CSV's {list(X.columns)}."
            )
        return X, y, X_test, y_test, data.stem
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"--test-fraction must lie in (0, 1); got {test_fraction}.")
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(1, round(test_fraction * len(y)))
    if len(y) - n_test < 2:
        raise InvalidInputError(
            f"{str(data)!r} has {len(y)} rows: too few to hold out a test part and search."
        )
    test_rows, train_rows = np.sort(order[:n_test]), np.sort(order[n_test:])
    return (X.iloc[train_rows], y[train_rows], X.iloc[test_rows], y[test_rows], data.stem)


def run(args) -> int:
    """Body of ``uqkit search``."""
    import numpy as np

    from uqkit.datasets import load_uci
    from uqkit.exceptions import InvalidInputError

    config = load_config(args.config)
    split = args.split if args.split is not None else int(config.get("split", 0))
    train, target, test, test_fraction = data_arguments(config, args)
    if train is not None:
        if args.dataset is not None:
            raise InvalidInputError("Pass either --dataset (a UCI set) or --data (your table).")
        seed = args.seed if args.seed is not None else int(
            (config.get("search") or {}).get("random_state", 0)
        )
        X, y, X_test, y_test, dataset = csv_problem(
            Path(train), target, None if test is None else Path(test), float(test_fraction), seed
        )
    else:
        dataset = args.dataset or config.get("dataset")
        if not dataset:
            raise InvalidInputError(
                "Name the data: --dataset NAME (a UCI set, or 'dataset:' in the config), or "
                "--data train.csv --target y (or a 'data:' section)."
            )
        X, y, X_test, y_test = load_uci(dataset, split)
    model = build_estimator(config, args)
    if args.max_train_rows and len(X) > args.max_train_rows:
        keep = np.sort(np.random.default_rng(split).permutation(len(X))[: args.max_train_rows])
        X, y = (X.iloc[keep] if hasattr(X, "iloc") else X[keep]), y[keep]
    # a UCI set has numbered standard splits; a table is named by its file
    label = dataset if train is not None else f"{dataset} split {split}"
    output = args.output or Path(
        f"autodeuq-{dataset}" if train is not None else f"autodeuq-{dataset}-split{split}"
    )
    if not args.quiet:
        print(f"uqkit search: {label}, {len(X)} training rows, "
              f"{model.n_trials} trials ({model.searcher}), ensemble of {model.ensemble_size}; "
              f"output in {output}", flush=True)
    model.fit(X, y)
    prediction = model.predict_uncertainty(X_test)
    nll = float(prediction.nll(y_test))
    rmse = float(np.sqrt(np.mean((prediction.mean - y_test) ** 2)))
    output.mkdir(parents=True, exist_ok=True)
    path = model.save(output / "model.safetensors")
    model.catalog_.to_csv(output / "catalog.csv", index=False)
    print(f"{label}: test NLL {nll:.4f}, RMSE {rmse:.4f}; "
          f"{len(model.weights_)} members with weights {np.round(model.weights_, 3).tolist()}; "
          f"model saved to {path}", flush=True)
    if not args.no_report:
        try:
            from uqkit.report import report
        except ImportError:
            report = None
        if report is not None:
            html = report({"AutoDEUQ": model}, X_test, y_test).to_html(output / "report.html")
            print(f"calibration report: {html}", flush=True)
    return 0
