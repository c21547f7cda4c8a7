"""Image classification with out-of-distribution detection: MNIST digits vs notMNIST letters.

Trains a deep ensemble and an evidential (Dirichlet) classifier on MNIST digits, then asks each
whether it can tell notMNIST letters (never seen in training) from held-out digits by its
epistemic uncertainty. The calibration report gives accuracy, NLL, ECE and the OOD AUROC side by
side, with a verdict per model. Needs the shared data folder (``uqkit.datasets.data_root``).

Run::

    python examples/image_classification_ood.py            # a few minutes on a CPU
    python examples/image_classification_ood.py --quick    # seconds (CI)
"""

from __future__ import annotations

import argparse
import os

from uqkit.datasets import load_mnist_ood
from uqkit.ensemble import DeepEnsembleClassifier
from uqkit.evidential import EvidentialClassifier
from uqkit.report import report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for tests (seconds)")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("UQKIT_EXAMPLE_QUICK") == "1"

    data = load_mnist_ood()
    # Estimators take 2-D features: flatten the (n, 1, 28, 28) images to (n, 784).
    flat = {key: value.reshape(len(value), -1) for key, value in data.items() if key[0] == "X"}
    n_train, n_test = (600, 300) if quick else (6000, 2000)
    X_train, y_train = flat["X_train"][:n_train], data["y_train"][:n_train]
    X_val, y_val = flat["X_val"][:n_test], data["y_val"][:n_test]
    X_test, y_test = flat["X_test"][:n_test], data["y_test"][:n_test]
    X_ood = flat["X_ood"][:n_test] if quick else flat["X_ood"]

    epochs = 2 if quick else 30
    models = {
        "deep ensemble": DeepEnsembleClassifier(
            n_members=2 if quick else 5, hidden_layers=(128,), epochs=epochs, patience=5,
            random_state=0, verbose=0,
        ),
        "evidential": EvidentialClassifier(
            hidden_layers=(128,), epochs=epochs, annealing_epochs=min(10, epochs), patience=5,
            random_state=0, verbose=0,
        ),
    }
    for model in models.values():
        model.fit(X_train, y_train, X_val=X_val, y_val=y_val)

    pred = models["deep ensemble"].predict_uncertainty(X_ood[:3])
    print("Deep ensemble on three notMNIST letters:")
    print("  predicted digit:", pred.label, " confidence:", pred.confidence.round(3))
    print("  epistemic (mutual information):", pred.epistemic.round(3))

    rep = report(models, X_test, y_test, X_ood=X_ood)
    markdown = rep.to_markdown()
    print(markdown[: markdown.find("## Verdicts")].strip())
    verdicts = rep.verdicts()
    for name, lines in verdicts.items():
        print(f"{name}: {lines[0]}")


if __name__ == "__main__":
    main()
