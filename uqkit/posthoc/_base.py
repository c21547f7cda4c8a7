"""What the post-hoc estimators share: the parameters of the network they train, the reading of
raw outputs as predictions, and adopting a module that was trained elsewhere.

A post-hoc method starts from one trained network. uqkit trains it with the shared pipeline
(:class:`uqkit.training.StackedEstimator`, a one-member stack), or ``from_module`` adopts a
network trained elsewhere; the method then adds its uncertainty on top.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from uqkit._data import check_positive_ints, resolve_device
from uqkit._random import derive_seed
from uqkit._trust import module_factory
from uqkit.base import check_fitted
from uqkit.exceptions import InvalidInputError
from uqkit.nn import ACTIVATIONS, StackedModule, StackSpec, gaussian_head
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.training import StackedEstimator, check_prediction

__all__ = [
    "Activation",
    "BasePostHoc",
    "categorical_prediction",
    "gaussian_prediction",
    "has_batchnorm",
    "plain_network",
    "refuse_batchnorm",
]


class _ModuleCopies:
    """``factory(in_features, out_features)`` returning a copy of one trained module; it lets
    the shared :class:`~uqkit.nn.StackedModule` hold a module that uqkit did not build."""

    # what saving says (uqkit._trust): an object is no importable reference to code
    unsavable_reason = (
        "it holds the network object given to from_module, not a reference to the code that "
        "builds it (keep the network's state dict and call from_module again after loading it)"
    )

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __call__(self, in_features: int, out_features: int) -> nn.Module:
        return copy.deepcopy(self.module)


class Activation(nn.Module):
    """An activation of :data:`~uqkit.nn.ACTIVATIONS` as a module (for ``nn.Sequential``)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ACTIVATIONS[self.name](x)


def plain_network(stack: nn.Module, spec: StackSpec) -> nn.Module:
    """Member 0 of a stack as a plain network ``(n, in) -> (n, out)``, a new copy.

    The built-in MLP becomes ``nn.Sequential`` of ``nn.Linear`` and activation modules (the
    form laplace-torch's last-layer extractor and ``torch.optim.swa_utils`` expect); a user
    module is rebuilt by its factory with member 0's weights, so that its BatchNorm layers are
    ordinary ``_BatchNorm`` modules.

    Examples
    --------
    >>> spec = StackSpec(in_features=2, out_features=1, hidden_layers=(4,))
    >>> stack = spec.build([0])
    >>> net = plain_network(stack, spec)
    >>> x = torch.randn(5, 2)
    >>> torch.allclose(net(x), stack(x[None])[0])
    True
    """
    dtype = next(stack.parameters()).dtype
    if isinstance(stack, StackedModule):
        network = spec.module_factory(spec.in_features, spec.out_features).to(dtype)
        network.load_state_dict(stack.member_state_dict(0))
        return network
    layers: list[nn.Module] = []
    for i, stacked in enumerate(stack.layers):
        linear = nn.Linear(stacked.weight.shape[1], stacked.weight.shape[2], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(stacked.weight[0].T)
            linear.bias.copy_(stacked.bias[0, 0])
        layers.append(linear)
        if i < len(stack.layers) - 1:
            layers.append(Activation(spec.activation))
    return nn.Sequential(*layers).to(next(stack.parameters()).device)


def gaussian_prediction(estimator, raw: torch.Tensor, min_variance: float) -> RegressionPrediction:
    """Raw Gaussian outputs ``(k, n, 2d)`` (standardised units) as the uniform mixture of their
    ``k`` Gaussians in y's units; ``k`` is a member axis (dropout passes, weight samples)."""
    mean, var = gaussian_head(raw, min_variance)
    mean, var, scale, shift = estimator._target_units(mean.numpy(), var.numpy())
    prediction = RegressionPrediction.mixture(mean, var).rescale(scale, shift)
    return check_prediction(prediction, type(estimator).__name__)


def categorical_prediction(estimator, raw: torch.Tensor) -> ClassificationPrediction:
    """Logits ``(k, n, C)`` as the uniform mixture of their ``k`` categoricals."""
    member_probs = torch.softmax(raw, dim=-1).numpy()
    prediction = ClassificationPrediction.from_members(member_probs, classes=estimator.classes_)
    return check_prediction(prediction, type(estimator).__name__)


class BasePostHoc(StackedEstimator):
    """One network trained by the shared pipeline (a one-member stack), or adopted with
    :meth:`from_module`; subclasses add the post-hoc uncertainty."""

    _parameter_constraints: dict = {
        "hidden_layers": [list, tuple],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "feature_scaling": [StrOptions({"auto", "column", "channel", "global", "none"})],
        "module": [callable, str, None],
        "module_kwargs": [dict, None],
        "device": [str, torch.device],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    _dropout = 0.0  # dropout of the trained network (MC dropout overrides it)
    _code_parameters = ("module",)

    def _n_outputs(self) -> int:
        return 2 * self.n_outputs_ if self._regression else len(self.classes_)

    def _loss(self):
        raise NotImplementedError

    def _check_architecture(self, n_features: int | None = None) -> None:
        check_positive_ints(self.hidden_layers, "hidden_layers")

    def _spec(self) -> StackSpec:
        return StackSpec(
            in_features=self.n_features_in_,
            out_features=self._n_outputs(),
            hidden_layers=check_positive_ints(self.hidden_layers, "hidden_layers"),
            activation=self.activation,
            dropout=self._network_dropout(),
            dtype=self.dtype,
            module_factory=self._member_factory(),
        )

    def _member_factory(self):
        """``factory(in_features, out_features)`` of ``module``/``module_kwargs`` (None: MLP)."""
        return module_factory(self.module, self.module_kwargs, type(self).__name__)

    def _network_dropout(self) -> float:
        return 0.0

    def _member_seeds(self) -> list[int]:
        return [derive_seed(self.random_state_, 0)]


    # -- one plain network -----------------------------------------------------------------
    def _network(self) -> nn.Module:
        """The trained network as a plain module on ``device_`` (a copy)."""
        check_fitted(self, "stack_")
        return plain_network(self.stack_, self._spec())

    def _scaled_tensor(self, X) -> torch.Tensor:
        """The scaled features of ``X``: a tensor, or for a memmap or a Dataset a view that
        gathers the rows of each slice (``NetworkEstimator._feature_rows``)."""
        dtype = next(self.stack_.parameters()).dtype
        return self._feature_rows(X, dtype)

    # -- adopting a trained module ---------------------------------------------------------
    @classmethod
    def from_module(cls, module: nn.Module, X, y, **params):
        """Wrap a network trained elsewhere, as if ``fit`` had trained it.

        The module maps features in their own units, ``(n, n_features)``, to raw outputs:
        logits ``(n, n_classes)`` for a classifier, means then raw variances
        (``softplus(raw) + min_variance``), ``(n, 2 * n_targets)``, for a regressor. No feature
        or target scaling is applied (``feature_scaling="none"``). ``X, y`` are the training
        data: they fix ``n_features_in_`` and ``classes_``, and the methods that need data
        (the Laplace Hessian, the SWA phase of SWAG) use them; the module is not retrained,
        except by SWAG's SWA phase.

        Parameters
        ----------
        module : torch.nn.Module
            The trained network; it is copied, never changed.
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) (or (n_samples, n_targets) for regression)
        **params
            Constructor parameters of the estimator (``module`` and ``feature_scaling`` are set
            here).

        Returns
        -------
        estimator
            A fitted estimator. It cannot be saved (its module is not a uqkit one).
        """
        if not isinstance(module, nn.Module):
            raise InvalidInputError(
                f"{cls.__name__}.from_module needs a torch.nn.Module; got {type(module).__name__}."
            )
        estimator = cls(**{**params, "module": _ModuleCopies(module), "feature_scaling": "none"})
        estimator._adopt(X, y)
        estimator._after_adopt(X, y)
        return estimator

    def _adopt(self, X, y) -> None:
        self._check_params()
        X, y = self._check_X_y(X, y, regression=self._regression)
        self._encode_targets(y)
        if self._regression:  # the module predicts in y's units
            self.y_mean_ = np.zeros(self.n_outputs_)
            self.y_scale_ = np.ones(self.n_outputs_)
        self.x_mean_ = np.zeros(X.shape[1])
        self.x_scale_ = np.ones(X.shape[1])
        self._resolve_random_state()
        self.device_ = resolve_device(self.device)
        stack = self._spec().build(self._member_seeds()).eval()
        with torch.no_grad():
            out = stack(torch.zeros(1, 1, X.shape[1], dtype=next(stack.parameters()).dtype))
        if out.shape[-1] != self._n_outputs():
            raise InvalidInputError(
                f"The module gives {out.shape[-1]} outputs per row but {type(self).__name__} "
                f"needs {self._n_outputs()} ("
                + ("means then raw variances of each target)."
                   if self._regression else "one logit per class).")
            )
        self.stack_ = stack.to(self.device_).eval()
        self.history_ = []

    def _after_adopt(self, X, y) -> None:
        """Fit the post-hoc part on the training data of an adopted module."""


def has_batchnorm(network: nn.Module) -> bool:
    """Whether ``network`` holds a BatchNorm layer."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.modules())


def refuse_batchnorm(estimator, network: nn.Module, what: str) -> None:
    """Refuse a user module with BatchNorm where ``what`` would use it in training mode."""
    if has_batchnorm(network):
        raise InvalidInputError(
            f"{type(estimator).__name__} {what}, and this module has BatchNorm layers, whose "
            "output would then depend on the other rows of the batch. Use a module without "
            "BatchNorm (e.g. LayerNorm), or SWAGClassifier/SWAGRegressor or a deep ensemble."
        )
