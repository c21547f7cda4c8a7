"""The catalog on disk: every finished trial's checkpoint, and how the driver reads it back.

Layout of ``storage_path`` (local disk, or a disk every node of a cluster shares)::

    <storage_path>/<experiment>/problem.json        fingerprint of data + setup (resume check)
    <storage_path>/<experiment>/run-000/...         one Ray Tune experiment per (re)start
        <trial>/checkpoint_000000/trial.json        config, history, validation NLL (JSON)
        <trial>/checkpoint_000000/weights.safetensors      the network's weights
        <trial>/checkpoint_000000/predictions.safetensors  validation mean / variance
    <storage_path>/<experiment>/run-000/failures.json      trials that failed after retries
    <storage_path>/<experiment>/run-000/_attempts/<trial>.attempts   one line per start
    <storage_path>/<experiment>/run-000/_slots/<actor id>   pooled trials' actors (empty files)

A trial is *finished* when its checkpoint holds ``trial.json``, which is written last. No file
is a pickle.

A trial whose ``trial.json`` exists but whose files cannot be read back (a truncated
``predictions.safetensors``, missing weights, a garbled record) is *damaged*: it is not
finished, :func:`inspect_trial` says why, and a resumed search retrains it
(:meth:`uqkit.search._experiment.Experiment.repair`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from uqkit.exceptions import ModelFileError, UQKitWarning
from uqkit.search._network import SearchNet, build_search_net

__all__ = [
    "METRIC",
    "DamagedTrialWarning",
    "fingerprint",
    "finished_trials",
    "inspect_trial",
    "load_network",
    "load_trial",
    "write_checkpoint",
]

METRIC = "val_nll"  # what trials report and searchers minimise

# what a readable record holds, and the validation predictions of each task
_RECORD_KEYS = ("config", "architecture", METRIC, "trial_name", "fingerprint")
_TRIAL_FILES = ("weights.safetensors", "predictions.safetensors")
_PREDICTION_KEYS = ({"val_mean", "val_var"}, {"val_probs"})
# what reading a damaged file raises: safetensors' own error is no ValueError
_READ_ERRORS = (OSError, ValueError, SafetensorError)


class DamagedTrialWarning(UQKitWarning):
    """Files of finished trials in a search's storage could not be read back; a resumed search
    retrained those trials (or, when even their configuration was lost, trained new ones in
    their place).

    Examples
    --------
    >>> from uqkit.exceptions import UQKitWarning
    >>> issubclass(DamagedTrialWarning, UQKitWarning)
    True
    """


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
    # the record carries the files' checksums: a byte changed in a weight is a damaged trial
    # (retrained on resume), not a network that silently predicts something else
    record["sha256"] = {name: _file_digest(folder / name) for name in _TRIAL_FILES}
    (folder / "trial.json").write_text(json.dumps(record))  # last: marks completion


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inspect_trial(folder: Path) -> tuple[dict | None, str | None]:
    """Read a trial's checkpoint: ``(record, None)`` when finished and readable, ``(None, None)``
    when unfinished (no ``trial.json`` yet), ``(partial record or None, reason)`` when damaged.

    A damaged trial's partial record is its ``trial.json`` (configuration and name) when that
    file still parses, else ``None``. The weights are checked without loading them: their
    safetensors header must parse and cover the file.

    Examples
    --------
    >>> import tempfile
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.0}
    >>> folder = Path(tempfile.mkdtemp())
    >>> inspect_trial(folder)
    (None, None)
    >>> record = {"architecture": arch, "config": {}, "val_nll": 1.5, "trial_name": "t0",
    ...           "fingerprint": "abc"}
    >>> write_checkpoint(folder, record, build_search_net(3, 2, arch),
    ...                  {"val_mean": torch.zeros(5, 1), "val_var": torch.ones(5, 1)})
    >>> (folder / "weights.safetensors").unlink()
    >>> partial, reason = inspect_trial(folder)
    >>> partial["trial_name"], reason
    ('t0', 'weights.safetensors is missing')
    """
    folder = Path(folder)
    path = folder / "trial.json"
    if not path.exists():
        return None, None
    try:
        record = json.loads(path.read_text())
    except _READ_ERRORS as error:
        return None, f"trial.json is unreadable ({type(error).__name__})"
    if not isinstance(record, dict) or any(key not in record for key in _RECORD_KEYS):
        return None, "trial.json is not a trial record"
    for name in _TRIAL_FILES:
        if not (folder / name).is_file():
            return record, f"{name} is missing"
    checksums = record.get("sha256")  # absent in records written before uqkit stored them
    if checksums is not None:
        for name in _TRIAL_FILES:
            if not isinstance(checksums, dict) or checksums.get(name) != _file_digest(
                folder / name
            ):
                return record, f"{name} does not match its checksum (changed since it was written)"
    try:
        with safe_open(str(folder / "weights.safetensors"), "pt") as weights:
            if not list(weights.keys()):
                return record, "weights.safetensors holds no tensor"
    except _READ_ERRORS as error:
        return record, f"weights.safetensors is unreadable ({type(error).__name__}: {error})"
    try:
        # copies: the tensors may map the file, which a retraining rewrites
        predictions = {k: v.numpy().copy() for k, v in
                       load_file(str(folder / "predictions.safetensors")).items()}
    except _READ_ERRORS as error:
        return record, f"predictions.safetensors is unreadable ({type(error).__name__}: {error})"
    if set(predictions) not in _PREDICTION_KEYS:
        return record, "predictions.safetensors does not hold validation predictions"
    record["predictions"] = predictions
    record["checkpoint"] = str(folder)
    return record, None


def load_trial(folder: Path) -> dict | None:
    """A finished trial's record with its validation predictions (numpy), or ``None`` (not
    finished, or damaged: :func:`inspect_trial` says why).

    Examples
    --------
    >>> import tempfile
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.0}
    >>> folder = Path(tempfile.mkdtemp())
    >>> load_trial(folder) is None  # nothing finished there
    True
    >>> record = {"architecture": arch, "config": {}, "val_nll": 1.5, "trial_name": "t0",
    ...           "fingerprint": "abc"}
    >>> write_checkpoint(folder, record, build_search_net(3, 2, arch),
    ...                  {"val_mean": torch.zeros(5, 1), "val_var": torch.ones(5, 1)})
    >>> record = load_trial(folder)
    >>> record["val_nll"], record["predictions"]["val_mean"].shape
    (1.5, (5, 1))
    """
    record, reason = inspect_trial(folder)
    return record if reason is None else None


def load_network(record: dict, in_features: int, out_features: int) -> SearchNet:
    """Rebuild a catalog network from its checkpoint (on the CPU, in eval mode).

    Examples
    --------
    >>> import tempfile
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.0}
    >>> net, folder = build_search_net(3, 2, arch), Path(tempfile.mkdtemp())
    >>> record = {"architecture": arch, "config": {}, "val_nll": 1.5, "trial_name": "t0",
    ...           "fingerprint": "abc"}
    >>> write_checkpoint(folder, record, net,
    ...                  {"val_mean": torch.zeros(5, 1), "val_var": torch.ones(5, 1)})
    >>> twin = load_network(load_trial(folder), 3, 2)
    >>> x = torch.ones(1, 3)
    >>> torch.equal(twin(x), net(x))
    True

    Raises
    ------
    ModelFileError
        The weights cannot be read or do not fit the recorded architecture.
    """
    path = Path(record["checkpoint"]) / "weights.safetensors"
    try:
        state = load_file(str(path))
        return build_search_net(in_features, out_features, record["architecture"], state)
    except (*_READ_ERRORS, KeyError, RuntimeError) as error:
        raise ModelFileError(
            f"The weights of trial {record.get('trial_name', '?')!r} ({path}) cannot be loaded "
            f"({type(error).__name__}: {error}). Fit again with resume=True: the search "
            "retrains trials whose files are damaged."
        ) from error


def finished_trials(experiment: Path, fingerprint: str,
                    damaged: list[dict] | None = None) -> list[dict]:
    """Every finished trial of every run under ``experiment``, oldest run first.

    A trial that reported twice keeps its last readable record; trials of another problem
    (another fingerprint) are left out. Damaged trials (:func:`inspect_trial`) are left out
    too, and appended to ``damaged`` when it is given, as ``{"folder", "run", "trial_name",
    "record", "reason"}`` (``record``: what of ``trial.json`` could be read, or ``None``).
    """
    found: dict[tuple[str, str], dict] = {}
    broken: dict[tuple[str, str], dict] = {}
    for path in sorted(Path(experiment).glob("run-*/*/checkpoint_*/trial.json")):
        record, reason = inspect_trial(path.parent)
        run = path.parents[2].name
        if reason is not None:
            if record is None or record.get("fingerprint") == fingerprint:
                name = record["trial_name"] if record else path.parents[1].name
                broken[(run, name)] = {"folder": path.parent, "run": run, "trial_name": name,
                                       "record": record, "reason": reason}
        elif record.get("fingerprint") == fingerprint:
            record["run"] = run
            key = (run, record["trial_name"])
            found.pop(key, None)  # re-inserted last, as the newest report
            found[key] = record
    if damaged is not None:  # a trial with a readable report elsewhere is not lost
        damaged += [entry for key, entry in broken.items() if key not in found]
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
