"""Where the rows of ``fit`` and ``predict`` come from when they are not a 2-D in-memory array:
N-D arrays and tensors (images ``(n, c, h, w)``, sequences ``(n, t, f)``), ``np.memmap``, a
``torch.utils.data.Dataset`` or the dataset of a ``DataLoader``.

A source is read one batch of rows at a time. :func:`scan_source` validates it in one pass (the
shape of every row, finite values, the targets of a Dataset) and computes the feature scaling
on the way; :class:`Rows` then stands in for the feature tensor of the training loop: indexing
it with a slice or an index tensor gathers those rows, scales them and moves them to the
device, so the training set is never copied whole to the device (nor, for a memmap or a
Dataset, into memory).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    TensorDataset,
)

from uqkit._data import Standardizer
from uqkit.exceptions import DataLoaderSettingsWarning, InvalidInputError

__all__ = [
    "ArraySource",
    "DatasetSource",
    "Rows",
    "Scan",
    "as_source",
    "check_scaled_range",
    "check_targets",
    "scan_source",
]

# Elements of one batch read by the scan (8 MiB in float64): the scan's memory is bounded by it,
# whatever the number of rows.
SCAN_ELEMENTS = 2**20


def _is_tensor_like(values) -> bool:
    return isinstance(values, (np.ndarray, torch.Tensor))


def as_source(X, owner: str, name: str = "X"):
    """The source of ``X``, or ``None`` when ``X`` takes the 2-D in-memory path of scikit-learn.

    Parameters
    ----------
    X : object
        What was passed to ``fit`` or ``predict``.
    owner : str
        Name of the estimator (for messages).
    name : str, default "X"
        Name of the argument (for messages).

    Returns
    -------
    ArraySource, DatasetSource or None
        An :class:`ArraySource` for an N-D array or tensor (in memory) and for a memmap of any
        rank (read lazily), a :class:`DatasetSource` for a ``Dataset`` or a ``DataLoader``;
        ``None`` for everything else (2-D arrays, DataFrames, lists).

    Examples
    --------
    >>> as_source(np.zeros((3, 2)), "M") is None
    True
    >>> source = as_source(np.zeros((3, 1, 4, 4)), "M")
    >>> type(source).__name__, source.shape, source.lazy
    ('ArraySource', (1, 4, 4), False)
    """
    if isinstance(X, DataLoader):
        _warn_loader_settings(X, owner)
        return DatasetSource(X.dataset, owner, name)
    if isinstance(X, Dataset):
        return DatasetSource(X, owner, name)
    if isinstance(X, np.memmap) and X.ndim >= 2:
        return ArraySource(X, owner, name, lazy=True)
    if _is_tensor_like(X) and X.ndim > 2:
        return ArraySource(X, owner, name, lazy=False)
    return None


def _warn_loader_settings(loader: DataLoader, owner: str) -> None:
    ignored = []
    if not isinstance(loader.sampler, SequentialSampler):
        ignored.append(f"its sampler ({type(loader.sampler).__name__}, e.g. shuffle=True)")
    collate = getattr(loader, "collate_fn", None)
    if collate is not None and getattr(collate, "__name__", "") not in ("default_collate",
                                                                      "default_convert"):
        ignored.append("its collate_fn")
    if ignored:
        warnings.warn(
            f"{owner} reads the DataLoader's dataset by index and does not use "
            + " or ".join(ignored)
            + ": each member draws its own batch order from its seed, and predictions come in "
            "the dataset's order. Pass DataLoader(dataset, shuffle=False) (or the dataset) to "
            "silence this; put transforms in the dataset.",
            DataLoaderSettingsWarning,
            stacklevel=4,
        )


class ArraySource:
    """Rows of an N-D numpy array, a torch tensor or a memmap of shape ``(n, *shape)``.

    ``lazy`` sources (memmaps) are only ever read ``features(index)`` rows at a time.

    Examples
    --------
    >>> source = ArraySource(np.arange(24.0).reshape(4, 2, 3), "M")
    >>> len(source), source.shape, source.features(np.array([2, 0])).shape
    (4, (2, 3), (2, 2, 3))
    """

    def __init__(self, values, owner: str, name: str = "X", lazy: bool = False) -> None:
        if isinstance(values, torch.Tensor):
            values = values.detach()
        self.values, self.owner, self.name, self.lazy = values, owner, name, lazy
        if values.ndim < 2:
            raise InvalidInputError(
                f"{owner}: {name} must have a row axis and at least one feature axis; got "
                f"shape {tuple(values.shape)}. Reshape 1-D data with X.reshape(-1, 1)."
            )
        if not _numeric(values):
            raise InvalidInputError(
                f"{owner}: {name} has dtype {values.dtype}; pass numbers (float or int)."
            )
        self.shape = tuple(int(s) for s in values.shape[1:])

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def features(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` as float64, shape ``(len(index), *shape)``."""
        if isinstance(self.values, torch.Tensor):
            rows = self.values[torch.as_tensor(index, dtype=torch.long, device=self.values.device)]
            return rows.to(torch.float64).cpu().numpy()  # (bfloat16 has no numpy dtype)
        return np.asarray(self.values[index], dtype=np.float64)

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float64 (a contiguous read)."""
        rows = self.values[start:stop]
        if isinstance(rows, torch.Tensor):
            return rows.to(torch.float64).cpu().numpy()
        return np.asarray(rows, dtype=np.float64)

    def all_features(self) -> np.ndarray:
        """Every row as float64 (only for sources that are in memory already)."""
        return self.block(0, len(self))


def _numeric(values) -> bool:
    """Whether an array or tensor holds real numbers (bool, int or float)."""
    if isinstance(values, torch.Tensor):
        return not values.dtype.is_complex
    return values.dtype.kind in "biuf"


class DatasetSource:
    """The items of a ``torch.utils.data.Dataset``: ``x`` or ``(x, y)`` per index.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> data = TensorDataset(torch.zeros(5, 1, 3, 3), torch.arange(5))
    >>> source = DatasetSource(data, "M")
    >>> len(source), source.shape, source.features(np.array([4, 1])).shape
    (5, (1, 3, 3), (2, 1, 3, 3))
    """

    lazy = True

    def __init__(self, dataset, owner: str, name: str = "X") -> None:
        if isinstance(dataset, IterableDataset):
            raise InvalidInputError(
                f"{owner}: {name} is an IterableDataset, which cannot be indexed; uqkit needs a "
                "map-style Dataset (with __len__ and __getitem__) so that every member can draw "
                "its own batches and the validation rows can be held out."
            )
        try:
            n = len(dataset)
        except TypeError:
            raise InvalidInputError(
                f"{owner}: {name} is a Dataset without __len__; give it one."
            ) from None
        self.dataset, self.owner, self.name, self.n = dataset, owner, name, int(n)
        if self.n == 0:
            raise InvalidInputError(f"{owner}: {name} is an empty Dataset.")
        x, _ = self.item(0)
        self.shape = tuple(x.shape)
        if not self.shape:
            raise InvalidInputError(
                f"{owner}: item 0 of {name} has a scalar x; each x must be an array of features "
                "(shape (n_features,) or (c, h, w), ...)."
            )

    def __len__(self) -> int:
        return self.n

    def item(self, i: int):
        """Item ``i`` as ``(x as float64 numpy, y or None)``."""
        item = self.dataset[int(i)]
        y = None
        if isinstance(item, (tuple, list)):
            if len(item) not in (1, 2):
                raise InvalidInputError(
                    f"{self.owner}: item {i} of {self.name} has {len(item)} parts; a Dataset "
                    "must yield x, (x,) or (x, y)."
                )
            item, y = (item[0], None) if len(item) == 1 else item
        try:
            if isinstance(item, torch.Tensor):
                item = item.detach().to(torch.float64).cpu().numpy()
            x = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(
                f"{self.owner}: x of item {i} of {self.name} is not numeric ({err})."
            ) from err
        return x, y

    def features(self, index: np.ndarray, with_targets: bool = False):
        """Rows ``index`` stacked as float64 ``(len(index), *shape)`` (and their y's).

        A ``TensorDataset`` is gathered by indexing its tensors (the same values as item by
        item); any other Dataset item by item."""
        if isinstance(self.dataset, TensorDataset) and len(self.dataset.tensors) in (1, 2):
            rows = torch.as_tensor(np.asarray(index), dtype=torch.long)
            tensors = self.dataset.tensors
            out = tensors[0][rows.to(tensors[0].device)].detach().to(torch.float64).cpu().numpy()
            if not with_targets:
                return out
            if len(tensors) == 1:
                return out, [None] * len(index)
            return out, list(tensors[1][rows.to(tensors[1].device)].detach().cpu())
        out = np.empty((len(index), *self.shape), dtype=np.float64)
        targets = []
        for j, i in enumerate(index):
            x, y = self.item(i)
            if x.shape != self.shape:
                raise InvalidInputError(
                    f"{self.owner}: item {int(i)} of {self.name} has x of shape {x.shape}, but "
                    f"item 0 has {self.shape}; every x must have the same shape (pad or crop "
                    "them in the Dataset)."
                )
            out[j] = x
            targets.append(y)
        return (out, targets) if with_targets else out

    def block(self, start: int, stop: int, with_targets: bool = False):
        return self.features(np.arange(start, stop), with_targets=with_targets)


@dataclass
class Scan:
    """What one pass over a source found.

    Attributes
    ----------
    n : int
        Rows.
    shape : tuple of int
        Shape of one row.
    targets : list or None
        The y of every item of a Dataset (None for arrays, or when the items have no y).
    scaler : Standardizer
        The feature scaling, its mean and scale broadcastable against ``(b, *shape)``.
    low, high : ndarray of shape ``shape``
        Smallest and largest value of every feature (in the user's units).
    """

    n: int
    shape: tuple
    targets: list | None
    scaler: Standardizer
    low: np.ndarray
    high: np.ndarray


def _scaling_axes(mode: str, ndim: int) -> tuple[int, ...]:
    """Axes of a batch ``(b, *shape)`` that one mean and scale are taken over."""
    if mode == "column":
        return (0,)
    if mode == "channel":
        return tuple(a for a in range(ndim) if a != 1)
    return tuple(range(ndim))  # "global" (and "none", whose statistics are unused)


def scan_source(source, *, mode: str, targets: bool = False, name: str = "X") -> Scan:
    """Validate every row of ``source`` in one pass, a batch at a time, and fit the scaling.

    Parameters
    ----------
    source : ArraySource or DatasetSource
    mode : {"column", "global", "channel", "none"}
        ``"column"``: each feature of a 2-D input; ``"global"``: one mean and scale for all
        values; ``"channel"``: one per index of axis 1 (the channels of ``(n, c, ...)``);
        ``"none"``: the identity. The moments are merged batch by batch (Chan et al.) in
        float64; a spread of zero, or within float64 rounding of the mean, keeps scale 1 (as
        :meth:`uqkit._data.Standardizer.fit`).
    targets : bool, default False
        Collect the y of every item (a Dataset yielding ``(x, y)``).
    name : str
        Name of the argument (for messages).

    Returns
    -------
    Scan

    Raises
    ------
    InvalidInputError
        A row of another shape (ragged items), a value that is NaN or infinite (the message
        names the row), or items without y when ``targets``.

    Examples
    --------
    >>> values = np.random.default_rng(0).normal(size=(50, 3, 2, 2))
    >>> scan = scan_source(ArraySource(values, "M"), mode="channel")
    >>> scan.scaler.mean.shape
    (3, 1, 1)
    >>> bool(np.allclose(scan.scaler.mean[:, 0, 0], values.mean(axis=(0, 2, 3))))
    True
    """
    n, shape = len(source), source.shape
    owner = source.owner
    step = max(1, SCAN_ELEMENTS // max(1, math.prod(shape)))
    axes = _scaling_axes(mode, len(shape) + 1)
    count, mean, m2 = 0, None, None
    low = np.full(shape, np.inf)
    high = np.full(shape, -np.inf)
    collected: list | None = [] if targets else None
    for start in range(0, n, step):
        stop = min(n, start + step)
        if targets:
            batch, ys = source.block(start, stop, with_targets=True)
            collected.extend(ys)
        else:
            batch = source.block(start, stop)
        if batch.shape[1:] != shape:
            raise InvalidInputError(
                f"{owner}: rows {start}..{stop - 1} of {name} have shape {batch.shape[1:]}, but "
                f"row 0 has {shape}."
            )
        finite = np.isfinite(batch)
        if not finite.all():
            row = start + int(np.argwhere(~finite)[0][0])
            raise InvalidInputError(
                f"{owner}: row {row} of {name} holds NaN or infinite values; remove or impute "
                "them before fit/predict."
            )
        np.minimum(low, batch.min(axis=0), out=low)
        np.maximum(high, batch.max(axis=0), out=high)
        if mode == "none":
            continue
        # Chan et al.'s pairwise update of count, mean and sum of squared deviations
        b_count = batch.size // math.prod(batch.shape[a] for a in range(batch.ndim)
                                          if a not in axes)
        b_mean = batch.mean(axis=axes, keepdims=True)
        b_m2 = ((batch - b_mean) ** 2).sum(axis=axes, keepdims=True)
        if mean is None:
            count, mean, m2 = b_count, b_mean, b_m2
        else:
            total = count + b_count
            delta = b_mean - mean
            mean = mean + delta * (b_count / total)
            m2 = m2 + b_m2 + delta**2 * (count * b_count / total)
            count = total
    if targets and any(y is None for y in collected):
        first = next(i for i, y in enumerate(collected) if y is None)
        raise InvalidInputError(
            f"{owner}: item {first} of {name} has no y; for fit a Dataset must yield (x, y)."
        )
    return Scan(n, shape, collected, _scaler(mode, shape, mean, m2, count), low, high)


def _scaler(mode: str, shape: tuple, mean, m2, count: int) -> Standardizer:
    keep = (1,) * len(shape)
    if mode == "none":
        return Standardizer(np.zeros(shape if len(shape) == 1 else keep),
                            np.ones(shape if len(shape) == 1 else keep))
    mean = mean[0]  # drop the row axis: broadcastable against (b, *shape)
    scale = np.sqrt(m2[0] / count)
    tolerance = 64 * np.finfo(np.float64).eps
    scale = np.where((scale > 0) & (scale > tolerance * np.abs(mean)), scale, 1.0)
    if len(shape) == 1:  # a 2-D input keeps the (p,) form of Standardizer.fit
        mean = np.broadcast_to(mean, shape).copy()
        scale = np.broadcast_to(scale, shape).copy()
    return Standardizer(mean=mean, scale=scale)


def check_scaled_range(low, high, scaler: Standardizer, dtype: torch.dtype, owner: str,
                       name: str = "X") -> None:
    """Refuse features whose scaled value ``dtype`` cannot hold (it would be inf)."""
    limit = torch.finfo(dtype).max
    extreme = np.maximum(np.abs((low - scaler.mean) / scaler.scale),
                         np.abs((high - scaler.mean) / scaler.scale))
    if not (extreme <= limit).all():
        where = tuple(int(i) for i in np.argwhere(~(extreme <= limit))[0])
        raise InvalidInputError(
            f"{owner}: feature {where} of {name} is {float(extreme[where]):.3g} training "
            f"standard deviations from the training mean: it overflows {dtype} inside the "
            "model. Pass features on the scale they had at fit, or fit with dtype='float64'."
        )


def check_targets(y, n: int, *, regression: bool, owner: str) -> np.ndarray:
    """The targets of a fit from a source: a Dataset's y's (a list) or the ``y`` given.

    Regression targets become finite float64 ``(n,)`` or ``(n, d)``; class labels one per row
    (a ``(n, 1)`` column is flattened).

    Examples
    --------
    >>> check_targets([torch.tensor(1), torch.tensor(0)], 2, regression=False, owner="M")
    array([1, 0])
    >>> try:
    ...     check_targets([0.0, float("nan")], 2, regression=True, owner="M")
    ... except InvalidInputError as err:
    ...     print(err)
    M: the target of row 1 is NaN or infinite.
    """
    if isinstance(y, list):
        y = [v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for v in y]
    elif isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    try:
        y = np.asarray(y)
    except ValueError as err:  # targets of different shapes
        raise InvalidInputError(f"{owner}: the targets have different shapes ({err}).") from err
    if y.ndim == 2 and y.shape[1] == 1 and not regression:
        y = y[:, 0]
    if len(y) != n:
        raise InvalidInputError(f"{owner}: X has {n} rows but y has {len(y)} entries.")
    if n < 2:
        raise InvalidInputError(f"{owner}: {n} sample(s); fit needs at least 2.")
    if not regression:
        if y.ndim != 1:
            raise InvalidInputError(
                f"{owner}: class labels must be one per row; got targets of shape {y.shape}."
            )
        return y
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{owner} is a regressor, so y must be numeric; encode the targets as numbers, or "
            "use a classifier for class labels."
        ) from None
    if y.ndim > 2:
        raise InvalidInputError(f"{owner}: y must be (n,) or (n, n_targets); got {y.shape}.")
    bad = ~np.isfinite(y.reshape(len(y), -1)).all(axis=1)
    if bad.any():
        raise InvalidInputError(f"{owner}: the target of row {int(np.argmax(bad))} is NaN or "
                                "infinite.")
    return y


class Rows:
    """The scaled feature rows of a source, gathered on demand: it stands in for the feature
    tensor of the training loop and of prediction.

    ``rows[index]`` with an index tensor ``(k, b)`` (each member's batch) or ``(b,)``, or with a
    slice, reads those rows of the source (rows ``subset[index]``), scales them in float64,
    and returns them as a ``dtype`` tensor of shape ``(*index.shape, *shape)`` on ``device``.

    Parameters
    ----------
    source : ArraySource or DatasetSource
    subset : ndarray of int or None
        Rows of the source that this view holds, in order (None: all).
    scaler : Standardizer
    dtype : torch.dtype
    device : torch.device
    check : bool, default False
        Check every gathered batch for NaN/inf and for overflow of ``dtype`` (prediction: the
        rows were not scanned).

    Examples
    --------
    >>> from uqkit._data import Standardizer
    >>> source = ArraySource(np.arange(12.0).reshape(6, 2), "M", lazy=True)
    >>> rows = Rows(source, np.array([1, 3, 5]), Standardizer.identity(2), torch.float32,
    ...             torch.device("cpu"))
    >>> len(rows), rows[1:].shape, rows[torch.tensor([[0, 2]])][0, 1].tolist()
    (3, torch.Size([2, 2]), [10.0, 11.0])
    """

    def __init__(self, source, subset, scaler: Standardizer, dtype: torch.dtype,
                 device: torch.device, check: bool = False) -> None:
        self.source, self.scaler = source, scaler
        self.subset = np.arange(len(source)) if subset is None else np.asarray(subset)
        self.dtype, self.device = dtype, torch.device(device)
        self.check = check

    def __len__(self) -> int:
        return len(self.subset)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.source.shape))

    @property
    def ndim(self) -> int:
        return 1 + len(self.source.shape)

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, slice):
            positions = np.asarray(range(len(self))[index])
        elif isinstance(index, torch.Tensor):
            positions = index.detach().cpu().numpy()
        else:
            positions = np.asarray(index)
        flat = self.subset[positions.reshape(-1)]
        # read each distinct row once, in order (a memmap reads forward)
        unique, inverse = np.unique(flat, return_inverse=True)
        values = self.source.features(unique)
        if self.check:
            self._check(values, unique)
        scaled = self.scaler.transform(values)[inverse]
        out = torch.as_tensor(scaled, dtype=self.dtype).reshape(*positions.shape,
                                                                 *self.source.shape)
        return out.to(self.device)

    def _check(self, values: np.ndarray, rows: np.ndarray) -> None:
        finite = np.isfinite(values)
        if not finite.all():
            row = int(rows[np.argwhere(~finite)[0][0]])
            raise InvalidInputError(
                f"{self.source.owner}: row {row} of {self.source.name} holds NaN or infinite "
                "values; remove or impute them before predict."
            )
        check_scaled_range(values.min(axis=0), values.max(axis=0), self.scaler, self.dtype,
                           self.source.owner, self.source.name)

    def dataset(self, targets: torch.Tensor) -> Dataset:
        """A map-style ``Dataset`` of ``(row, target)`` over these rows, each batch of a
        ``DataLoader`` gathered in one read (``__getitems__``)."""
        return _RowsDataset(self, targets)

    def _reduce(self, reduce) -> torch.Tensor:
        step = max(1, SCAN_ELEMENTS // max(1, math.prod(self.source.shape)))
        out = None
        for start in range(0, len(self), step):
            part = reduce(self[start : start + step], dim=0)
            out = part if out is None else reduce(torch.stack([out, part]), dim=0)
        return out

    def amin(self, dim: int = 0) -> torch.Tensor:
        """Smallest scaled value of every feature over the rows, like ``tensor.amin(0)`` (read
        a block at a time)."""
        return self._reduce(torch.amin)

    def amax(self, dim: int = 0) -> torch.Tensor:
        """Largest scaled value of every feature over the rows, like ``tensor.amax(0)``."""
        return self._reduce(torch.amax)


class _RowsDataset(Dataset):
    """``(rows[i], targets[i])`` items; a DataLoader's batch is read in one gather."""

    def __init__(self, rows: Rows, targets: torch.Tensor) -> None:
        self.rows, self.targets = rows, targets

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        return self.rows[torch.tensor([i])][0], self.targets[i]

    def __getitems__(self, indices: list[int]):
        batch = self.rows[torch.as_tensor(indices)]
        return list(zip(batch, self.targets[torch.as_tensor(indices, device=self.targets.device)],
                        strict=True))
