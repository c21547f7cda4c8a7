"""Every uqkit regressor with its default settings on the nine UCI regression benchmarks.

What a user gets who writes ``Model().fit(X, y)``: no argument is passed except
``random_state`` (the split index) and ``device="cpu"``; no learning rate or epoch count is
searched. The standard splits of Hernández-Lobato & Adams (2015) are used (features and target
are standardised on the training rows inside each estimator), and each model is scored on the
test rows of the split: test NLL of the exact predictive (the mixture for ensembles, the
Student-t for the evidential model), NLL of the moment-matched Gaussian (what the deep-ensemble
paper reports) and RMSE, in the target's units, as mean ± standard error over the splits, with
the mean fit time per split.

The baseline, run by the same script on the same splits (in the same process when one
invocation runs every model), is ``DeepEnsembleRegressor`` with the defaults it had before uqkit
issue 18 (``lr=1e-3, epochs=200, patience=20``). Published
figures: deep ensembles, Lakshminarayanan et al. (2017), Table 1 (NLL and RMSE); deep
evidential regression, Amini et al. (2020), Table 1 (NLL); GP, the ARD-kernel figures of
``benchmarks/uci_bayes.py``. The deep-ensemble figures include adversarial training; the
defaults do not use it.

Per-split results are appended to a JSON-lines cache, so that a run can be spread over several
invocations (one model, data set or split at a time, or several in parallel processes); the
markdown report is written from the cache.

Usage::

    python benchmarks/uci_defaults.py                      # all models, the default splits
    python benchmarks/uci_defaults.py --models ensemble ensemble_old
    python benchmarks/uci_defaults.py --quick              # 2 splits of 3 small sets
    python benchmarks/uci_defaults.py --report-only
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from uqkit.bayes import BayesianMLPRegressor, GPRegressor
from uqkit.datasets import UCI_DATASETS, load_uci, uci_n_splits
from uqkit.dca import DCARegressor
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.evidential import EvidentialRegressor

RESULTS = Path(__file__).parent / "results" / "uci_defaults.md"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "uqkit_uci_defaults.jsonl"
SMALL = ("boston", "concrete", "energy", "wine", "yacht")
LARGE = ("kin8nm", "naval", "power", "protein")
QUICK = {"datasets": ("boston", "concrete", "yacht"), "splits": 2}

# Lakshminarayanan et al. (2017), Table 1: deep ensembles, test NLL (± SE) and RMSE.
PUBLISHED_ENSEMBLE = {
    "boston": (2.41, 0.25, 3.28), "concrete": (3.06, 0.18, 6.03), "energy": (1.38, 0.22, 2.09),
    "kin8nm": (-1.20, 0.02, 0.09), "naval": (-5.63, 0.05, 0.00), "power": (2.79, 0.04, 4.11),
    "protein": (2.83, 0.02, 4.71), "wine": (0.94, 0.12, 0.64), "yacht": (1.18, 0.21, 1.58),
}  # fmt: skip
# Amini et al. (2020), Table 1: deep evidential regression, test NLL.
PUBLISHED_EVIDENTIAL = {
    "boston": 2.35, "concrete": 3.01, "energy": 1.39, "kin8nm": -1.24, "naval": -5.73,
    "power": 2.81, "protein": 2.63, "wine": 0.89, "yacht": 1.03,
}  # fmt: skip
# GP with an ARD kernel (1000 inducing points when N > 2000), as quoted in uci_bayes.py.
PUBLISHED_GP = {
    "boston": 2.37, "concrete": 3.03, "energy": 0.66, "kin8nm": -1.11, "naval": -4.98,
    "power": 2.81, "protein": 2.89, "wine": 0.95, "yacht": 0.10,
}  # fmt: skip


def _defaults(cls):
    return lambda seed: cls(random_state=seed, device="cpu")


MODELS = {
    "ensemble_old": (
        "DeepEnsembleRegressor, old defaults (lr=1e-3, epochs=200, patience=20)",
        lambda seed: DeepEnsembleRegressor(lr=1e-3, epochs=200, patience=20, random_state=seed,
                                           device="cpu"),
        PUBLISHED_ENSEMBLE,
    ),
    "ensemble": ("DeepEnsembleRegressor()", _defaults(DeepEnsembleRegressor), PUBLISHED_ENSEMBLE),
    "dca": ("DCARegressor()", _defaults(DCARegressor), PUBLISHED_ENSEMBLE),
    "evidential": ("EvidentialRegressor()", _defaults(EvidentialRegressor), PUBLISHED_EVIDENTIAL),
    "gp": ("GPRegressor()", _defaults(GPRegressor), PUBLISHED_GP),
    "bnn": ("BayesianMLPRegressor()", _defaults(BayesianMLPRegressor), PUBLISHED_ENSEMBLE),
}
# which published figure each row is compared with
REFERENCE = {"ensemble_old": "deep ensemble", "ensemble": "deep ensemble",
             "dca": "deep ensemble", "evidential": "deep evidential", "gp": "GP, ARD",
             "bnn": "deep ensemble"}  # fmt: skip
# Splits run per data set and model by default, sized for a 2-core CPU shared with ~8 other jobs:
# all 20 splits of the small sets and 3 of the large ones for the deep ensembles (old and new
# defaults); fewer for the rest (a default DCA fit takes ~1 min on concrete there; 0 means not run).
PLAN = {
    "ensemble_old": {**dict.fromkeys(SMALL, 20), **dict.fromkeys(LARGE, 3)},
    "ensemble": {**dict.fromkeys(SMALL, 20), **dict.fromkeys(LARGE, 3)},
    "dca": {**dict.fromkeys(SMALL, 2), **dict.fromkeys(LARGE, 0)},
    "evidential": {**dict.fromkeys(SMALL, 3), **dict.fromkeys(LARGE, 0)},
    "gp": {**dict.fromkeys(SMALL, 2), **dict.fromkeys(LARGE, 0)},
    "bnn": {**dict.fromkeys(SMALL, 2), **dict.fromkeys(LARGE, 0)},
}


def run_split(model_key: str, name: str, split: int) -> dict:
    X, y, X_test, y_test = load_uci(name, split)
    model = MODELS[model_key][1](split)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of the GP; the row records the fit
        model.fit(X, y)
    seconds = time.perf_counter() - start
    metrics = model.evaluate(X_test, y_test)
    history = getattr(model, "history_", None)
    epochs = (float(np.mean([h["epochs"] for h in history]))
              if isinstance(history, list) and history and "epochs" in history[0] else None)
    return {"model": model_key, "set": name, "split": split, "seconds": seconds,
            "nll": float(metrics["nll"]), "nll_gaussian": float(metrics["nll_gaussian"]),
            "rmse": float(metrics["rmse"]), "epochs": epochs}


def load_cache(path: Path) -> dict[tuple[str, str, int], dict]:
    rows = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[(row["model"], row["set"], row["split"])] = row
    return rows


def mean_se(values: list[float], digits: int = 2) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    se = values.std(ddof=1) / np.sqrt(len(values))
    return f"{values.mean():.{digits}f} ± {se:.{digits}f}"


def report(rows: dict, models: list[str], datasets: list[str]) -> tuple[str, str]:
    header = ("| data set | model | splits | NLL (exact) | NLL (Gaussian) | published NLL | "
              "≤ published | RMSE | published RMSE | epochs | fit s |")
    lines = [header, "|" + "---|" * 11]
    wins = {}
    for name in datasets:
        for key in models:
            rs = sorted((r for (m, s, _), r in rows.items() if m == key and s == name),
                        key=lambda r: r["split"])
            if not rs:
                continue
            published = MODELS[key][2][name]
            pub_nll = published[0] if isinstance(published, tuple) else published
            pub_rmse = f"{PUBLISHED_ENSEMBLE[name][2]:.2f}" if REFERENCE[key] == "deep ensemble" \
                else "–"
            nll = np.mean([r["nll"] for r in rs])
            better = nll <= pub_nll
            gaussian_better = np.mean([r["nll_gaussian"] for r in rs]) <= pub_nll
            wins.setdefault(key, []).append((better, gaussian_better))
            epochs = [r["epochs"] for r in rs if r["epochs"] is not None]
            lines.append(
                f"| {name} | {key} | {len(rs)}/{uci_n_splits(name)} | "
                f"{mean_se([r['nll'] for r in rs])} | {mean_se([r['nll_gaussian'] for r in rs])} | "
                f"{pub_nll:.2f} ({REFERENCE[key]}) | {'yes' if better else 'no'} | "
                f"{mean_se([r['rmse'] for r in rs])} | {pub_rmse} | "
                f"{f'{np.mean(epochs):.0f}' if epochs else '–'} | "
                f"{np.mean([r['seconds'] for r in rs]):.1f} |"
            )
    summary = "\n".join(
        f"- `{key}` ({MODELS[key][0]}): exact NLL at or below the published {REFERENCE[key]} "
        f"figure on {sum(b for b, _ in w)} of {len(w)} sets (moment-matched Gaussian NLL: "
        f"{sum(g for _, g in w)} of {len(w)})."
        for key, w in wins.items()
    )
    return "\n".join(lines), summary


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--datasets", nargs="+", default=list(UCI_DATASETS), choices=UCI_DATASETS)
    parser.add_argument("--splits", type=int, default=None,
                        help="first N splits of every set (default: the plan in PLAN)")
    parser.add_argument("--only-splits", type=int, nargs="+", default=None,
                        help="run only these split indices (of the planned ones): a run can be "
                        "spread over parallel processes")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['splits']} splits of {', '.join(QUICK['datasets'])}")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    datasets = list(QUICK["datasets"]) if args.quick else args.datasets
    n_splits = QUICK["splits"] if args.quick else args.splits
    rows = load_cache(args.cache)
    if not args.report_only:
        for name in datasets:
            for key in args.models:
                planned = PLAN[key][name] if n_splits is None else n_splits
                for split in range(min(planned, uci_n_splits(name))):
                    if (key, name, split) in rows or (
                        args.only_splits is not None and split not in args.only_splits
                    ):
                        continue
                    row = run_split(key, name, split)
                    rows[(key, name, split)] = row
                    with args.cache.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(f"{key} {name} split {split}: NLL {row['nll']:.3f}, "
                          f"{row['seconds']:.1f} s", flush=True)
    table, summary = report(rows, list(MODELS), list(UCI_DATASETS))
    text = "\n".join([
        "# Default settings on the UCI regression benchmarks",
        "",
        (__doc__ or "").split("Usage::")[0].strip(),
        "",
        f"Machine: {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s). "
        "Command: `python benchmarks/uci_defaults.py` (the splits of its `PLAN`; rows are cached "
        "per split, so the run may be spread over several `--models`/`--datasets`/"
        "`--only-splits` invocations). Columns: splits run/available; NLL of the exact "
        "predictive and of the moment-matched Gaussian, RMSE, in the target's units, mean ± "
        "standard error over splits; epochs trained (mean over members and splits); fit time "
        "per split.",
        "",
        table,
        "",
        summary,
    ])
    print(table)
    print(summary)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
