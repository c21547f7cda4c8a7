"""Your PyTorch model under every uqkit method: a small CNN on MNIST, notMNIST as OOD.

One CNN architecture (:class:`SmallCNN`, passed as ``module=``) under a deep ensemble (5 members,
vectorized), MC dropout, SWAG, last-layer Laplace (laplace-torch), DCA (layer-wise), an
evidential (Dirichlet) head and one plain network (a 1-member deep ensemble). Reported:
accuracy, NLL, ECE (15 equal-width bins), Brier score and OOD AUROC on MNIST test digits against
notMNIST letters (positives), with the epistemic score (mutual information; 0 everywhere for the
plain network) and with the total predictive entropy, and fit and predict time.

It also times the vectorized 5-CNN ensemble (``DeepEnsembleClassifier.fit``, all of it: input
checks, scaling, the divergence check) against the same 5 CNNs trained one after another by a
plain PyTorch loop in the same process (same epochs, batch size, Adam rate, data scaling):
``--repeats`` runs of each, interleaved, and the ratio of the medians.

Data (``uqkit.datasets.load_mnist_ood``): only the 10,000 MNIST test digits are available
offline. They are permuted with seed 0; the first 8,000 are the training pool, of which the
first ``--train-size`` (default 3,000) train every method, and the last 2,000 are the test set
(fixed whatever ``--train-size`` is). No validation split: equal epochs, no early stopping.
The OOD set is ``--ood-size`` (default 2,000) of the 10,000 notMNIST letters (seed 1).

The default run (3,000 training images, 8 epochs, batch 128, 3 timing repeats) takes about
10 minutes on the shared 2-core CPU, one torch thread. Usage::

    nice -n 10 python benchmarks/torch_models.py                  # writes results/torch_models.md
    python benchmarks/torch_models.py --train-size 500 --epochs 1 --repeats 1 --ood-size 500 \\
        --output /tmp/smoke.md                                    # smoke test (~1 min)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from uqkit.datasets import load_mnist_ood
from uqkit.dca import DCAClassifier
from uqkit.ensemble import DeepEnsembleClassifier
from uqkit.evidential import EvidentialClassifier
from uqkit.metrics import brier_score, classification_nll, expected_calibration_error, ood_detection
from uqkit.posthoc import LaplaceClassifier, MCDropoutClassifier, SWAGClassifier

RESULTS = Path(__file__).parent / "results" / "torch_models.md"


# ----------------------------------------------------------------------------- data and model
def images(train_size: int, ood_size: int, test_size: int = 2000):
    """MNIST train/test digits and notMNIST letters as images ``(n, 1, 28, 28)`` in [0, 1].

    The split is stated in the module docstring. Every method takes the 4-D arrays as they are
    (uqkit reads N-D input a batch at a time).
    """
    pool = 10_000 - test_size
    if not 0 < train_size <= pool:
        raise SystemExit(f"--train-size must be in 1..{pool}; got {train_size}.")
    data = load_mnist_ood(split=(pool, 0, test_size), seed=0)
    ood = data["X_ood"][np.random.default_rng(1).permutation(len(data["X_ood"]))[:ood_size]]
    return (data["X_train"][:train_size], data["y_train"][:train_size],
            data["X_test"], data["y_test"], ood)


class SmallCNN(nn.Module):
    """Two 3×3 convolution stages (ReLU, 2×2 max-pooling) and a dense head, on 28×28 images.

    ``forward`` accepts flattened rows ``(b, 784)`` or images ``(b, 1, 28, 28)``. The named
    layers ``conv1, conv2, fc1, fc2`` are DCA's layer-wise components; ``fc2`` is the last layer
    of last-layer Laplace. ``dropout`` (MC dropout only) acts on the flattened features and on
    ``fc1``'s output; at 0 there is no dropout layer, so the forward pass is deterministic and
    the deep ensemble stays one stacked model.
    """

    def __init__(self, n_features: int, n_classes: int, channels: tuple[int, int] = (8, 16),
                 hidden: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.fc1 = nn.Linear(channels[1] * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(self.drop(x.flatten(1))))
        return self.fc2(self.drop(x))


# ----------------------------------------------------------------------------- methods
def methods(args) -> dict:
    """Every method with the shared training settings; ``None`` where its extra is missing."""
    shared = dict(module=SmallCNN, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                  early_stopping=False, feature_scaling="global", device=args.device,
                  random_state=0, verbose=0)
    laplace_model = None
    if importlib.util.find_spec("laplace") is not None:
        laplace_model = LaplaceClassifier(subset_of_weights="last_layer", hessian_structure="kron",
                                          n_samples=args.samples, **shared)
    return {
        "plain network (1-member ensemble)": DeepEnsembleClassifier(n_members=1, **shared),
        "deep ensemble (5, vectorized)": DeepEnsembleClassifier(n_members=5, **shared),
        f"MC dropout (p=0.25, {args.samples} passes)": MCDropoutClassifier(
            n_passes=args.samples, **{**shared, "module_kwargs": {"dropout": 0.25}}),
        f"SWAG (+{args.swa_epochs} SWA epochs, {args.samples} samples)": SWAGClassifier(
            swa_epochs=args.swa_epochs, swa_lr=0.05, max_rank=args.swa_epochs,
            n_samples=args.samples, **shared),
        "last-layer Laplace (Kron, marglik)": laplace_model,
        f"DCA layer-wise (K=5, {args.samples} proposals)": DCAClassifier(
            n_instances=5, components="layer", n_predict_proposals=args.samples, **shared),
        "evidential (Dirichlet)": EvidentialClassifier(**shared),
    }


def scores(model, X_test, y_test, X_ood) -> dict:
    start = time.perf_counter()
    pred, pred_ood = model.predict_uncertainty(X_test), model.predict_uncertainty(X_ood)
    predict = time.perf_counter() - start
    return {
        "accuracy": float(np.mean(pred.label == y_test)),
        "nll": classification_nll(pred, y_test),
        "ece": expected_calibration_error(pred, y_test, 15),
        "brier": brier_score(pred, y_test),
        "auroc_epistemic": ood_detection(pred, pred_ood, score="epistemic")["auroc"],
        "auroc_total": ood_detection(pred, pred_ood, score="total")["auroc"],
        "predict_s": predict,
    }


# ----------------------------------------------------------------------------- the timing
def plain_loop(X: np.ndarray, y: np.ndarray, args, members: int = 5,
               channels_last: bool = False) -> float:
    """Seconds to train ``members`` SmallCNNs one after another with a plain PyTorch loop:
    Adam, shuffled mini-batches, cross-entropy, the pixels scaled by one global mean and
    standard deviation (what ``feature_scaling="global"`` does). ``channels_last`` stores the
    convolution weights channels-last, as uqkit's stacked model does on the CPU."""
    start = time.perf_counter()
    device = torch.device(args.device)
    Xt = torch.as_tensor((X - X.mean()) / X.std(), dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, device=device)
    for member in range(members):
        generator = torch.Generator().manual_seed(member)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(member)
            net = SmallCNN(X.shape[1], 10).to(device)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
        for _ in range(args.epochs):
            order = torch.randperm(len(Xt), generator=generator).to(device)
            for rows in order.split(args.batch_size):
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(net(Xt[rows]), yt[rows]).backward()
                optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def timed_fit(model, X, y) -> float:
    start = time.perf_counter()
    model.fit(X, y)
    if torch.device(model.device_).type == "cuda":
        torch.cuda.synchronize(model.device_)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--ood-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--samples", type=int, default=20,
                        help="MC dropout passes, SWAG/Laplace samples, DCA proposals")
    parser.add_argument("--swa-epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="timing runs of each side")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    began = time.perf_counter()
    X, y, X_test, y_test, X_ood = images(args.train_size, args.ood_size)
    models = methods(args)

    # warm-up: the first optimizer step of a process imports torch's compiler stack
    DeepEnsembleClassifier(n_members=2, module=SmallCNN, epochs=1, early_stopping=False,
                           device=args.device, verbose=0, random_state=0).fit(X[:200], y[:200])
    plain_loop(X[:200], y[:200], argparse.Namespace(**{**vars(args), "epochs": 1}), members=2)

    # the ratio: uqkit's vectorized ensemble vs the plain sequential loop, interleaved
    vectorized, sequential, sequential_cl = [], [], []
    ensemble_name = "deep ensemble (5, vectorized)"
    for repeat in range(args.repeats):
        model = models[ensemble_name] if repeat == 0 else DeepEnsembleClassifier(
            **models[ensemble_name].get_params())
        vectorized.append(timed_fit(model, X, y))
        sequential.append(plain_loop(X, y, args))
        sequential_cl.append(plain_loop(X, y, args, channels_last=True))
        print(f"timing repeat {repeat + 1}: vectorized {vectorized[-1]:.2f} s, plain loop "
              f"{sequential[-1]:.2f} s, channels-last plain loop {sequential_cl[-1]:.2f} s",
              flush=True)
    ratio = statistics.median(sequential) / statistics.median(vectorized)
    ratio_cl = statistics.median(sequential_cl) / statistics.median(vectorized)

    rows = {}
    for name, model in models.items():
        if model is None:
            rows[name] = None
            continue
        fit = vectorized[0] if name == ensemble_name else timed_fit(model, X, y)
        rows[name] = {**scores(model, X_test, y_test, X_ood), "fit_s": fit}
        print(f"{name}: {rows[name]}", flush=True)
    elapsed = time.perf_counter() - began
    load_end = os.getloadavg()

    table = [
        "| method | accuracy | NLL | ECE | Brier | OOD AUROC (epistemic) | OOD AUROC (total) "
        "| fit (s) | predict (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        if r is None:
            table.append(f"| {name} | not run: laplace-torch is not installed here "
                         "(`pip install 'uqkit[laplace]'`) | | | | | | | |")
            continue
        table.append(
            f"| {name} | {r['accuracy']:.4f} | {r['nll']:.3f} | {r['ece']:.4f} "
            f"| {r['brier']:.4f} | {r['auroc_epistemic']:.3f} | {r['auroc_total']:.3f} "
            f"| {r['fit_s']:.1f} | {r['predict_s']:.1f} |"
        )
    timing = [
        "| 5 SmallCNNs, same epochs/batch/Adam | median fit (s) | all runs (s) |",
        "|---|---|---|",
        f"| uqkit `DeepEnsembleClassifier` (vectorized) | {statistics.median(vectorized):.2f} "
        f"| {', '.join(f'{t:.2f}' for t in vectorized)} |",
        f"| plain PyTorch loop, one member after another | {statistics.median(sequential):.2f} "
        f"| {', '.join(f'{t:.2f}' for t in sequential)} |",
        f"| plain PyTorch loop, channels-last conv weights | "
        f"{statistics.median(sequential_cl):.2f} "
        f"| {', '.join(f'{t:.2f}' for t in sequential_cl)} |",
        f"| **ratio: plain loop / vectorized** | **{ratio:.2f}×** | |",
        f"| ratio: channels-last plain loop / vectorized | {ratio_cl:.2f}× | |",
    ]
    machine = (f"{platform.machine()} {platform.processor() or ''}".strip()
               + f", {os.cpu_count()} CPUs, device {args.device}, {args.threads} torch thread(s), "
               f"niceness {os.nice(0)}")
    command = "python " + " ".join(shlex.quote(a) for a in [
        "benchmarks/torch_models.py", *sys.argv[1:]])
    lines = [
        "# Your PyTorch model under every uqkit method: a CNN on MNIST, notMNIST as OOD",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"total run {elapsed / 60:.1f} min",
        f"- machine: {machine}; torch {torch.__version__}",
        f"- load average (1, 5, 15 min): {', '.join(f'{v:.1f}' for v in load_start)} at the start, "
        f"{', '.join(f'{v:.1f}' for v in load_end)} at the end",
        f"- data: {len(X)} MNIST training digits, {len(X_test)} MNIST test digits, {len(X_ood)} "
        "notMNIST letters (split in the script's docstring); images (n, 1, 28, 28); pixels "
        "scaled by one global mean and standard deviation",
        f"- training: {args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr}, no early "
        f"stopping; SWAG adds {args.swa_epochs} SWA epochs (SGD 0.05, momentum 0.9)",
        "",
        "## Accuracy, calibration and OOD detection",
        "",
        *table,
        "",
        "OOD AUROC: notMNIST letters as positives; *epistemic* scores mutual information "
        "(members, passes, samples, proposals; the Dirichlet closed form for the evidential "
        "head), which is 0 for a single network; *total* scores the predictive entropy. "
        "Predict time: the test digits and the OOD letters.",
        "",
        "## Vectorized ensemble vs a plain PyTorch loop",
        "",
        *timing,
        "",
        f"Median of {args.repeats} runs of each, interleaved in one process. uqkit's time is "
        "all of `fit`: input checks, scaling, and the divergence check, which evaluates every "
        "member on the training set before and after training. On the CPU uqkit runs "
        "convolutional members one by one inside its stacked model, with channels-last "
        "convolution weights and evaluation in 512-row passes (each measured faster there than "
        "`torch.func.vmap` and the default layout; see `uqkit/nn/_stacked_module.py`), and one "
        "optimiser step for all members. The channels-last plain loop shows how much of the "
        "ratio is that layout, which a plain loop can use too.",
        "",
        *([] if args.device.startswith("cuda") else [
            "No GPU machine was lent to this run: no CUDA column (`--device cuda` runs the same "
            "comparison there, where the stacked model is one `torch.func.vmap` pass).", ""]),
    ]
    text = "\n".join(lines)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
