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
)
from uqkit._random import SPLIT_STREAM, derive_seed
from uqkit.base import UQEstimator
from uqkit.exceptions import DivergenceError, InvalidInputError, ModelFileError
from uqkit.training._member_data import MemberData
from uqkit.training._ray_backend import RayBackend

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

    def _feature_scaler(self, X: np.ndarray) -> Standardizer:
        return Standardizer.fit(X, mode=getattr(self, "feature_scaling", "column"))

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
        X, y = self._check_X_y(X, y, regression=self._regression)
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

        owner = type(self).__name__
        w_train = normalised_weights(weights, train_rows, "training", owner)
        w_val = None
        if weights is not None and val_rows is not None:
            w_val = normalised_weights(weights, val_rows, "held-out validation", owner)
        return MemberData(
            weight=None if w_train is None else tensor(w_train),
            weight_val=None if w_val is None else tensor(w_val),
            X=tensor(Xs[train_rows]),
            y=self._target_tensor(y_encoded[train_rows], dtype),
            X_val=None if X_val_s is None else tensor(X_val_s),
            y_val=None if y_val_enc is None else self._target_tensor(y_val_enc, dtype),
        )

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
