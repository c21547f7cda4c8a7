"""Data sets: the embedded default, the UCI standard splits and the MNIST/notMNIST image sets.

Examples
--------
>>> from uqkit.datasets import load_concrete
>>> X, y = load_concrete()
>>> X.shape, y.shape
((1030, 8), (1030,))
"""

from uqkit.datasets._images import load_idx_images, load_mnist_ood
from uqkit.datasets._root import data_root
from uqkit.datasets._tabular import UCI_DATASETS, load_concrete, load_uci, uci_n_splits

__all__ = [
    "UCI_DATASETS",
    "data_root",
    "load_concrete",
    "load_idx_images",
    "load_mnist_ood",
    "load_uci",
    "uci_n_splits",
]
