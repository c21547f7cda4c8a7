"""Finished ensemble members on disk, so that an interrupted ``fit`` resumes where it stopped.

A training *problem* is everything that decides a member's weights apart from its seed: the
architecture (:class:`~uqkit.nn.StackSpec`), the loss, the :class:`~uqkit.training.TrainConfig`
and the exact training and validation tensors. Its fingerprint (a SHA-256 of a canonical JSON
description) names a folder; inside it, member ``seed`` is two files::

    <checkpoint_dir>/problem-<key>/problem.json            what the key describes (for people)
    <checkpoint_dir>/problem-<key>/member-<seed>.safetensors  weights, member axis of size 1
    <checkpoint_dir>/problem-<key>/member-<seed>.json         history, run record, checksum

No pickle is involved: weights are safetensors, everything else is JSON. The JSON file is written
last (atomically), so a member whose JSON is present and whose weights match its checksum is
complete; anything else is treated as missing and trained again. A changed problem has another
key, so stale members are never reused.

Examples
--------
>>> import tempfile, torch
>>> from uqkit.nn import StackSpec
>>> from uqkit.losses import GaussianMemberLoss
>>> from uqkit.training import TrainConfig
>>> spec = StackSpec(in_features=1, out_features=2, hidden_layers=(4,))
>>> arrays = {"X": torch.zeros(3, 1).numpy(), "y": torch.zeros(3).numpy()}
>>> with tempfile.TemporaryDirectory() as root:
...     store = MemberCheckpoints.for_problem(root, spec, GaussianMemberLoss(), arrays,
...                                           TrainConfig(epochs=1))
...     member = spec.build([7])
...     _ = store.save(7, member.state_dict(), {"member": 0, "epochs": 1}, {"seconds": 0.1})
...     state, history, record = store.load(7)
...     sorted(state) == sorted(member.state_dict()), store.load(8) is None
(True, True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["CHECKPOINT_VERSION", "MemberCheckpoints", "problem_fingerprint", "stored_entropy"]

CHECKPOINT_VERSION = 1
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


# ------------------------------------------------------------------------- fingerprints
def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _array_digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.view(np.uint8).reshape(-1).data)
    return digest.hexdigest()


def _code_digest(code) -> str:
    """Digest of a code object: bytecode, constants (nested code included) and names."""
    digest = hashlib.sha256(code.co_code)
    for const in code.co_consts:
        digest.update(_code_digest(const).encode() if hasattr(const, "co_code") else
                      repr(const).encode())
    digest.update(repr(code.co_names).encode())
    return digest.hexdigest()


def _describe(value: Any, depth: int = 0) -> Any:
    """A JSON-able, address-free description of ``value`` that changes when its behaviour does.

    Dataclasses are described field by field, functions by name, code, defaults and closure,
    ``functools.partial`` by function and arguments, classes by name, arrays and tensors by
    digest, other objects by type and attributes.
    """
    if depth > 6:
        return _ADDRESS.sub("", repr(value))
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, torch.Tensor):
        return {"tensor": _array_digest(value.detach().cpu().numpy())}
    if isinstance(value, np.ndarray):
        return {"array": _array_digest(value)}
    if isinstance(value, (list, tuple)):
        return [_describe(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _describe(v, depth + 1) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, type):
        return {"class": _qualname(value)}
    if dataclasses.is_dataclass(value):
        fields = {f.name: _describe(getattr(value, f.name), depth + 1)
                  for f in dataclasses.fields(value)}
        return {"dataclass": _qualname(type(value)), "fields": fields}
    func = getattr(value, "func", None)
    if callable(func) and hasattr(value, "args") and hasattr(value, "keywords"):  # partial
        return {"partial": _describe(func, depth + 1), "args": _describe(value.args, depth + 1),
                "keywords": _describe(value.keywords, depth + 1)}
    code = getattr(value, "__code__", None)
    if code is not None:
        closure = [cell.cell_contents for cell in (getattr(value, "__closure__", None) or ())]
        return {
            "function": _qualname(value),
            "code": _code_digest(code),
            "defaults": _describe(getattr(value, "__defaults__", None), depth + 1),
            "closure": _describe(closure, depth + 1),
        }
    if isinstance(value, torch.nn.Module):
        return {"module": _qualname(type(value)),
                "state": _describe(dict(value.state_dict()), depth + 1)}
    attributes = getattr(value, "__dict__", None)
    if attributes is not None:
        return {"object": _qualname(type(value)), "attributes": _describe(attributes, depth + 1)}
    return {"object": _qualname(type(value)), "repr": _ADDRESS.sub("", repr(value))}


def problem_fingerprint(spec, loss_fn, arrays: Mapping[str, np.ndarray | None], config) -> dict:
    """Canonical description of a training problem (everything but the member seeds).

    Parameters
    ----------
    spec : StackSpec
        The member architecture (``module_factory`` is described by name, code, defaults and
        closure values).
    loss_fn : callable
        The per-member loss (dataclass fields, or function code).
    arrays : mapping of str to ndarray or None
        The training tensors (``X``, ``y``, ``X_val``, ``y_val``, and ``weight``,
        ``weight_val`` for a fit with ``sample_weight``); described by SHA-256 digests of
        their dtype, shape and bytes.
    config : TrainConfig

    Returns
    -------
    dict
        JSON-able; ``"key"`` is a 20-hex-digit SHA-256 prefix of the rest.

    Examples
    --------
    >>> from uqkit.nn import StackSpec
    >>> from uqkit.losses import GaussianMemberLoss
    >>> from uqkit.training import TrainConfig
    >>> spec = StackSpec(in_features=1, out_features=2)
    >>> a = problem_fingerprint(spec, GaussianMemberLoss(), {"X": np.zeros((2, 1))},
    ...                         TrainConfig(epochs=3))
    >>> b = problem_fingerprint(spec, GaussianMemberLoss(), {"X": np.zeros((2, 1))},
    ...                         TrainConfig(epochs=4))
    >>> a["key"] == b["key"]
    False
    """
    description = {
        "version": CHECKPOINT_VERSION,
        "spec": {**spec.to_dict(), "module_factory": _describe(spec.module_factory)},
        "loss": _describe(loss_fn),
        "config": _describe(dataclasses.asdict(config)),
        "data": {
            name: None if array is None else
            {"dtype": str(array.dtype), "shape": list(array.shape), "sha256": _array_digest(array)}
            for name, array in sorted(arrays.items())
        },
    }
    text = json.dumps(description, sort_keys=True)
    return {"key": hashlib.sha256(text.encode()).hexdigest()[:20], **description}


# ------------------------------------------------------------------------- storage
def _state_digest(state: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(_array_digest(state[key].detach().cpu().numpy()).encode())
    return digest.hexdigest()


def _write_atomically(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class MemberCheckpoints:
    """The finished members of one training problem, kept in ``root/problem-<key>/``.

    Parameters
    ----------
    root : str or Path
        The user's ``checkpoint_dir``.
    fingerprint : dict
        From :func:`problem_fingerprint`.
    """

    def __init__(self, root: str | Path, fingerprint: dict) -> None:
        self.fingerprint = fingerprint
        self.key: str = fingerprint["key"]
        self.directory = Path(root) / f"problem-{self.key}"

    @classmethod
    def for_problem(cls, root, spec, loss_fn, arrays, config) -> MemberCheckpoints:
        """The store for this problem (see :func:`problem_fingerprint`)."""
        return cls(root, problem_fingerprint(spec, loss_fn, arrays, config))

    def _paths(self, seed: int) -> tuple[Path, Path]:
        stem = self.directory / f"member-{int(seed)}"
        return stem.with_suffix(".safetensors"), stem.with_suffix(".json")

    def save(self, seed: int, state: Mapping[str, torch.Tensor], history: dict,
             record: dict) -> Path:
        """Write one finished member (weights with a member axis of size 1) and return its JSON.

        Parameters
        ----------
        seed : int
            The member's seed (its identity within the problem).
        state : mapping of str to Tensor
            ``state_dict`` of a one-member stack.
        history : dict
            The member's training history (JSON values).
        record : dict
            How it was trained (device, time, attempts; JSON values).
        """
        from safetensors.torch import save_file

        self.directory.mkdir(parents=True, exist_ok=True)
        problem = self.directory / "problem.json"
        if not problem.exists():
            text = json.dumps(self.fingerprint, indent=1, sort_keys=True)
            _write_atomically(problem, lambda tmp: Path(tmp).write_text(text))
        weights, meta = self._paths(seed)
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        _write_atomically(weights, lambda tmp: save_file(tensors, tmp))
        payload = {
            "version": CHECKPOINT_VERSION,
            "problem": self.key,
            "seed": int(seed),
            "sha256": _state_digest(tensors),
            "history": history,
            "record": record,
        }
        text = json.dumps(payload, sort_keys=True)
        _write_atomically(meta, lambda tmp: Path(tmp).write_text(text))
        return meta

    def load(self, seed: int) -> tuple[dict[str, torch.Tensor], dict, dict] | None:
        """``(state, history, record)`` of a finished member, or ``None`` if it is not complete.

        A missing, unreadable, foreign or corrupted member counts as not trained.
        """
        from safetensors.torch import load_file

        weights, meta = self._paths(seed)
        if not (weights.is_file() and meta.is_file()):
            return None
        try:
            payload = json.loads(meta.read_text())
            state = load_file(str(weights))
        except Exception:  # a half-written or damaged file: train the member again
            return None
        if (
            payload.get("version") != CHECKPOINT_VERSION
            or payload.get("problem") != self.key
            or payload.get("seed") != int(seed)
            or payload.get("sha256") != _state_digest(state)
        ):
            return None
        return state, payload["history"], payload.get("record", {})


# ------------------------------------------------------------------------- stored seeds
def stored_entropy(root: str | Path, description: Mapping, fresh: int) -> tuple[int, bool]:
    """The entropy stored in ``root`` for a fit described by ``description``, or ``fresh``.

    ``random_state=None`` draws a new entropy on every fit, and with it new member seeds, so a
    re-run of an interrupted fit would find none of the members it saved. With a
    ``checkpoint_dir`` the first fit therefore stores its entropy in
    ``root/random-state-<key>.json``, keyed by a digest of ``description`` (estimator class,
    parameters other than ``random_state``, digest of the data); a later fit with the same key
    uses it and resumes. The first writer wins (the file is linked into place, never
    overwritten), so two fits started together agree.

    Parameters
    ----------
    root : str or Path
        The user's ``checkpoint_dir``.
    description : mapping
        What identifies the fit apart from its seed; described with the fingerprint rules.
    fresh : int
        The entropy this fit drew; stored when nothing is stored yet.

    Returns
    -------
    entropy : int
        The entropy to use.
    stored : bool
        True when it came from an earlier fit.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     first = stored_entropy(root, {"data": "abc"}, 11)
    ...     again = stored_entropy(root, {"data": "abc"}, 12)
    ...     other = stored_entropy(root, {"data": "xyz"}, 13)
    >>> first, again, other
    ((11, False), (11, True), (13, False))
    """
    text = json.dumps(_describe(dict(description)), sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:20]
    folder = Path(root)
    path = folder / f"random-state-{key}.json"
    existing = _read_entropy(path, key)
    if existing is not None:
        return existing, True
    folder.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"version": CHECKPOINT_VERSION, "key": key, "entropy": int(fresh)})
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(payload)
        if path.exists():  # damaged (it was unreadable above): replace it
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic and never replaces: the first fit's entropy stays
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    existing = _read_entropy(path, key)
    if existing is None:
        return int(fresh), False
    return existing, existing != int(fresh)


def _read_entropy(path: Path, key: str) -> int | None:
    """The entropy in a seed file, or None when it is missing, damaged or not for ``key``."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("key") != key:
        return None
    entropy = payload.get("entropy")
    if isinstance(entropy, bool) or not isinstance(entropy, int):
        return None
    return entropy
