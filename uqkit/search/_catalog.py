"""The catalog on disk: every finished trial's checkpoint, and how the driver reads it back.

Layout of ``storage_path`` (local disk, or a disk every node of a cluster shares)::

    <storage_path>/<experiment>/problem.json        fingerprint of data + setup (resume check)
    <storage_path>/<experiment>/run-000/...         one Ray Tune experiment per (re)start
        <trial>/checkpoint_000000/trial.json        config, history, validation NLL (JSON)
        <trial>/checkpoint_000000/weights.safetensors      the network's weights
        <trial>/checkpoint_000000/predictions.safetensors  validation mean / variance
    <storage_path>/<experiment>/run-000/failures.json      trials that failed after retries
    <storage_path>/<experiment>/run-000/_attempts/<trial>.attempts   one line per start

A trial is *finished* when its checkpoint holds ``trial.json``, which is written last. No file
is a pickle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from uqkit.search._network import SearchNet, build_search_net

__all__ = [
    "METRIC",
    "fingerprint",
    "finished_trials",
    "load_network",
    "load_trial",
    "write_checkpoint",
]

METRIC = "val_nll"  # what trials report and searchers minimise


def write_checkpoint(folder: Path, record: dict, net: SearchNet,
                     predictions: dict[str, torch.Tensor]) -> None:
    """Write a finished trial: weights, validation predictions, then ``trial.json``.

    Examples
    --------
    >>> import tempfile
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.0}
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_checkpoint(folder, {"architecture": arch, "val_nll": 1.5},
    ...                  build_search_net(3, 2, arch), {"val_mean": torch.zeros(5, 1)})
    >>> sorted(path.name for path in folder.iterdir())
    ['predictions.safetensors', 'trial.json', 'weights.safetensors']
    """
    save_file({k: v.contiguous() for k, v in net.cpu().state_dict().items()},
              str(folder / "weights.safetensors"))
    save_file({k: v.contiguous() for k, v in predictions.items()},
              str(folder / "predictions.safetensors"))
    (folder / "trial.json").write_text(json.dumps(record))  # last: marks completion


def load_trial(folder: Path) -> dict | None:
    """A finished trial's record with its validation predictions (numpy), or ``None``.

    Examples
    --------
    >>> import tempfile
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.0}
    >>> folder = Path(tempfile.mkdtemp())
    >>> load_trial(folder) is None  # nothing finished there
    True
    >>> write_checkpoint(folder, {"architecture": arch, "val_nll": 1.5},
    ...                  build_search_net(3, 2, arch), {"val_mean": torch.zeros(5, 1)})
    >>> record = load_trial(folder)
    >>> record["val_nll"], record["predictions"]["val_mean"].shape
    (1.5, (5, 1))
    """
    folder = Path(folder)
    try:
        record = json.loads((folder / "trial.json").read_text())
        record["predictions"] = {k: v.numpy() for k, v in
                                 load_file(str(folder / "predictions.safetensors")).items()}
    except (OSError, ValueError):
        return None
    record["checkpoint"] = str(folder)
    return record


def load_network(record: dict, in_features: int, out_features: int) -> SearchNet:
    """Rebuild a catalog network from its checkpoint (on the CPU, in eval mode).

    Examples
    --------
    >>> import tempfile
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.0}
    >>> net, folder = build_search_net(3, 2, arch), Path(tempfile.mkdtemp())
    >>> write_checkpoint(folder, {"architecture": arch}, net, {"val_mean": torch.zeros(5, 1)})
    >>> twin = load_network(load_trial(folder), 3, 2)
    >>> x = torch.ones(1, 3)
    >>> torch.equal(twin(x), net(x))
    True
    """
    state = load_file(str(Path(record["checkpoint"]) / "weights.safetensors"))
    return build_search_net(in_features, out_features, record["architecture"], state)


def finished_trials(experiment: Path, fingerprint: str) -> list[dict]:
    """Every finished trial of every run under ``experiment``, oldest run first.

    A trial that reported twice keeps its last record; trials of another problem (another
    fingerprint) are left out.
    """
    found: dict[tuple[str, str], dict] = {}
    for path in sorted(Path(experiment).glob("run-*/*/checkpoint_*/trial.json")):
        record = load_trial(path.parent)
        if record is not None and record.get("fingerprint") == fingerprint:
            record["run"] = path.parents[2].name
            key = (record["run"], record["trial_name"])
            found.pop(key, None)  # re-inserted last, as the newest report
            found[key] = record
    return list(found.values())


def fingerprint(data: dict, setup: dict) -> str:
    """A digest of the search problem: the setup (JSON) and the bytes of the data arrays.

    Examples
    --------
    >>> data = {k: np.zeros((3, 2), np.float32) for k in ("X", "y", "X_val", "y_val")}
    >>> a = fingerprint(data, {"seed": 0})
    >>> a == fingerprint(data, {"seed": 0}) != fingerprint(data, {"seed": 1}), len(a)
    (True, 16)
    """
    digest = hashlib.sha256(json.dumps(setup, sort_keys=True).encode())
    for key in ("X", "y", "X_val", "y_val"):
        array = np.ascontiguousarray(data[key])
        digest.update(f"{key}{array.dtype.str}{array.shape}".encode())
        digest.update(array.view(np.uint8).reshape(-1).data)
    return digest.hexdigest()[:16]
