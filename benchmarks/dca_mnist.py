"""DCA on MNIST (notMNIST as out-of-distribution) and on UCI regression.

Compares, with equal epochs and the same MLP architecture: a single network, a 5-member deep
ensemble, model-wise DCA (K = 5), layer-wise DCA (K = 5), DCWA (the layer-wise DCA with its
instances averaged) and SWA (``torch.optim.swa_utils``). Reports accuracy, NLL, ECE (15 equal-width
bins), OOD AUROC (predictive entropy as the score, notMNIST positive), training and prediction time.
The UCI part compares ``DeepEnsembleRegressor`` with ``DCARegressor`` (model-wise, layer-wise,
DCWA) on standard splits: test RMSE and NLL in the target's units.

Usage::

    nice -n 10 python benchmarks/dca_mnist.py                     # main tables (~12 min)
    nice -n 10 python benchmarks/dca_mnist.py --seeds 0 --epochs 30 --uci-sets  # 30 epochs
    python benchmarks/dca_mnist.py --seeds 0 --epochs 1 --uci-sets yacht --uci-splits 0 \
        --uci-epochs 2                                             # smoke test

``--output FILE`` writes the tables as markdown; ``benchmarks/results/dca_mnist.md`` holds both
runs and the discussion of the paper's claims.

The MNIST digits are the 10,000 offline test digits split 6k/2k/2k with a fixed seed
(``uqkit.datasets.load_mnist_ood``); the validation part is not used (equal epochs, no early
stopping).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import OrderedDict
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy import special
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import SWALR, AveragedModel, update_bn

from uqkit._data import Standardizer
from uqkit.datasets import load_mnist_ood, load_uci
from uqkit.dca import DCAClassifier, DCARegressor, mlp_preset
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor

PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081  # the usual global MNIST pixel statistics
MNIST_METHODS = [
    "single network",
    "deep ensemble (5)",
    "DCA model-wise (K=5)",
    "DCA layer-wise (K=5)",
    "DCWA (layer-wise, K=5)",
    "SWA",
]


# ----------------------------------------------------------------------------- metrics
def classification_metrics(probs: np.ndarray, y: np.ndarray, probs_ood: np.ndarray) -> dict:
    probs = np.clip(probs, 1e-12, 1.0)
    confidence, label = probs.max(1), probs.argmax(1)
    correct = label == y
    bins = np.minimum((confidence * 15).astype(int), 14)
    gap = np.abs(
        np.bincount(bins, weights=confidence, minlength=15)
        - np.bincount(bins, weights=correct.astype(float), minlength=15)
    )
    entropy_in = -np.sum(special.xlogy(probs, probs), axis=1)
    entropy_out = -np.sum(special.xlogy(probs_ood, probs_ood), axis=1)
    scores = np.concatenate([entropy_in, entropy_out])
    is_ood = np.concatenate([np.zeros(len(entropy_in)), np.ones(len(entropy_out))])
    return {
        "accuracy": float(correct.mean()),
        "nll": float(-np.mean(np.log(probs[np.arange(len(y)), y]))),
        "ece": float(gap.sum() / len(y)),
        "auroc": float(roc_auc_score(is_ood, scores)),
    }


# ----------------------------------------------------------------------------- MNIST methods
def _timed_fit(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def _timed_proba(model, X_test, X_ood):
    start = time.perf_counter()
    probs, probs_ood = model.predict_proba(X_test), model.predict_proba(X_ood)
    return probs, probs_ood, time.perf_counter() - start


class PixelScaling(nn.Module):
    """Undo the estimators' per-pixel z-scoring and scale all pixels with one global mean/std.

    The estimators standardise every feature; on MNIST that divides rarely lit border pixels by
    a tiny standard deviation, so notMNIST letters (which light them) reach inputs of several
    hundred and every method becomes over-confident on them. This fixed first layer (buffers,
    no parameters, hence shared by all DCA proposals) gives every method the usual global
    pixel scaling instead.
    """

    def __init__(self, column_mean: np.ndarray, column_scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("column_mean", torch.as_tensor(column_mean, dtype=torch.float32))
        self.register_buffer("column_scale", torch.as_tensor(column_scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.column_scale + self.column_mean - PIXEL_MEAN) / PIXEL_STD


def pixel_mlp(n_in: int, n_out: int, *, hidden, column_mean, column_scale) -> nn.Module:
    """``PixelScaling`` followed by the MLP preset (blocks ``net.block0, ..., net.head``)."""
    return nn.Sequential(
        OrderedDict(
            rescale=PixelScaling(column_mean, column_scale),
            net=mlp_preset(n_in, n_out, hidden),
        )
    )


def train_swa(factory, X, y, X_test, X_ood, *, seed, epochs, lr, batch_size):
    """SWA (Izmailov et al., 2018) of the same network: Adam, then the average of the weights at
    the end of each epoch of the second half of training, under a constant SWA learning rate."""
    scaler = Standardizer.fit(X)
    Xs = torch.as_tensor(scaler.transform(X), dtype=torch.float32)
    yt = torch.as_tensor(y)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        net = factory(X.shape[1], 10)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    averaged = AveragedModel(net)
    swa_start = epochs // 2
    scheduler = SWALR(optimizer, swa_lr=lr / 2, anneal_epochs=1)
    order_generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(Xs), generator=order_generator)
        for b in range(0, len(Xs), batch_size):
            index = order[b : b + batch_size]
            optimizer.zero_grad()
            F.cross_entropy(net(Xs[index]), yt[index]).backward()
            optimizer.step()
        if epoch >= swa_start:
            averaged.update_parameters(net)
            scheduler.step()
    update_bn([Xs], averaged)  # no BatchNorm in this MLP: a no-op, kept for the recipe
    train_time = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        averaged.eval()
        probs = [
            F.softmax(averaged(torch.as_tensor(scaler.transform(Z), dtype=torch.float32)), -1)
            for Z in (X_test, X_ood)
        ]
    return probs[0].numpy(), probs[1].numpy(), train_time, time.perf_counter() - start


def load_mnist(n_ood: int) -> dict:
    data = load_mnist_ood()
    flat = {k: v.reshape(len(v), -1).astype(np.float64) for k, v in data.items() if k[0] == "X"}
    order = np.random.default_rng(1234).permutation(len(flat["X_ood"]))[:n_ood]
    return {
        "X": flat["X_train"], "y": data["y_train"], "X_test": flat["X_test"],
        "y_test": data["y_test"], "X_ood": flat["X_ood"][order],
    }


def warm_up(data: dict) -> None:
    """One tiny fit of each kind, so that one-off imports are not timed."""
    X, y = data["X"][:256], data["y"][:256]
    DeepEnsembleClassifier(n_members=1, epochs=1, verbose=0, early_stopping=False).fit(X, y)
    DCAClassifier(n_instances=2, epochs=1, verbose=0).fit(X, y)


def run_mnist(data: dict, seed: int, epochs: int, hidden: tuple[int, ...]) -> list[dict]:
    X, y, X_test, y_test, X_ood = (data[k] for k in ("X", "y", "X_test", "y_test", "X_ood"))
    scaler = Standardizer.fit(X)
    factory = partial(pixel_mlp, hidden=hidden, column_mean=scaler.mean, column_scale=scaler.scale)
    common = dict(module=factory, epochs=epochs, batch_size=128, lr=1e-3, verbose=0,
                  random_state=seed, device="cpu")
    rows = []

    def record(method, probs, probs_ood, train_time, predict_time):
        row = {"method": method, "seed": seed, "train_s": train_time, "predict_s": predict_time}
        row.update(classification_metrics(probs, y_test, probs_ood))
        rows.append(row)
        print(f"  seed {seed} {method:24s} acc {row['accuracy']:.4f} nll {row['nll']:.4f} "
              f"ece {row['ece']:.4f} auroc {row['auroc']:.4f} train {train_time:.0f}s", flush=True)

    for method, n_members in (("single network", 1), ("deep ensemble (5)", 5)):
        ensemble = DeepEnsembleClassifier(n_members=n_members, early_stopping=False, **common)
        model, t = _timed_fit(ensemble, X, y)
        probs, probs_ood, predict_time = _timed_proba(model, X_test, X_ood)
        record(method, probs, probs_ood, t, predict_time)
    for method, granularity in (("DCA model-wise (K=5)", "model"),
                                ("DCA layer-wise (K=5)", "layer")):
        dca = DCAClassifier(n_instances=5, components=granularity, **common)
        model, t = _timed_fit(dca, X, y)
        probs, probs_ood, predict_time = _timed_proba(model, X_test, X_ood)
        record(method, probs, probs_ood, t, predict_time)
    model.set_params(weight_averaging=True)  # DCWA of the layer-wise DCA's trained instances
    probs, probs_ood, predict_time = _timed_proba(model, X_test, X_ood)
    record("DCWA (layer-wise, K=5)", probs, probs_ood, t, predict_time)
    probs, probs_ood, t, predict_time = train_swa(
        factory, X, y, X_test, X_ood, seed=seed, epochs=epochs, lr=1e-3, batch_size=128
    )
    record("SWA", probs, probs_ood, t, predict_time)
    return rows


# ----------------------------------------------------------------------------- UCI
def run_uci(sets: list[str], splits: list[int], epochs: int) -> list[dict]:
    common = dict(hidden_layers=(50,), epochs=epochs, batch_size=64, lr=1e-2, verbose=0,
                  device="cpu")
    rows = []
    for name in sets:
        for split in splits:
            X, y, X_test, y_test = load_uci(name, split)
            models = {
                "deep ensemble (5)": DeepEnsembleRegressor(
                    n_members=5, early_stopping=False, random_state=split, **common
                ),
                "DCA model-wise (K=5)": DCARegressor(
                    n_instances=5, components="model", random_state=split, **common
                ),
                "DCA layer-wise (K=5)": DCARegressor(
                    n_instances=5, components="layer", random_state=split, **common
                ),
            }
            for method, model in models.items():
                model, t = _timed_fit(model, X, y)
                pred = model.predict_uncertainty(X_test)
                rows.append({"set": name, "split": split, "method": method, "train_s": t,
                             "rmse": float(np.sqrt(np.mean((pred.mean - y_test) ** 2))),
                             "nll": pred.nll(y_test)})
                if method == "DCA layer-wise (K=5)":
                    pred = model.set_params(weight_averaging=True).predict_uncertainty(X_test)
                    rows.append({"set": name, "split": split, "method": "DCWA (layer-wise, K=5)",
                                 "train_s": t,
                                 "rmse": float(np.sqrt(np.mean((pred.mean - y_test) ** 2))),
                                 "nll": pred.nll(y_test)})
            print(f"  uci {name} split {split} done", flush=True)
    return rows


# ----------------------------------------------------------------------------- tables
def _mean_se(values: list[float], digits: int) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    se = values.std(ddof=1) / np.sqrt(len(values))
    return f"{values.mean():.{digits}f} ± {se:.{digits}f}"


def mnist_table(rows: list[dict]) -> str:
    header = "| method | accuracy ↑ | NLL ↓ | ECE ↓ | OOD AUROC ↑ | train s | predict s |"
    lines = [header + " train × single |", "|---|---|---|---|---|---|---|---|"]
    single = np.mean([r["train_s"] for r in rows if r["method"] == "single network"])
    for method in MNIST_METHODS:
        rs = [r for r in rows if r["method"] == method]
        train = np.mean([r["train_s"] for r in rs])
        lines.append(
            f"| {method} | {_mean_se([r['accuracy'] for r in rs], 4)} | "
            f"{_mean_se([r['nll'] for r in rs], 4)} | {_mean_se([r['ece'] for r in rs], 4)} | "
            f"{_mean_se([r['auroc'] for r in rs], 4)} | {train:.0f} | "
            f"{np.mean([r['predict_s'] for r in rs]):.1f} | {train / single:.1f} |"
        )
    return "\n".join(lines)


def uci_table(rows: list[dict]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| data set | method | test RMSE ↓ | test NLL ↓ | train s |", "|---|---|---|---|---|"]
    for name in dict.fromkeys(r["set"] for r in rows):
        for method in methods:
            rs = [r for r in rows if r["set"] == name and r["method"] == method]
            lines.append(
                f"| {name} | {method} | {_mean_se([r['rmse'] for r in rs], 3)} | "
                f"{_mean_se([r['nll'] for r in rs], 3)} | "
                f"{np.mean([r['train_s'] for r in rs]):.1f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--hidden", type=int, nargs="+", default=[100, 100])
    parser.add_argument("--n-ood", type=int, default=2000, help="notMNIST images scored")
    parser.add_argument("--uci-sets", nargs="*", default=["boston", "concrete", "energy", "yacht"])
    parser.add_argument("--uci-splits", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--uci-epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None, help="write the markdown here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    data = load_mnist(args.n_ood)
    warm_up(data)
    mnist_rows = []
    for seed in args.seeds:
        mnist_rows += run_mnist(data, seed, args.epochs, tuple(args.hidden))
    uci_rows = run_uci(args.uci_sets, args.uci_splits, args.uci_epochs) if args.uci_sets else []
    wall = time.perf_counter() - start

    report = [
        "## MNIST → notMNIST",
        "",
        f"MLP {tuple(args.hidden)}, Adam lr 1e-3, batch 128, {args.epochs} epochs for every "
        f"method, seeds {args.seeds} (mean ± standard error over seeds); test = 2,000 held-out "
        f"digits, OOD = {args.n_ood} notMNIST letters (AUROC of the predictive entropy).",
        "",
        mnist_table(mnist_rows),
    ]
    if uci_rows:
        report += [
            "",
            "## UCI regression",
            "",
            f"MLP (50,), Adam lr 1e-2, batch 64, {args.uci_epochs} epochs, splits "
            f"{args.uci_splits} (mean ± standard error over splits); NLL of the predictive "
            "mixture in the target's units.",
            "",
            uci_table(uci_rows),
        ]
    report += ["", f"Wall time {wall / 60:.1f} min, {args.threads} torch thread(s), "
               f"{platform.processor() or platform.machine()}, torch {torch.__version__}."]
    text = "\n".join(report)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
