"""One trial of the search: train one network of the space and score it on the validation rows.

Nothing here needs Ray: the Tune trainable (:mod:`uqkit.search._trainable`) and the estimators'
refit both call :func:`fit_network`, and :func:`run_trial` is the whole body of a trial (train,
score, write the checkpoint), which tests can also run in-process.
"""

from __future__ import annotations

import functools
import json
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from uqkit._random import derive_seed
from uqkit.losses import CrossEntropyMemberLoss, GaussianMemberLoss
from uqkit.nn import StackSpec, gaussian_head
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.search._catalog import METRIC, write_checkpoint
from uqkit.search._load_space import space_from_dict
from uqkit.search._network import SearchNet, build_search_net, make_search_net
from uqkit.training import TrainConfig, train_stack

__all__ = [
    "TrialSetup",
    "fit_network",
    "network_outputs",
    "run_trial",
    "trial_seed",
    "validation_predictions",
]


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of one search shares; JSON-able, and part of the resume fingerprint.

    Parameters
    ----------
    space : dict
        The search space, as :meth:`SearchSpace.to_dict` writes it.
    task : {"regression", "classification"}
        Gaussian NLL members (mean and variance heads) or cross-entropy members.
    out_features : int
        Raw output width: ``2 * n_targets`` (regression) or ``n_classes``.
    seed : int
        The search seed; each trial's seed is derived from it and its configuration.
    min_variance : float, default 1e-6
        Variance floor of the Gaussian head, in standardised units.

    Examples
    --------
    >>> setup = TrialSetup(space={"max_layers": 2}, task="regression", out_features=2, seed=0)
    >>> TrialSetup(**setup.to_dict()) == setup
    True
    """

    space: dict
    task: str
    out_features: int
    seed: int
    min_variance: float = 1e-6

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def regression(self) -> bool:
        return self.task == "regression"


def trial_seed(base: int, config: dict) -> int:
    """The seed of a trial: the search seed and a checksum of the configuration.

    Examples
    --------
    >>> trial_seed(0, {"lr": 0.01}) == trial_seed(0, {"lr": 0.01}) != trial_seed(0, {"lr": 0.1})
    True
    """
    return derive_seed(int(base), zlib.crc32(json.dumps(config, sort_keys=True).encode()))


def fit_network(
    architecture: dict, config: dict, setup: TrialSetup, data: dict, seed: int, *,
    epochs: int, patience: int | None, device, progress=None,
) -> tuple[SearchNet, dict]:
    """Train one :class:`SearchNet` with the Gaussian NLL (or cross-entropy).

    The network trains as a one-member stack through :func:`uqkit.training.train_stack`, so its
    initialisation, data order and dropout come from generators seeded by ``seed`` alone.

    Parameters
    ----------
    architecture : dict
        :meth:`SearchSpace.architecture` of ``config``.
    config : dict
        The trial's configuration. Read here: ``lr``, ``batch_size``, and where present
        ``weight_decay`` (default 0), ``optimizer`` (default ``"adam"``),
        ``patience_reduce_lr`` (ReduceLROnPlateau; default none) and
        ``patience_early_stopping``, which replaces a ``patience`` that is not ``None`` (the
        DeepHyper preset, :class:`~uqkit.search.DeepHyperSpace`, searches these three).
    setup : TrialSetup
    data : dict
        Standardised numpy arrays ``X``, ``y`` and optionally ``X_val``, ``y_val`` (targets:
        scaled values, or class indices).
    seed : int
    epochs : int
        Maximum number of epochs.
    patience : int or None
        Early stopping on the validation loss (``None``: train all ``epochs``).
    device : torch.device or str
    progress : tqdm-like, optional
        Passed to ``train_stack`` (the Tune trainable reports epochs through it).

    Returns
    -------
    net : SearchNet
        The trained network, on the CPU, in eval mode.
    history : dict
        ``train_stack``'s history of the one member.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> data = {"X": rng.normal(size=(40, 2)), "y": rng.normal(size=(40, 1))}
    >>> setup = TrialSetup(space={}, task="regression", out_features=2, seed=0)
    >>> arch = {"layers": [{"units": 8, "activation": "tanh", "skips": []}], "dropout": 0.1}
    >>> config = {"lr": 1e-2, "batch_size": 16, "weight_decay": 0.0}
    >>> net, history = fit_network(arch, config, setup, data, seed=3, epochs=2, patience=None,
    ...                            device="cpu")
    >>> type(net).__name__, history["epochs"], len(history["train_loss"])
    ('SearchNet', 2, 2)
    """
    factory = functools.partial(make_search_net, architecture=architecture)
    spec = StackSpec(in_features=data["X"].shape[1], out_features=setup.out_features,
                     dtype="float32", module_factory=factory)
    loss = (GaussianMemberLoss(min_variance=setup.min_variance) if setup.regression
            else CrossEntropyMemberLoss())
    stack = spec.build([seed]).to(device)

    def tensor(key: str, target: bool = False) -> torch.Tensor | None:
        values = data.get(key)
        if values is None:
            return None
        out = torch.as_tensor(np.array(values), device=device)  # a copy: Ray hands read-only views
        return out.long() if target and not setup.regression else out.float()

    if patience is not None and "patience_early_stopping" in config:
        patience = int(config["patience_early_stopping"])
    lr_patience = config.get("patience_reduce_lr")
    train_config = TrainConfig(epochs=epochs, batch_size=int(config["batch_size"]),
                               lr=float(config["lr"]),
                               weight_decay=float(config.get("weight_decay", 0.0)),
                               patience=patience, optimizer=str(config.get("optimizer", "adam")),
                               lr_patience=None if lr_patience is None else int(lr_patience))
    (history,) = train_stack(stack, loss, tensor("X"), tensor("y", True), [seed], train_config,
                             X_val=tensor("X_val"), y_val=tensor("y_val", True),
                             progress=progress)
    state = {name: value.cpu() for name, value in stack.member_state_dict(0).items()}
    return build_search_net(spec.in_features, spec.out_features, architecture, state), history


@torch.no_grad()
def network_outputs(net: SearchNet, X: np.ndarray, batch: int = 8192) -> torch.Tensor:
    """Raw outputs of ``net`` (in eval mode) on standardised ``X``, float64 on the CPU.

    Examples
    --------
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.5}
    >>> net = SearchNet(3, 2, arch).train()
    >>> out = network_outputs(net, np.zeros((5, 3)))
    >>> out.shape, out.dtype, net.training
    (torch.Size([5, 2]), torch.float64, True)
    """
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        out = [net(torch.as_tensor(X[i : i + batch], dtype=torch.float32, device=device)).double()
               for i in range(0, len(X), batch)]
    finally:
        net.train(was_training)
    return torch.cat(out).cpu()


def validation_predictions(net: SearchNet, X_val, y_val,
                           setup: TrialSetup) -> tuple[dict[str, torch.Tensor], float]:
    """A trained network's validation predictions and its validation NLL.

    Returns
    -------
    predictions : dict of Tensor
        ``val_mean``, ``val_var`` (standardised units) or ``val_probs``.
    nll : float
        Mean over rows of the negative log-likelihood, summed over target columns; it is the
        selection objective of this network alone.
    """
    raw = network_outputs(net, X_val)
    if setup.regression:
        mean, var = gaussian_head(raw, setup.min_variance)
        log_lik = RegressionPrediction.normal(mean, var).log_prob(np.asarray(y_val))
        return {"val_mean": mean, "val_var": var}, float(-log_lik.sum(axis=-1).mean())
    probs = torch.softmax(raw, dim=-1)
    prediction = ClassificationPrediction(probs=probs.numpy(), classes=np.arange(probs.shape[1]))
    return {"val_probs": probs}, float(prediction.nll(np.asarray(y_val)))


def run_trial(config: dict, data: dict, setup: TrialSetup, folder: Path, *, name: str,
              fingerprint: str = "", attempt: int = 0, device="cpu", progress=None) -> dict:
    """Train the network of ``config``, score it, and write its checkpoint into ``folder``.

    Parameters
    ----------
    config : dict
        A configuration of the space (searchers may leave out its constants).
    data : dict
        ``X``, ``y``, ``X_val``, ``y_val`` as for :func:`fit_network`.
    setup : TrialSetup
    folder : Path
        Where the checkpoint goes (:func:`~uqkit.search._catalog.write_checkpoint`).
    name : str
        The trial's name in the catalog.
    fingerprint : str
        The search's fingerprint (resume check), stored with the record.
    attempt : int
        0-based attempt number (retries of a failed trial).
    device, progress
        As for :func:`fit_network`.

    Returns
    -------
    dict
        The JSON record written to ``trial.json``. Its ``train_seconds`` is the time of
        :func:`fit_network` (building the network and the training loop, per-epoch
        validation for early stopping included); ``seconds`` adds scoring the validation
        rows. Writing the checkpoint is in neither.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 1))
    >>> data = {"X": X[:30], "y": y[:30], "X_val": X[30:], "y_val": y[30:]}
    >>> from uqkit.search import SearchSpace
    >>> space = SearchSpace(max_layers=1, units=(8, 8), epochs=2, patience=2)
    >>> setup = TrialSetup(space=space.to_dict(), task="regression", out_features=2, seed=0)
    >>> folder = Path(tempfile.mkdtemp())
    >>> record = run_trial(space.sample(rng), data, setup, folder, name="t0")
    >>> record["epochs"], sorted(path.name for path in folder.iterdir())
    (2, ['predictions.safetensors', 'trial.json', 'weights.safetensors'])
    """
    space = space_from_dict(setup.space)
    config = {**space.constants(), **config}
    space.validate(config)
    architecture = space.architecture(config)
    seed = trial_seed(setup.seed, config)
    start = time.perf_counter()
    net, history = fit_network(architecture, config, setup, data, seed, epochs=space.epochs,
                               patience=space.patience, device=device, progress=progress)
    trained = time.perf_counter()
    predictions, nll = validation_predictions(net, data["X_val"], data["y_val"], setup)
    record = {
        "config": config, "architecture": architecture, "seed": seed, METRIC: nll,
        "epochs": history["epochs"], "best_epoch": history["best_epoch"],
        "train_loss": history["train_loss"], "val_loss": history["val_loss"],
        "seconds": time.perf_counter() - start, "train_seconds": trained - start,
        "attempts": attempt + 1, "trial_name": name,
        "device": str(device), "fingerprint": fingerprint,
    }
    write_checkpoint(Path(folder), record, net, predictions)
    return record
