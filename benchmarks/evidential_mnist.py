"""Evidential classification on MNIST with notMNIST as out-of-distribution inputs.

Sensoy et al. (NeurIPS 2018) train on MNIST and show that the Dirichlet's uncertainty
rises on notMNIST letters. Here the 10,000 MNIST test digits are the only MNIST data available
offline; `uqkit.datasets.load_mnist_ood` splits them 6,000 / 2,000 / 2,000 (train / validation /
test) with a fixed seed, and the 10,000 notMNIST test letters are the OOD set. Every model has the
same architecture (an MLP on the 784 flattened pixels, or with `--cnn` the small LeNet-style
`ImageCNN`), sees pixels standardised by one global mean and standard deviation (see
`GlobalPixelScaling` for why not per column), uses the validation digits for early stopping only,
and is scored on the test digits:

* evidential classifiers (MSE loss, KL annealed over 10 epochs) with softplus and with ReLU
  evidence (the paper's);
* a plain softmax network (a one-member `DeepEnsembleClassifier`);
* a 5-member deep ensemble (`DeepEnsembleClassifier`, Lakshminarayanan et al., 2017).

Reported: test accuracy, NLL, ECE (15 equal-width bins) and, for each uncertainty score, the
AUROC of telling notMNIST letters (positive) from MNIST test digits by that score
(`sklearn.metrics.roc_auc_score`). The headline compares the evidential classifier's epistemic
score (mutual information) with the softmax network's max-probability score (1 − max p).

Usage::

    python benchmarks/evidential_mnist.py
    python benchmarks/evidential_mnist.py --cnn --epochs 20
"""

from __future__ import annotations

import argparse
import functools
import itertools
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from uqkit._data import Standardizer
from uqkit.datasets import load_mnist_ood
from uqkit.ensemble import DeepEnsembleClassifier
from uqkit.evidential import EvidentialClassifier, ImageCNN

RESULTS = Path(__file__).parent / "results" / "evidential_mnist.md"


class GlobalPixelScaling(nn.Module):
    """Turn per-column standardised pixels back into globally standardised ones, then run `net`.

    `DeepEnsembleClassifier` standardises every feature column on the training rows. On MNIST
    that divides pixels near the border, dark in almost every training digit, by a tiny standard
    deviation, so a notMNIST letter that fills the frame reaches values in the hundreds and
    every network becomes confidently wrong on it. This fixed affine map gives the baselines the
    inputs that `EvidentialClassifier(feature_scaling="global")` sees: one mean and one standard
    deviation for all pixels.
    """

    def __init__(self, net: nn.Module, weight: np.ndarray, shift: np.ndarray) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float32))
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.weight + self.shift)


def baseline_module(in_features, out_features, *, hidden, cnn, weight, shift) -> nn.Module:
    if cnn:
        net = ImageCNN(in_features, out_features, hidden_layers=hidden)
    else:
        widths = [in_features, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [nn.Linear(a, b), nn.ReLU()]
        net = nn.Sequential(*layers, nn.Linear(widths[-1], out_features))
    return GlobalPixelScaling(net, weight, shift)


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE with equal-width bins; `uqkit.calibration`'s when it is installed."""
    try:
        from uqkit.metrics import expected_calibration_error
    except ImportError:
        confidence = probs.max(1)
        correct = (probs.argmax(1) == y).astype(float)
        bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
        gaps = np.bincount(bins, confidence - correct, minlength=n_bins)
        return float(np.abs(gaps).sum() / len(y))
    return expected_calibration_error(probs, y, n_bins=n_bins)


SCORES = (
    "1 − max p",
    "entropy (total)",
    "expected entropy (aleatoric)",
    "mutual information (epistemic)",
    "vacuity K/S",
    "differential entropy",
)


def scores(pred) -> dict[str, np.ndarray]:
    """Uncertainty scores of a prediction: higher means 'more likely out of distribution'."""
    out = {SCORES[0]: 1.0 - pred.confidence, SCORES[1]: pred.total}
    if pred.concentration is not None or pred.n_members > 1:  # a single softmax has no split
        out[SCORES[2]], out[SCORES[3]] = pred.aleatoric, pred.epistemic
    if pred.concentration is not None:
        out[SCORES[4]], out[SCORES[5]] = pred.vacuity, pred.differential_entropy
    return out


def report(name: str, model, data, fit_seconds: float) -> tuple[str, str, dict[str, float]]:
    X_test, y_test = data["X_test"], data["y_test"]
    pred, pred_ood = model.predict_uncertainty(X_test), model.predict_uncertainty(data["X_ood"])
    accuracy = float(np.mean(pred.label == y_test))
    labels = np.r_[np.zeros(len(X_test)), np.ones(len(data["X_ood"]))]
    test_scores, ood_scores = scores(pred), scores(pred_ood)
    ood = {
        key: roc_auc_score(labels, np.r_[test_scores[key], ood_scores[key]]) for key in test_scores
    }
    history = model.history_
    best = history["best_epoch"] if isinstance(history, dict) else history[0]["best_epoch"]
    metrics = (
        f"| {name} | {accuracy:.4f} | {pred.nll(y_test):.3f} | {ece(pred.probs, y_test):.4f} | "
        f"{best} | {fit_seconds:.0f} |"
    )
    auroc = f"| {name} | " + " | ".join(
        f"{ood[key]:.3f}" if key in ood else "—" for key in SCORES
    ) + " |"
    return metrics, auroc, ood


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128])
    parser.add_argument("--cnn", action="store_true", help="ImageCNN instead of the MLP")
    parser.add_argument("--ensemble-members", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist_ood()
    for key in ("X_train", "X_val", "X_test", "X_ood"):
        data[key] = data[key].reshape(len(data[key]), -1)  # flattened pixels, (n, 784)
    hidden = tuple(args.hidden)
    common = dict(hidden_layers=hidden, lr=1e-3, batch_size=100, epochs=args.epochs, patience=10,
                  verbose=0, device="cpu", random_state=0)
    evidential = dict(
        architecture="cnn" if args.cnn else "mlp", feature_scaling="global", **common
    )
    column = Standardizer.fit(data["X_train"].astype(np.float64))  # what the ensemble applies
    mean, std = float(data["X_train"].mean()), float(data["X_train"].std())
    module = functools.partial(
        baseline_module, hidden=hidden, cnn=args.cnn,
        weight=column.scale / std, shift=(column.mean - mean) / std,
    )
    models = {
        "evidential, softplus evidence": EvidentialClassifier(evidence="softplus", **evidential),
        "evidential, ReLU evidence (paper)": EvidentialClassifier(evidence="relu", **evidential),
        "softmax network": DeepEnsembleClassifier(n_members=1, module=module, **common),
        f"deep ensemble ({args.ensemble_members})": DeepEnsembleClassifier(
            n_members=args.ensemble_members, module=module, **common
        ),
    }
    lines = ["| model | accuracy | NLL | ECE | best epoch | fit (s) |", "|---|---|---|---|---|---|"]
    auroc_lines = ["| model | " + " | ".join(SCORES) + " |", "|---|" + "---|" * len(SCORES)]
    aurocs = {}
    total_start = time.perf_counter()
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(data["X_train"], data["y_train"], X_val=data["X_val"], y_val=data["y_val"])
        metrics, auroc, aurocs[name] = report(name, model, data, time.perf_counter() - start)
        lines.append(metrics)
        auroc_lines.append(auroc)
        print(metrics, auroc, sep="\n", flush=True)
    evidential_mi = aurocs["evidential, softplus evidence"]["mutual information (epistemic)"]
    relu_mi = aurocs["evidential, ReLU evidence (paper)"]["mutual information (epistemic)"]
    softmax_maxp = aurocs["softmax network"]["1 − max p"]
    headline = (
        f"OOD AUROC of the evidential classifier's epistemic score (mutual information): "
        f"{evidential_mi:.3f} (softplus evidence), {relu_mi:.3f} (ReLU evidence), against "
        f"{softmax_maxp:.3f} for the softmax network's max-probability score."
    )
    architecture = (
        f"ImageCNN (conv 8, 16; fully connected {hidden})" if args.cnn else f"MLP {hidden}"
    )
    text = "\n".join(
        [
            "# Evidential classification: MNIST → notMNIST",
            "",
            (__doc__ or "").split("Usage::")[0].strip(),
            "",
            f"Architecture: {architecture}, Adam lr 1e-3, batch 100, at most {args.epochs} "
            "epochs with early stopping (patience 10) on the 2,000 validation digits; seed 0. "
            f"Machine: {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s); "
            f"total wall time {time.perf_counter() - total_start:.0f} s. "
            f"Command: `python benchmarks/evidential_mnist.py --epochs {args.epochs} --hidden "
            f"{' '.join(map(str, hidden))}{' --cnn' if args.cnn else ''}`",
            "",
            "Test digits (2,000):",
            "",
            *lines,
            "",
            "OOD AUROC, notMNIST letters (10,000) against MNIST test digits (2,000), by score:",
            "",
            *auroc_lines,
            "",
            headline,
        ]
    )
    print(headline)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
