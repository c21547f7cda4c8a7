"""Data preparation shared by every estimator whose model is a network trained in ``fit``:
validation, feature scaling, target encoding (through a target mixin) and the seeded
early-stopping hold-out."""

from __future__ import annotations

import math

import numpy as np
import torch

from uqkit._data import (
    Standardizer,
    check_sample_weight,
    check_weighted_classes,
    normalised_weights,
    resolve_device,
    resolve_dtype,
    to_numpy,
)
from uqkit._random import SPLIT_STREAM, derive_seed
from uqkit.base import UQEstimator, check_fitted
from uqkit.exceptions import DivergenceError, InvalidInputError, ModelFileError
from uqkit.training._backends import resolve_backend
from uqkit.training._member_data import MemberData
from uqkit.training._ray_backend import RayBackend
from uqkit.training._sources import (
    ArraySource,
    DatasetSource,
    Rows,
    as_source,
    check_scaled_range,
    check_targets,
    scan_source,
)

__all__ = [
    "NetworkEstimator",
    "check_finite_outputs",
    "check_finite_parameters",
    "check_prediction",
    "check_representable",
]


class NetworkEstimator(UQEstimator):
    """Data preparation for a network trained in ``fit``: validation, feature scaling, target
    encoding and the seeded early-stopping hold-out. Used with a target mixin.

    Subclasses need the parameters ``early_stopping``, ``validation_fraction``, ``device``,
    ``dtype`` and ``random_state`` (and optionally ``feature_scaling``).

    Examples
    --------
    With early stopping and no ``X_val``, a seeded ``validation_fraction`` of the rows is held
    out; the same ``random_state`` holds out the same rows.

    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 2)), rng.normal(size=20)
    >>> def held_out():
    ...     model = DeepEnsembleRegressor(
    ...         n_members=1, hidden_layers=(4,), epochs=1, validation_fraction=0.2,
    ...         random_state=3, verbose=0,
    ...     )
    ...     return model.fit(X, y).validation_indices_
    >>> len(held_out()), np.array_equal(held_out(), held_out())
    (4, True)
    >>> issubclass(DeepEnsembleRegressor, NetworkEstimator)
    True
    """

    # whether fit takes N-D arrays, memmaps, Datasets and DataLoaders (AutoDEUQ: 2-D arrays only)
    _accepts_sources = True

    # -- a RayBackend parameter is saved as its fields, under an explicit tag -------------------
    _RAY_BACKEND_TAG = "__ray_backend__"

    def _param_to_saved(self, name: str, value):
        if isinstance(value, RayBackend):
            return {self._RAY_BACKEND_TAG: super()._param_to_saved(name, value.to_dict())}
        return super()._param_to_saved(name, value)

    @classmethod
    def _param_from_saved(cls, name: str, value):
        if isinstance(value, dict) and set(value) == {cls._RAY_BACKEND_TAG}:
            try:
                return RayBackend.from_dict(value[cls._RAY_BACKEND_TAG])
            except (TypeError, ValueError) as err:
                message = f"Parameter {name!r} is not a valid RayBackend: {err}"
                raise ModelFileError(message) from err
        return super()._param_from_saved(name, value)

    @classmethod
    def _from_saved(cls, header, tensors, device=None):
        estimator = super()._from_saved(header, tensors, device=device)
        if isinstance(getattr(estimator, "input_shape_", None), list):  # JSON has no tuples
            estimator.input_shape_ = tuple(estimator.input_shape_)
        return estimator

    def _feature_scaler(self, X: np.ndarray) -> Standardizer:
        return Standardizer.fit(X, mode=self._scaling_mode(1))

    def _auto_feature_scaling(self) -> str:
        """What ``feature_scaling="auto"`` means for 2-D input (N-D input: ``"none"``)."""
        return "column"

    def _scaling_mode(self, row_ndim: int) -> str:
        """The ``feature_scaling`` of this fit for rows with ``row_ndim`` axes (1: tabular).

        ``"auto"`` is :meth:`_auto_feature_scaling` for tabular rows and ``"none"`` for N-D
        rows (images, sequences); ``"channel"`` standardises each index of axis 1 (for tabular
        rows: each column, as ``"column"``); ``"column"`` on N-D rows is refused, since
        standardising every pixel on its own blows up pixels that are almost always dark.
        """
        mode = getattr(self, "feature_scaling", "column")
        if mode == "auto":
            return self._auto_feature_scaling() if row_ndim == 1 else "none"
        if row_ndim == 1:
            return "column" if mode == "channel" else mode
        if mode == "column":
            raise InvalidInputError(
                f"{type(self).__name__}: feature_scaling='column' standardises each column of "
                f"2-D input, but X has rows of {row_ndim} axes; use feature_scaling='channel' "
                "(each index of axis 1, e.g. image channels), 'global', 'none' or 'auto' "
                "(none for N-D input)."
            )
        return mode

    def _sends_rows_to_ray(self) -> bool:
        """Whether fit sends its rows to Ray (AutoDEUQ's trials, the Ray backend's tasks)."""
        if not self._accepts_sources:
            return True
        backend = getattr(self, "_backend", lambda: "vectorized")()
        return isinstance(resolve_backend(backend), RayBackend)

    def _read_memmaps(self, X, X_val=None):
        """``(X, X_val)``, a memmap among them read whole into memory where fit sends its rows
        to Ray: a lazy source cannot be sent, and joblib hands read-only memmaps of large
        arrays to the workers of a cross-validation (``n_jobs``), which the user never
        chose. Elsewhere a memmap stays a source read a batch at a time."""
        if not any(isinstance(a, np.memmap) for a in (X, X_val)) or not self._sends_rows_to_ray():
            return X, X_val
        return tuple(np.asarray(a) if isinstance(a, np.memmap) else a for a in (X, X_val))

    def _refuse_sources(self, X, X_val=None) -> None:
        """For an estimator that takes 2-D in-memory arrays only (``_accepts_sources`` False):
        refuse N-D rows, Datasets and DataLoaders with the fix (memmaps are read whole first,
        :meth:`_read_memmaps`)."""
        if self._accepts_sources:
            return
        owner = type(self).__name__
        if as_source(X, owner) is not None or (X_val is not None
                                                and as_source(X_val, owner) is not None):
            raise InvalidInputError(
                f"{owner} trains its networks from in-memory 2-D arrays (they are sent to every "
                "trial); pass X as an array of shape (n, n_features) with y (flatten images), "
                "not a Dataset, a DataLoader or N-D rows."
            )

    def _takes_nd_input(self) -> bool:
        """Whether the network takes rows of any shape (a user module); the default MLP takes
        ``(n, n_features)`` only."""
        return getattr(self, "module", None) is not None

    def _check_row_shape(self, shape: tuple) -> None:
        if len(shape) > 1 and not self._takes_nd_input():
            fix = ("pass module= (a network that takes rows of this shape) or flatten X to "
                   "(n, n_features)" if "module" in self.get_params(deep=False)
                   else "flatten X to (n, n_features)")
            raise InvalidInputError(
                f"{type(self).__name__}: X has rows of shape {shape}, but the default MLP takes "
                f"2-D input (n, n_features); {fix}."
            )

    def _check_architecture(self, n_features: int | None = None) -> None:
        """Check architecture parameters (before the data is seen, then against its width)."""

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows for gradient steps and for early stopping (a seeded ``validation_fraction``)."""
        n_val = math.ceil(self.validation_fraction * n)
        if n - n_val < 2:
            raise InvalidInputError(
                f"{n} samples are too few to hold out validation_fraction="
                f"{self.validation_fraction} for validation; pass more data or X_val/y_val"
                + (", or early_stopping=False." if hasattr(self, "early_stopping") else ".")
            )
        order = np.random.default_rng(derive_seed(self.random_state_, SPLIT_STREAM)).permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _fit_entropy(self, inputs: tuple) -> int:
        """Fix this fit's entropy in ``random_state_``; ``inputs`` is the validated
        ``(X, y, X_val, y_val)``, for subclasses whose entropy may depend on the problem."""
        return self._resolve_random_state()

    def _prepare_data(self, X, y, X_val=None, y_val=None, sample_weight=None) -> MemberData:
        """Validate, scale and encode the data of ``fit``; hold out the early-stopping rows.

        ``X`` is a 2-D array-like (scikit-learn's validation), or an N-D array or tensor, a
        memmap, a ``Dataset`` or a ``DataLoader`` (:meth:`_prepare_source`).

        With ``early_stopping=True`` and no ``X_val``, a random ``validation_fraction`` of the
        rows (seeded by ``random_state``) is held out; their indices go to
        ``validation_indices_``. Sets ``x_mean_``, ``x_scale_``, ``device_``, ``random_state_``.
        ``sample_weight`` (validated like scikit-learn's) is split with the rows: the held-out
        rows keep theirs for the validation loss, an explicit ``X_val`` is weighted equally;
        each part is normalised to average 1 (:func:`uqkit._data.normalised_weights`). The
        feature scaling stays unweighted: it only conditions the optimisation.
        """
        self._check_params()
        self._check_architecture()
        owner = type(self).__name__
        X, X_val = self._read_memmaps(X, X_val)
        source = as_source(X, owner)
        val_source = None if X_val is None else as_source(X_val, owner, "X_val")
        if source is not None or val_source is not None:
            self._refuse_sources(X, X_val)
        if source is not None or val_source is not None:
            return self._prepare_source(source, X, y, X_val, y_val, val_source, sample_weight)
        X, y = self._check_X_y(X, y, regression=self._regression)
        self.input_shape_ = (X.shape[1],)
        weights = check_sample_weight(sample_weight, len(X), type(self).__name__)
        self._check_architecture(X.shape[1])
        y_encoded = self._encode_targets(y)
        if not self._regression:
            check_weighted_classes(y_encoded, weights, type(self).__name__)
        X_val, y_val = self._check_validation_data(X_val, y_val, regression=self._regression)
        # an unweighted fit keeps the entropy key it had before sample_weight existed
        self._fit_entropy((X, y, X_val, y_val) if weights is None
                          else (X, y, X_val, y_val, weights))
        self.device_ = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype)

        scaler = self._feature_scaler(X)
        self.x_mean_, self.x_scale_ = scaler.mean, scaler.scale
        Xs = scaler.transform(X)
        train_rows = np.arange(len(X))
        X_val_s = y_val_enc = None
        val_rows = None
        if X_val is not None:
            X_val_s, y_val_enc = scaler.transform(X_val), self._encode_targets(y_val, fit=False)
            self._check_representable(X_val_s, "X_val")
        elif self.early_stopping:
            train_rows, val_rows = self._split(len(X))
            self.validation_indices_ = val_rows
            X_val_s, y_val_enc = Xs[val_rows], y_encoded[val_rows]

        def tensor(values):
            return torch.as_tensor(values, dtype=dtype, device=self.device_)

        return self._member_data(
            tensor(Xs[train_rows]), None if X_val_s is None else tensor(X_val_s), y_encoded,
            y_val_enc, train_rows, val_rows, weights, dtype,
        )

    def _member_data(self, X, X_val, y_encoded, y_val_enc, train_rows, val_rows, weights,
                     dtype) -> MemberData:
        """The :class:`MemberData` of prepared features: the encoded targets of the training
        rows, and the row weights of each part normalised to average 1."""
        owner = type(self).__name__
        w_train = normalised_weights(weights, train_rows, "training", owner)
        w_val = None
        if weights is not None and val_rows is not None:
            w_val = normalised_weights(weights, val_rows, "held-out validation", owner)

        def tensor(values):
            return torch.as_tensor(values, dtype=dtype, device=self.device_)

        return MemberData(
            weight=None if w_train is None else tensor(w_train),
            weight_val=None if w_val is None else tensor(w_val),
            X=X,
            y=self._target_tensor(y_encoded[train_rows], dtype),
            X_val=X_val,
            y_val=None if y_val_enc is None else self._target_tensor(y_val_enc, dtype),
        )

    def _prepare_source(self, source, X, y, X_val, y_val, val_source, sample_weight):
        """:meth:`_prepare_data` for an N-D array, a memmap, a Dataset or a DataLoader.

        One pass over the rows (:func:`~uqkit.training._sources.scan_source`) validates them
        and fits the scaling; then an in-memory array becomes whole tensors on the device (as a
        2-D array does), and a memmap or a Dataset a :class:`~uqkit.training._sources.Rows`
        view that the training loop reads one batch at a time. The early-stopping rows are the
        same seeded rows as for an array of the same length (:meth:`_split`).
        """
        owner = type(self).__name__
        if source is None:  # a 2-D array with a Dataset as X_val
            source = ArraySource(self._check_X_y(X, y, regression=self._regression)[0], owner)
        from_dataset = isinstance(source, DatasetSource)
        if from_dataset and y is not None:
            raise InvalidInputError(
                f"{owner}: X is a Dataset, which yields its own targets; call fit(dataset) "
                "with y=None."
            )
        if not from_dataset and y is None:
            raise InvalidInputError(f"{owner}: fit needs y (or a Dataset yielding (x, y)).")
        if source.lazy and self._sends_rows_to_ray():
            raise InvalidInputError(
                f"{owner}: backend='ray' sends the training data to every Ray task, which "
                "a Dataset (read an item at a time) cannot be; pass in-memory arrays (X, y), "
                "or use backend='vectorized' or 'serial'."
            )
        self._check_row_shape(source.shape)
        mode = self._scaling_mode(len(source.shape))
        scan = scan_source(source, mode=mode, targets=from_dataset)
        y = self._source_targets(scan.targets if from_dataset else y, scan.n)
        n_features = math.prod(source.shape)
        self.n_features_in_, self.input_shape_ = n_features, tuple(source.shape)
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        weights = check_sample_weight(sample_weight, scan.n, owner)
        self._check_architecture(n_features)
        y_encoded = self._encode_targets(y)
        if not self._regression:
            check_weighted_classes(y_encoded, weights, owner)
        val = None
        if X_val is not None or y_val is not None:
            val = self._validation_source(val_source, X_val, y_val, source.shape)
        # the problem's key for a resumed Ray fit (only in-memory arrays reach Ray)
        inputs = (source.values if isinstance(source, ArraySource) else (scan.n, scan.shape), y,
                  X_val, None if val is None else val[2])
        self._fit_entropy(inputs if weights is None else (*inputs, weights))
        self.device_ = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype)
        scaler = scan.scaler
        self.x_mean_, self.x_scale_ = scaler.mean, scaler.scale
        check_scaled_range(scan.low, scan.high, scaler, dtype, owner)

        scaled: dict[int, np.ndarray] = {}  # id(source) -> its scaled rows, when in memory

        def features(src, rows):
            if not src.lazy:  # in memory already: whole tensors on the device, as for 2-D
                if id(src) not in scaled:
                    scaled[id(src)] = scaler.transform(src.all_features())
                values = scaled[id(src)] if rows is None else scaled[id(src)][rows]
                return torch.as_tensor(values, dtype=dtype, device=self.device_)
            return Rows(src, rows, scaler, dtype, self.device_)

        train_rows = np.arange(scan.n)
        X_val_s = y_val_enc = val_rows = None
        if val is not None:
            val_src, val_scan, y_val_raw = val
            check_scaled_range(val_scan.low, val_scan.high, scaler, dtype, owner, "X_val")
            X_val_s = features(val_src, None)
            y_val_enc = self._encode_targets(y_val_raw, fit=False)
        elif self.early_stopping:
            train_rows, val_rows = self._split(scan.n)
            self.validation_indices_ = val_rows
            X_val_s, y_val_enc = features(source, val_rows), y_encoded[val_rows]
        return self._member_data(features(source, train_rows), X_val_s, y_encoded, y_val_enc,
                                 train_rows, val_rows, weights, dtype)

    def _source_targets(self, y, n: int) -> np.ndarray:
        """The targets of a source fit (a Dataset's y's or the ``y`` given), validated."""
        return check_targets(y, n, regression=self._regression, owner=type(self).__name__)

    def _validation_source(self, val_source, X_val, y_val, shape):
        """``(source, scan, y_val)`` of an explicit validation set of a source fit."""
        owner = type(self).__name__
        if X_val is None:
            raise InvalidInputError("Pass both X_val and y_val, or neither.")
        if val_source is None:
            val_source = ArraySource(self._check_X(X_val, reset=False), owner, "X_val")
        from_dataset = isinstance(val_source, DatasetSource)
        if from_dataset and y_val is not None:
            raise InvalidInputError(
                f"{owner}: X_val is a Dataset, which yields its own targets; pass y_val=None."
            )
        if not from_dataset and y_val is None:
            raise InvalidInputError("Pass both X_val and y_val, or neither.")
        if tuple(val_source.shape) != tuple(shape):
            raise InvalidInputError(
                f"{owner}: X_val has rows of shape {tuple(val_source.shape)} but X has "
                f"{tuple(shape)}."
            )
        scan = scan_source(val_source, mode="none", targets=from_dataset, name="X_val")
        targets = self._source_targets(scan.targets if from_dataset else y_val, scan.n)
        return val_source, scan, targets

    def _row_shape(self) -> tuple:
        """Shape of one row at fit (models saved before ``input_shape_`` existed: 2-D)."""
        return tuple(getattr(self, "input_shape_", (self.n_features_in_,)))

    def _feature_rows(self, X, dtype: torch.dtype):
        """The features of ``predict``, scaled as in ``fit``, as something sliced by batches.

        A 2-D array-like or an in-memory N-D array gives a whole ``dtype`` tensor on
        ``device_``; a memmap, a Dataset (its ``x`` or ``(x, y)`` items, y ignored) or a
        DataLoader gives a :class:`~uqkit.training._sources.Rows` view read a batch at a time
        and checked as it is read. Either way ``rows[a:b]`` is a tensor of those rows.
        """
        check_fitted(self)
        owner = type(self).__name__
        source = as_source(X, owner)
        shape = self._row_shape()
        if source is None:
            if len(shape) > 1:
                got = np.shape(to_numpy(X))[1:] if hasattr(X, "shape") else "2-D"
                raise InvalidInputError(
                    f"{owner} was fitted on rows of shape {shape}; got X with rows of shape "
                    f"{got}. Pass X of shape (n, {', '.join(map(str, shape))})."
                )
            return torch.as_tensor(self._scaled_features(X), dtype=dtype, device=self.device_)
        if tuple(source.shape) != shape:
            raise InvalidInputError(
                f"{owner} was fitted on rows of shape {shape}; got X with rows of shape "
                f"{tuple(source.shape)}. Pass X of shape (n, {', '.join(map(str, shape))})."
            )
        scaler = Standardizer(self.x_mean_, self.x_scale_)
        rows = Rows(source, None, scaler, dtype, self.device_, check=True)
        if source.lazy:
            return rows
        return rows[:]  # in memory already: checked and scaled in one go

    def _scaled_features(self, X) -> np.ndarray:
        """Validated features of ``predict``, scaled as in ``fit`` (in float64).

        Raises
        ------
        InvalidInputError
            If a scaled feature would overflow the model's dtype (``X = 1e39`` in float32): the
            message names the column and the training mean and spread.
        """
        X = self._check_X(X, reset=False)
        Xs = (np.asarray(X, dtype=np.float64) - self.x_mean_) / self.x_scale_
        self._check_representable(Xs, "X")
        return Xs

    def _check_outputs(self, raw: torch.Tensor) -> torch.Tensor:
        """``raw`` ``(n_members, n_samples, ...)`` unchanged, or a DivergenceError if not finite."""
        return check_finite_outputs(raw, type(self).__name__)

    def _check_representable(self, Xs: np.ndarray, name: str) -> None:
        """Refuse standardised features that the model's dtype cannot hold (they would be inf)."""
        check_representable(Xs, self.x_mean_, self.x_scale_, self.dtype, name)


def check_finite_outputs(raw: torch.Tensor, owner: str) -> torch.Tensor:
    """``raw`` ``(n_members, n_samples, ...)`` unchanged, or a DivergenceError if not finite.

    A network whose weights are finite can still overflow on inputs far outside the training
    range; either way no prediction is returned from non-finite outputs. The families whose
    raw outputs are posterior draws (the Bayesian MLPs) or latent moments (the GPs) check them
    here too, before a prediction type is built from them.

    Examples
    --------
    >>> try:
    ...     check_finite_outputs(torch.tensor([[0.0], [float("nan")]]), "GPRegressor")
    ... except DivergenceError as err:
    ...     print(str(err)[:58])
    GPRegressor produced a non-finite output (member 1, row 0)
    """
    finite = torch.isfinite(raw)
    if bool(finite.all()):
        return raw
    position = [int(i) for i in torch.nonzero(~finite)[0]]
    member, row = [*position, 0][:2]
    raise DivergenceError(
        f"{owner} produced a non-finite output (member {member}, row {row}) instead of a "
        "prediction: the model diverged during training or overflows on this input. Refit "
        "with a lower lr, or pass inputs closer to the training range."
    )


def check_finite_parameters(module: torch.nn.Module, owner: str) -> None:
    """Refuse to predict from a module whose parameters are not finite (a DivergenceError).

    The GPs and Bayesian MLPs call it before predicting: GPyTorch's Cholesky and Pyro's
    distributions would otherwise fail on NaN parameters with their own tracebacks.

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 1)
    >>> check_finite_parameters(layer, "GPRegressor")
    >>> with torch.no_grad():
    ...     layer.bias.fill_(float("nan"))
    Parameter containing:
    tensor([nan], requires_grad=True)
    >>> try:
    ...     check_finite_parameters(layer, "GPRegressor")
    ... except DivergenceError as err:
    ...     print(str(err)[:46])
    GPRegressor has non-finite parameters ('bias')
    """
    for name, parameter in module.named_parameters():
        if not bool(torch.isfinite(parameter).all()):
            raise DivergenceError(
                f"{owner} has non-finite parameters ({name!r}) and cannot predict: the model "
                "diverged during training or the file was damaged. Refit with a lower lr."
            )


def check_representable(
    Xs: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype: str, name: str
) -> None:
    """Refuse standardised features ``Xs`` that ``dtype`` cannot hold (they would be inf).

    ``mean`` and ``scale`` are the training standardisation (for the message, in user units).

    Examples
    --------
    >>> mean, scale = np.zeros(1), np.ones(1)
    >>> check_representable(np.array([[3e38]]), mean, scale, "float32", "X")
    >>> try:
    ...     check_representable(np.array([[1e39]]), mean, scale, "float32", "X")
    ... except InvalidInputError as err:
    ...     print(str(err)[:24])
    X[0, 0] = 1e+39 is 1e+39
    """
    limit = torch.finfo(resolve_dtype(dtype)).max
    too_large = ~(np.abs(Xs) <= limit)
    if not too_large.any():
        return
    row, column = (int(i) for i in np.argwhere(too_large)[0])
    value = Xs[row, column] * scale[column] + mean[column]
    raise InvalidInputError(
        f"{name}[{row}, {column}] = {value:.3g} is {abs(Xs[row, column]):.3g} training "
        f"standard deviations from the training mean of column {column} (mean "
        f"{mean[column]:.3g}, std {scale[column]:.3g}): it overflows {dtype} inside the "
        "model. Pass features on the scale they had at fit, or fit with dtype='float64' on "
        "data that covers this range."
    )


def check_prediction(prediction, owner: str):
    """Return ``prediction`` unchanged, or raise when it holds a value that is not an answer.

    Every family's prediction builder ends with it: a mean, a variance or a probability that is
    not finite, or a negative variance, is a :class:`~uqkit.exceptions.DivergenceError`, never a
    NaN handed back.

    Parameters
    ----------
    prediction : RegressionPrediction or ClassificationPrediction
    owner : str
        Name of the estimator (for the message).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> pred = SimpleNamespace(mean=np.array([0.0, np.inf]), total=np.ones(2))
    >>> try:
    ...     check_prediction(pred, "DeepEnsembleRegressor")
    ... except DivergenceError as err:
    ...     print(str(err)[:54])
    DeepEnsembleRegressor predicted a mean of inf at (1,):
    """
    if hasattr(prediction, "probs"):
        values = {"probability": np.asarray(prediction.probs)}
    else:
        values = {"mean": np.asarray(prediction.mean), "variance": np.asarray(prediction.total)}
    for what, array in values.items():
        bad = ~np.isfinite(array)
        if what == "variance":
            bad |= array < 0
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DivergenceError(
                f"{owner} predicted a {what} of {float(array[index]):g} at {index}: the model "
                "diverged or the input is far outside the training range. Refit with a lower "
                "lr, or pass inputs closer to the training range."
            )
    return prediction
