"""SWA-Gaussian (Maddox, Izmailov, Garipov, Vetrov & Wilson, NeurIPS 2019): the moments of the
SGD iterates after a burn-in, a Gaussian over the weights with a low-rank plus diagonal
covariance, sampled at prediction. Built on ``torch.optim.swa_utils``."""

from __future__ import annotations

import collections
import copy
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch.optim.swa_utils import SWALR, AveragedModel, update_bn

from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQRegressorMixin, check_fitted
from uqkit.losses import CrossEntropyMemberLoss, GaussianMemberLoss
from uqkit.posthoc._base import (
    BasePostHoc,
    categorical_prediction,
    gaussian_prediction,
    has_batchnorm,
    plain_network,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.training import ClassificationTargets, RegressionTargets

__all__ = ["SWAGClassifier", "SWAGRegressor"]

# keys of the SWA phase's data order and of the weight samples (streams of the fit's entropy)
SWA_STREAM, SAMPLE_STREAM = 2**32 - 4, 2**32 - 5
# the sample of training rows kept for BatchNorm statistics when the rows come from a memmap or
# a Dataset (an in-memory array keeps all of them)
BN_STREAM, BN_ROWS = 2**32 - 6, 4096


class BaseSWAG(BasePostHoc):
    """Shared implementation of :class:`SWAGRegressor` and :class:`SWAGClassifier`."""

    _parameter_constraints: dict = {
        **BasePostHoc._parameter_constraints,
        "swa_epochs": [Interval(Integral, 2, None, closed="left")],
        "swa_lr": [Interval(Real, 0, None, closed="neither")],
        "max_rank": [Interval(Integral, 1, None, closed="left")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "scale": [Interval(Real, 0, None, closed="left")],
    }

    def fit(self, X, y=None, sample_weight=None, *, X_val=None, y_val=None):
        """Train the network (the burn-in, by the shared pipeline), then run ``swa_epochs``
        epochs of SGD at the constant rate ``swa_lr`` collecting the SWAG moments; see
        :meth:`uqkit.training.StackedEstimator.fit` for the parameters (``sample_weight``
        weights the burn-in only)."""
        data = self._train_members(X, y, sample_weight, X_val, y_val)
        self._collect(data.X, data.y)
        return self

    def _after_adopt(self, X, y) -> None:
        Xs = self._scaled_tensor(X)
        target = self._target_tensor(self._encode_targets(y, fit=False), Xs.dtype)
        self._collect(Xs, target)

    def _collect(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """The SWA phase (Maddox et al., 2019, Algorithm 1): after each epoch the iterate
        updates the first moment (``AveragedModel``), the second moment and the deviation
        matrix of the last ``max_rank`` iterates from the running mean."""
        network = self._network().train()
        loss_fn = self._loss()
        optimizer = torch.optim.SGD(network.parameters(), lr=self.swa_lr, momentum=0.9,
                                    weight_decay=self.weight_decay)
        scheduler = SWALR(optimizer, swa_lr=self.swa_lr, anneal_epochs=1)
        averaged = AveragedModel(network)
        generator = torch.Generator().manual_seed(derive_seed(self.random_state_, SWA_STREAM))
        second = torch.zeros_like(parameters_to_vector(network.parameters())).detach()
        deviations: collections.deque = collections.deque(maxlen=self.max_rank)
        for _ in range(self.swa_epochs):
            order = torch.randperm(len(X), generator=generator).to(X.device)
            for start in range(0, len(X), self.batch_size):
                rows = order[start : start + self.batch_size]
                optimizer.zero_grad()
                loss_fn(network(X[rows])[None], y[rows][None]).sum().backward()
                optimizer.step()
            scheduler.step()
            averaged.update_parameters(network)
            with torch.no_grad():
                theta = parameters_to_vector(network.parameters())
                second += (theta**2 - second) / int(averaged.n_averaged)
                mean = parameters_to_vector(averaged.module.parameters())
                deviations.append(theta - mean)
        self.bn_inputs_ = self._bn_inputs(X) if has_batchnorm(network) else None
        swa = averaged.module.eval()
        self._update_bn(swa)
        self.network_ = swa
        self.swa_mean_ = parameters_to_vector(swa.parameters()).detach().clone()
        self.swa_sq_mean_ = second
        self.swa_deviations_ = torch.stack(list(deviations))

    def _bn_inputs(self, X) -> torch.Tensor:
        """The rows the BatchNorm statistics of each draw are computed on: every training row
        of an in-memory array; for rows read from a memmap or a Dataset, a seeded sample of at
        most ``BN_ROWS`` of them (so the fitted model never holds the whole training set)."""
        if isinstance(X, torch.Tensor):
            return X.detach().clone()
        rng = np.random.default_rng(derive_seed(self.random_state_, BN_STREAM))
        rows = np.sort(rng.choice(len(X), size=min(len(X), BN_ROWS), replace=False))
        return X[torch.as_tensor(rows)]

    def _update_bn(self, network: nn.Module) -> None:
        """Recompute BatchNorm statistics for weights ``network`` on the training rows."""
        if self.bn_inputs_ is None:
            return
        batches = list(torch.split(self.bn_inputs_, self.batch_size))
        update_bn(batches, network)
        network.eval()

    def _build_module(self, name: str):
        if name == "network_":
            spec = self._spec()
            return plain_network(spec.build(self._member_seeds()), spec)
        return super()._build_module(name)

    @torch.no_grad()
    def _sample_outputs(self, X) -> torch.Tensor:
        """Raw outputs of ``n_samples`` weight draws, ``(n_samples, n_rows, n_outputs)``.

        Draw ``s`` (Maddox et al., 2019, Sec. 4.2, the low-rank plus diagonal sample) is
        :math:`\\theta_{SWA} + \\sqrt{\\text{scale}}\\,(\\tfrac{1}{\\sqrt2}\\Sigma_{diag}^{1/2}z_1
        + \\tfrac{1}{\\sqrt{2(K-1)}}\\hat D z_2)` with :math:`z_1, z_2` from
        ``derive_seed(random_state_, SAMPLE_STREAM, s)``; ``scale=0`` is SWA itself.
        """
        check_fitted(self, "network_")
        Xs = self._scaled_tensor(X)
        mean, deviations = self.swa_mean_, self.swa_deviations_
        diag = (self.swa_sq_mean_ - mean**2).clamp_min(0.0)  # rounding can make it -0
        rank = len(deviations)
        network = copy.deepcopy(self.network_).eval()
        outputs = []
        for s in range(self.n_samples):
            generator = torch.Generator().manual_seed(
                derive_seed(self.random_state_, SAMPLE_STREAM, s))
            z1 = torch.randn(len(mean), generator=generator, dtype=mean.dtype).to(mean.device)
            z2 = torch.randn(rank, generator=generator, dtype=mean.dtype).to(mean.device)
            draw = diag.sqrt() * z1 / math.sqrt(2.0)
            if rank > 1:
                draw = draw + deviations.T @ z2 / math.sqrt(2.0 * (rank - 1))
            vector_to_parameters(mean + math.sqrt(self.scale) * draw, network.parameters())
            self._update_bn(network)
            outputs.append(torch.cat([
                network(Xs[start : start + self.predict_batch_size]).double().cpu()
                for start in range(0, len(Xs), self.predict_batch_size)
            ]))
        return self._check_outputs(torch.stack(outputs))


_SWAG_PARAMETERS = """
    swa_epochs : int, default=20
        Epochs of the SWA phase after the burn-in (``epochs``, with early stopping), one
        moment update per epoch.
    swa_lr : float, default=0.01
        The constant SGD rate of the SWA phase (momentum 0.9, on standardised data), through
        ``torch.optim.swa_utils.SWALR``.
    max_rank : int, default=20
        Rank ``K`` of the deviation matrix (the last ``K`` iterates).
    n_samples : int, default=30
        Weight draws at prediction; the member axis. Seeded from ``random_state_``.
    scale : float, default=1.0
        Multiplies the covariance; 0 gives SWA (the averaged weights) in every draw."""


class SWAGRegressor(UQRegressorMixin, RegressionTargets, BaseSWAG):
    __doc__ = """SWA-Gaussian for regression (Maddox et al., NeurIPS 2019).

    A Gaussian network (mean and variance heads, Gaussian NLL) is trained as a burn-in; SGD at
    a constant rate then continues for ``swa_epochs`` epochs, and the mean, the second moment
    and the last ``max_rank`` deviations of its iterates define a Gaussian over the weights
    with covariance :math:`\\tfrac12(\\Sigma_{diag} + \\hat D\\hat D^\\top/(K-1))` (Sec. 4.2).
    ``n_samples`` draws of it are the members of the prediction (a mixture of Gaussians);
    a module with BatchNorm gets its statistics recomputed on the training rows for each draw
    (``torch.optim.swa_utils.update_bn``).

    Parameters
    ----------
    hidden_layers, activation, lr, weight_decay, batch_size, epochs, early_stopping, \
validation_fraction, patience, feature_scaling, min_variance, module, module_kwargs, device, \
dtype, random_state, verbose, predict_batch_size
        As for :class:`~uqkit.ensemble.DeepEnsembleRegressor` (``weight_decay`` also in the SWA
        phase).""" + _SWAG_PARAMETERS + """

    Attributes
    ----------
    stack_ : torch.nn.Module
        The network after the burn-in.
    network_ : torch.nn.Module
        The SWA network (averaged weights).
    swa_mean_, swa_sq_mean_ : Tensor of shape (n_weights,)
        First and second moments of the weights.
    swa_deviations_ : Tensor of shape (K, n_weights)
    bn_inputs_ : Tensor or None
        Training rows (scaled) for the BatchNorm statistics of each draw; None without BatchNorm.
        A fit from a memmap or a Dataset keeps a seeded sample of at most 4096 of them.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(200, 1))
    >>> y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=200)
    >>> model = SWAGRegressor(epochs=30, swa_epochs=5, n_samples=8, random_state=0).fit(X, y)
    >>> model.predict_uncertainty(X[:5]).member_means.shape
    (8, 5)
    """

    _parameter_constraints: dict = {
        **BaseSWAG._parameter_constraints,
        "min_variance": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        swa_epochs: int = 20,
        swa_lr: float = 0.01,
        max_rank: int = 20,
        n_samples: int = 30,
        scale: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 100,
        epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 20,
        feature_scaling: str = "auto",
        min_variance: float = 1e-6,
        module=None,
        module_kwargs: dict | None = None,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
        predict_batch_size: int = 8192,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.swa_epochs = swa_epochs
        self.swa_lr = swa_lr
        self.max_rank = max_rank
        self.n_samples = n_samples
        self.scale = scale
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.feature_scaling = feature_scaling
        self.min_variance = min_variance
        self.module = module
        self.module_kwargs = module_kwargs
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.predict_batch_size = predict_batch_size

    def _loss(self):
        return GaussianMemberLoss(min_variance=self.min_variance)

    def predict_uncertainty(self, X) -> RegressionPrediction:
        """Mixture of the Gaussians of ``n_samples`` weight draws.

        Returns
        -------
        RegressionPrediction
            ``distribution="mixture"``, ``member_means``/``member_vars`` of shape
            ``(n_samples, n_rows)`` (``(..., n_targets)`` for multi-output y), in y's units.
        """
        return gaussian_prediction(self, self._sample_outputs(X), self.min_variance)


class SWAGClassifier(UQClassifierMixin, ClassificationTargets, BaseSWAG):
    __doc__ = """SWA-Gaussian for classification (Maddox et al., NeurIPS 2019).

    As :class:`SWAGRegressor` for a softmax network trained with cross-entropy: the predictive
    probabilities average those of ``n_samples`` weight draws (Sec. 4.3, the Bayesian model
    average), which are kept as members.

    Parameters
    ----------
    hidden_layers, activation, lr, weight_decay, batch_size, epochs, early_stopping, \
validation_fraction, patience, feature_scaling, module, module_kwargs, device, dtype, \
random_state, verbose, predict_batch_size
        As for :class:`~uqkit.ensemble.DeepEnsembleClassifier`.""" + _SWAG_PARAMETERS + """

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    network_ : torch.nn.Module
    swa_mean_, swa_sq_mean_, swa_deviations_, bn_inputs_
        As for :class:`SWAGRegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> model = SWAGClassifier(epochs=20, swa_epochs=5, n_samples=6, random_state=0).fit(X, y)
    >>> model.predict_uncertainty(X[:3]).member_probs.shape
    (6, 3, 2)
    """

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        swa_epochs: int = 20,
        swa_lr: float = 0.01,
        max_rank: int = 20,
        n_samples: int = 30,
        scale: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 100,
        epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 20,
        feature_scaling: str = "auto",
        module=None,
        module_kwargs: dict | None = None,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
        predict_batch_size: int = 8192,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.swa_epochs = swa_epochs
        self.swa_lr = swa_lr
        self.max_rank = max_rank
        self.n_samples = n_samples
        self.scale = scale
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.feature_scaling = feature_scaling
        self.module = module
        self.module_kwargs = module_kwargs
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.predict_batch_size = predict_batch_size

    def _loss(self):
        return CrossEntropyMemberLoss()

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Averaged probabilities of ``n_samples`` weight draws, kept as members.

        Returns
        -------
        ClassificationPrediction
            ``probs`` (n, C) and ``member_probs`` (n_samples, n, C), columns as ``classes_``.
        """
        return categorical_prediction(self, self._sample_outputs(X))
