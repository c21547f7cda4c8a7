"""The uqkit file format: one safetensors file, a checked JSON header, never pickle.

The header (``format_version``, the estimator's ``class``, its ``params`` and fitted ``state``)
is stored as JSON in the safetensors metadata together with a SHA-256 over the header and every
tensor; a file edited after saving is refused. Class paths are checked against ``uqkit.*`` before
anything is imported, so loading a file never runs code from it. A nested estimator (the model a
recalibrator wraps) is a header inside the header, its tensors under a prefix.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uqkit.exceptions import ModelFileError

__all__ = [
    "FORMAT_VERSION",
    "decode_state",
    "digest",
    "encode_state",
    "import_uqkit_class",
    "jsonable",
    "read_model_file",
    "write_model_file",
]

FORMAT_VERSION = 1
METADATA_KEY = "uqkit"
_CLASS_PATH = re.compile(r"^uqkit(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


def digest(text: str, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the header text and every tensor's name and bytes (in name order)."""
    sha = hashlib.sha256(text.encode())
    for key in sorted(tensors):
        sha.update(key.encode())
        sha.update(tensors[key].contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()


def jsonable(value, name: str):
    """A JSON-compatible copy of ``value``; refuse anything that would need code to restore.

    Examples
    --------
    >>> jsonable((1, np.int64(2), {"a": None}), "x")
    [1, 2, {'a': None}]
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [jsonable(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v, name) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.device):
        return str(value)
    raise ModelFileError(
        f"Cannot save {name!r} = {value!r}: uqkit files hold only JSON values and tensors, "
        "never code. Use a built-in option instead of a Python object to make the model savable."
    )


def encode_state(values: dict[str, Any]) -> tuple[dict, dict[str, torch.Tensor]]:
    """Fitted attributes → ``(state entries, tensors)``; modules are stored as their state dict.

    ``torch.device`` values are skipped (resolved again on load).
    """
    state: dict[str, Any] = {}
    tensors: dict[str, torch.Tensor] = {}
    for name, value in values.items():
        if isinstance(value, torch.nn.Module):
            state[name] = {"kind": "module"}
            for key, tensor in value.state_dict().items():
                tensors[f"{name}/{key}"] = tensor.detach().cpu().contiguous()
        elif isinstance(value, torch.Tensor):
            state[name] = {"kind": "tensor"}
            tensors[name] = value.detach().cpu().contiguous()
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            state[name] = {"kind": "array", "dtype": str(value.dtype)}
            tensors[name] = torch.from_numpy(np.ascontiguousarray(value))
        elif isinstance(value, np.ndarray):
            state[name] = {"kind": "list_array", "value": value.tolist()}
        elif isinstance(value, torch.device):
            continue
        else:
            state[name] = {"kind": "json", "value": jsonable(value, name)}
    return state, tensors


def decode_state(state: dict, tensors: dict[str, torch.Tensor]):
    """Inverse of :func:`encode_state` for everything but modules.

    Returns
    -------
    values : dict
        Attribute name → restored value.
    modules : dict
        Module attribute name → its state dict (the caller rebuilds the module).
    """
    values, modules = {}, {}
    for name, entry in state.items():
        kind = entry["kind"]
        if kind == "array":
            values[name] = tensors[name].numpy().astype(entry["dtype"])
        elif kind == "tensor":
            values[name] = tensors[name]
        elif kind == "list_array":
            values[name] = np.asarray(entry["value"])
        elif kind == "json":
            values[name] = entry["value"]
        elif kind == "module":
            prefix = f"{name}/"
            modules[name] = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        else:
            raise ModelFileError(f"unknown state kind {kind!r} for {name!r}.")
    return values, modules


def with_suffix(path: str | Path) -> Path:
    """``path`` with ``.safetensors`` appended when it has another suffix."""
    path = Path(path)
    return path if path.suffix == ".safetensors" else path.with_name(path.name + ".safetensors")


def write_model_file(path: str | Path, header: dict, tensors: dict[str, torch.Tensor]) -> Path:
    """Write ``header`` (JSON) and ``tensors`` to one checksummed safetensors file."""
    from safetensors.torch import save_file

    path = with_suffix(path)
    text = json.dumps({"format_version": FORMAT_VERSION, **header}, sort_keys=True)
    metadata = {METADATA_KEY: text, "sha256": digest(text, tensors)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def read_model_file(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read and verify a file written by :func:`write_model_file`: ``(header, tensors)``.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, modified after saving or of another format version.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.exists() and with_suffix(path).exists():
        path = with_suffix(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {str(path)!r}.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        text = metadata[METADATA_KEY]
        header = json.loads(text)
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{str(path)!r} is not a readable uqkit model file: {err}") from err
    if metadata.get("sha256") != digest(text, tensors):
        raise ModelFileError(f"{str(path)!r} was modified after it was saved (checksum mismatch).")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"Unsupported uqkit file format {header.get('format_version')!r}.")
    return header, tensors


def import_uqkit_class(class_path: str, base: type) -> type:
    """The class named ``uqkit.module:Class``, if it subclasses ``base``; never other code."""
    if not _CLASS_PATH.match(class_path or ""):
        raise ModelFileError(f"{class_path!r} is not a uqkit estimator class.")
    module_name, class_name = class_path.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise ModelFileError(f"Unknown uqkit estimator class {class_path!r}.") from err
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ModelFileError(f"{class_path!r} is not a uqkit estimator class.")
    return cls
