"""Tabular data: the embedded concrete set and the UCI regression benchmarks with their
standard splits."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import numpy as np

from uqkit.datasets._root import data_root
from uqkit.exceptions import InvalidInputError

# Short names used in the literature → folder names of the standard-split release.
UCI_DATASETS: dict[str, str] = {
    "boston": "bostonHousing",
    "concrete": "concrete",
    "energy": "energy",
    "kin8nm": "kin8nm",
    "naval": "naval-propulsion-plant",
    "power": "power-plant",
    "protein": "protein-tertiary-structure",
    "wine": "wine-quality-red",
    "yacht": "yacht",
}


def _uci_folder(name: str, root) -> Path:
    folder_name = UCI_DATASETS.get(name, name)
    if folder_name not in UCI_DATASETS.values():
        raise InvalidInputError(
            f"Unknown UCI data set {name!r}; choose one of {sorted(UCI_DATASETS)}."
        )
    base = data_root(root)
    folder = base / folder_name if (base / folder_name).is_dir() else base / "uci" / folder_name
    if not folder.is_dir():
        raise FileNotFoundError(f"No UCI folder {folder_name!r} under {str(base)!r}.")
    return folder


def uci_n_splits(name: str, root=None) -> int:
    """Number of standard splits of a UCI set (20; 5 for protein).

    Examples
    --------
    >>> uci_n_splits("yacht")  # doctest: +SKIP
    20
    """
    return int(open(_uci_folder(name, root) / "n_splits.txt").read().split()[0])


def load_uci(name: str, split: int = 0, root=None):
    """Load split ``split`` of a UCI regression benchmark (Hernández-Lobato & Adams, 2015).

    Parameters
    ----------
    name : str
        Short name (``"boston"``, ``"concrete"``, ``"energy"``, ``"kin8nm"``, ``"naval"``,
        ``"power"``, ``"protein"``, ``"wine"``, ``"yacht"``) or the folder name.
    split : int
        Index of the standard split, ``0 <= split < uci_n_splits(name)``.
    root : path, optional
        The data folder (holding ``uci/`` or the UCI folders themselves); see :func:`data_root`.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
        Raw (unstandardised) features of shape (n, p) and targets of shape (n,).

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_uci("yacht", split=0)  # doctest: +SKIP
    >>> X_train.shape  # doctest: +SKIP
    (277, 6)
    """
    folder = _uci_folder(name, root)
    n_splits = uci_n_splits(name, root)
    if not 0 <= split < n_splits:
        raise InvalidInputError(f"{name!r} has splits 0..{n_splits - 1}; got split={split}.")
    data = np.loadtxt(folder / "data.txt")
    features = np.loadtxt(folder / "index_features.txt", dtype=int).reshape(-1)
    target = int(np.loadtxt(folder / "index_target.txt", dtype=int))
    train = np.loadtxt(folder / f"index_train_{split}.txt", dtype=int).reshape(-1)
    test = np.loadtxt(folder / f"index_test_{split}.txt", dtype=int).reshape(-1)
    X, y = data[:, features], data[:, target]
    return X[train], y[train], X[test], y[test]


def load_concrete(return_names: bool = False):
    """The embedded default: concrete compressive strength (Yeh, 1998; UCI, CC BY 4.0).

    1,030 mixtures, 8 features (kg/m³ of each ingredient and age in days), target in MPa.

    Parameters
    ----------
    return_names : bool
        Also return the feature names.

    Returns
    -------
    X : ndarray of shape (1030, 8)
    y : ndarray of shape (1030,)
    names : list of str, only with ``return_names=True``

    Examples
    --------
    >>> X, y, names = load_concrete(return_names=True)
    >>> names[0], round(float(y.mean()), 2)
    ('cement', 35.82)
    """
    resource = resources.files("uqkit.datasets") / "data" / "concrete.csv.gz"
    with resource.open("rb") as raw, gzip.open(raw, "rt") as handle:
        header = handle.readline().strip().split(",")
        data = np.loadtxt(handle, delimiter=",")
    X, y = data[:, :-1], data[:, -1]
    return (X, y, header[:-1]) if return_names else (X, y)
