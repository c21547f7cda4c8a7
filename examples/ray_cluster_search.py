"""AutoDEUQ: search architectures and hyperparameters on a Ray cluster, keep the best ensemble.

:class:`uqkit.ensemble.AutoDEUQRegressor` (Egele et al., ICPR 2022) runs an aging-evolution search
over network architectures and training hyperparameters as Ray Tune trials, then greedily selects
an ensemble of the trained networks by validation NLL. The same script runs on a laptop (a local
Ray is started) or on a cluster: start Ray on the nodes (``ray start --head`` on one,
``ray start --address=<head>:6379`` on the others) and pass ``--address auto`` on the head node,
or ``--address ray://<head>:10001`` from outside it. ``--storage`` should then be a folder every
node sees; ``--resume`` continues an interrupted search there. Needs the ``search`` extra.

Run::

    python examples/ray_cluster_search.py                       # local Ray, ~10 minutes
    python examples/ray_cluster_search.py --address auto --trials 200 --gpus-per-trial 0.25
    python examples/ray_cluster_search.py --quick               # seconds after Ray starts (CI)
"""

from __future__ import annotations

import argparse
import os

from sklearn.model_selection import train_test_split

from uqkit.datasets import load_concrete


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for tests")
    parser.add_argument("--address", default=None, help='Ray cluster: "auto" or "ray://host:port"')
    parser.add_argument("--trials", type=int, default=50, help="networks trained by the search")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0)
    parser.add_argument("--storage", default=None, help="checkpoint folder seen by every node")
    parser.add_argument("--resume", action="store_true", help="continue the search in --storage")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("UQKIT_EXAMPLE_QUICK") == "1"

    from uqkit.exceptions import require

    require("ray", "search")
    from uqkit.ensemble import AutoDEUQRegressor
    from uqkit.training import RayBackend

    X, y = load_concrete()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = AutoDEUQRegressor(
        n_trials=3 if quick else args.trials,
        ensemble_size=2 if quick else 5,
        population_size=2 if quick else 10,
        sample_size=2 if quick else 3,
        space={"epochs": 2} if quick else None,
        backend=RayBackend(address=args.address, checkpoint_dir=args.storage,
                           resources={"num_cpus": 1, "num_gpus": args.gpus_per_trial}),
        resume=args.resume,
        random_state=0,
        verbose=0 if quick else 1,
    )
    model.fit(X_train, y_train)

    catalog = model.catalog_.sort_values("val_nll")
    print(catalog[["trial", "status", "val_nll", "best_epoch", "weight"]].head(10).to_string())
    print(f"{len(model.weights_)} members selected, weights {model.weights_.round(2).tolist()}")
    pred = model.predict_uncertainty(X_test)
    lower, upper = model.predict_interval(X_test, alpha=0.1)
    coverage = ((lower <= y_test) & (y_test <= upper)).mean()
    print(f"test NLL {pred.nll(y_test):.3f}, CRPS {pred.crps(y_test):.3f}, "
          f"90% coverage {coverage:.2f}")


if __name__ == "__main__":
    main()
