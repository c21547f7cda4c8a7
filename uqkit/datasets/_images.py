"""MNIST-format image files (idx, gzip) and the MNIST → notMNIST out-of-distribution task."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from uqkit.datasets._root import data_root
from uqkit.exceptions import InvalidInputError


def load_idx_images(path: str | Path) -> np.ndarray:
    """Read an idx image or label file (optionally gzip-compressed) into a numpy array.

    Parameters
    ----------
    path : str or Path
        An idx file of unsigned bytes; read through gzip when its suffix is ``.gz``.

    Returns
    -------
    ndarray
        ``(n, rows, cols)`` uint8 images or ``(n,)`` uint8 labels.

    Raises
    ------
    ValueError
        If the file is not an unsigned-byte idx file.

    Examples
    --------
    Write two 2×3 images in the idx format (a zero, the type code 0x08, the number of
    dimensions, then each dimension as a big-endian uint32) and read them back:

    >>> import tempfile
    >>> images = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "images-idx3-ubyte.gz"
    ...     with gzip.open(path, "wb") as handle:
    ...         _ = handle.write(struct.pack(">HBBIII", 0, 0x08, 3, 2, 2, 3) + images.tobytes())
    ...     loaded = load_idx_images(path)
    >>> loaded.shape, loaded.dtype, np.array_equal(loaded, images)
    ((2, 2, 3), dtype('uint8'), True)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        zero, dtype_code, n_dims = struct.unpack(">HBB", handle.read(4))
        if zero != 0 or dtype_code != 0x08:
            raise ValueError(f"{str(path)!r} is not an unsigned-byte idx file.")
        shape = struct.unpack(">" + "I" * n_dims, handle.read(4 * n_dims))
        return np.frombuffer(handle.read(), dtype=np.uint8).reshape(shape)


def load_mnist_ood(root=None, split=(6000, 2000, 2000), seed: int = 0):
    """MNIST digits split into train/validation/test, with notMNIST letters as OOD inputs.

    Only the 10,000 MNIST test digits are available offline; they are split with a fixed seed.

    Parameters
    ----------
    root : path, optional
        Data folder holding ``images/mnist`` and ``images/notmnist`` (see ``data_root``).
    split : tuple of int
        Sizes of train, validation and test parts (sum at most 10,000).
    seed : int
        Seed of the permutation.

    Returns
    -------
    dict
        ``X_train, y_train, X_val, y_val, X_test, y_test, X_ood``; images as float32 in [0, 1]
        of shape ``(n, 1, 28, 28)``, labels as int64.

    Examples
    --------
    >>> data = load_mnist_ood()  # doctest: +SKIP
    >>> data["X_train"].shape  # doctest: +SKIP
    (6000, 1, 28, 28)
    """
    base = data_root(root) / "images"
    images = load_idx_images(base / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = load_idx_images(base / "mnist" / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    ood = load_idx_images(base / "notmnist" / "t10k-images-idx3-ubyte.gz")
    if sum(split) > len(images):
        raise InvalidInputError(
            f"split {split} asks for more than the {len(images)} digits available."
        )
    order = np.random.default_rng(seed).permutation(len(images))
    X = (images.astype(np.float32) / 255.0)[:, None]
    bounds = np.cumsum((0, *split))
    parts = [order[bounds[i] : bounds[i + 1]] for i in range(3)]
    return {
        "X_train": X[parts[0]],
        "y_train": labels[parts[0]],
        "X_val": X[parts[1]],
        "y_val": labels[parts[1]],
        "X_test": X[parts[2]],
        "y_test": labels[parts[2]],
        "X_ood": (ood.astype(np.float32) / 255.0)[:, None],
    }
