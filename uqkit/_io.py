"""The uqkit file format: one safetensors file, a checked JSON header, never pickle.

The header (``format_version``, the writing ``uqkit_version``, the estimator's ``class``, its
``params`` and fitted ``state``) is stored as JSON in the safetensors metadata together with a
SHA-256 over the header and every tensor's name, dtype, shape and bytes; a file edited after saving
is refused. Files that are not safetensors (a zip archive, a pickle) are named for what they are
before anything is parsed. Class paths are checked against ``uqkit.*`` before
anything is imported, so loading a file never runs code from it. A nested estimator (the model a
recalibrator wraps) is a header inside the header, its tensors under a prefix.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uqkit.exceptions import ModelFileError

__all__ = [
    "FOLDER_MODEL_FILE",
    "FORMAT_VERSION",
    "decode_state",
    "digest",
    "encode_state",
    "import_uqkit_class",
    "jsonable",
    "read_model_file",
    "uqkit_version",
    "write_model_file",
]

# 2: the digest covers every tensor's dtype and shape, and the header names the writing version
FORMAT_VERSION = 2
METADATA_KEY = "uqkit"
# the model file inside a folder-shaped save (read_model_file accepts the folder)
FOLDER_MODEL_FILE = "model.safetensors"
_CLASS_PATH = re.compile(r"^uqkit(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


def uqkit_version() -> str:
    """The installed uqkit version (from the package metadata; ``"unknown"`` when not installed).

    Read from the metadata rather than ``uqkit.__version__``: the package root imports this
    module's users, so importing it here would make a circle.
    """
    try:
        return importlib.metadata.version("uqkit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def digest(text: str, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the header text and every tensor's name, dtype, shape and bytes.

    Tensors are taken in name order; the safetensors offsets follow from that order and the
    shapes, so the whole safetensors header is covered: a dtype rewritten from F32 to I32 (same
    bytes, other numbers) changes the digest.

    Examples
    --------
    >>> a = {"w": torch.zeros(2, dtype=torch.float32)}
    >>> b = {"w": torch.zeros(2, dtype=torch.int32)}
    >>> digest("{}", a) == digest("{}", b)
    False
    """
    sha = hashlib.sha256(text.encode())
    for key in sorted(tensors):
        tensor = tensors[key]
        sha.update(key.encode())
        sha.update(f"|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        sha.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
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
    text = json.dumps(
        {"format_version": FORMAT_VERSION, "uqkit_version": uqkit_version(), **header},
        sort_keys=True,
    )
    metadata = {METADATA_KEY: text, "sha256": digest(text, tensors)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def _foreign_file(path: Path) -> str | None:
    """What ``path`` is when it is plainly not a safetensors file (by its first bytes), and how
    to load it; ``None`` otherwise. Reads only bytes and zip member names, never unpickles."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    where = str(path)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        if any(n.endswith("data.pkl") for n in names):
            return (
                f"{where!r} is a torch.save archive (pickle inside), not a uqkit model file. "
                "uqkit never loads pickle, since unpickling can run code from the file; save the "
                "estimator with estimator.save(path) and load that file with uqkit.load(path)."
            )
        kind = "a stable-baselines3 model" if "policy.pth" in names else "perhaps stable-baselines3"
        return (
            f"{where!r} is a zip archive ({kind}), not a uqkit model file. Load a GGDPPO agent "
            "with uqkit.rl.GGDPPO.load(path) (stable-baselines3's loader, which unpickles parts "
            "of the archive: only load files you trust); uqkit.load reads files written by a "
            "uqkit estimator's save()."
        )
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return (
            f"{where!r} is a Python pickle (e.g. a legacy torch.save or joblib file), not a uqkit "
            "model file. uqkit never loads pickle, since unpickling can run code from the file; "
            "save the estimator with estimator.save(path) and load that file with uqkit.load."
        )
    return None


def _check_format_version(header: dict, where: str) -> None:
    version = header.get("format_version")
    writer = header.get("uqkit_version", "an unknown uqkit version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{where!r} has no valid uqkit format version ({version!r}).")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where!r} was written by uqkit {writer} in file format {version}; this uqkit "
            f"({uqkit_version()}) reads format {FORMAT_VERSION} at most. Upgrade uqkit "
            "(pip install -U uqkit) to load it."
        )
    if version < FORMAT_VERSION:
        raise ModelFileError(
            f"{where!r} is in the old uqkit file format {version}, whose checksum does not cover "
            f"tensor dtypes and shapes; this uqkit reads format {FORMAT_VERSION}. Load it with "
            "the uqkit release that wrote it and save it again, or refit the model."
        )


def read_model_file(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read and verify a file written by :func:`write_model_file`: ``(header, tensors)``.

    The format version is checked before the checksum (a newer format may checksum
    differently), and the checksum before any tensor is used.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, of another kind (zip archive, pickle), modified after
        saving or of another format version.
    """
    from safetensors import safe_open

    path = Path(path)
    folder = None
    if path.is_dir() and (path / FOLDER_MODEL_FILE).is_file():
        # a model saved as a folder (GloVeV: the model file next to its covariance chunks)
        folder, path = path, path / FOLDER_MODEL_FILE
    if not path.exists() and with_suffix(path).exists():
        path = with_suffix(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {str(path)!r}.")
    foreign = _foreign_file(path)
    if foreign is not None:
        raise ModelFileError(foreign)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            text = metadata[METADATA_KEY]
            header = json.loads(text)
            if not isinstance(header, dict):
                raise ValueError("the uqkit header is not a JSON object")
            _check_format_version(header, str(path))
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except ModelFileError:
        raise
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(
            f"{str(path)!r} is not a readable uqkit model file: {err}. uqkit.load reads files "
            "written by a uqkit estimator's save()."
        ) from err
    if metadata.get("sha256") != digest(text, tensors):
        raise ModelFileError(
            f"{str(path)!r} was modified after it was saved (checksum mismatch over the header, "
            "tensor dtypes, shapes and bytes). Use the original file or refit and save again."
        )
    if folder is not None:
        header["_folder"] = str(folder)  # where the estimator finds the rest of its files
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
