"""Monte Carlo dropout (Gal & Ghahramani, ICML 2016): dropout kept active at prediction, the
passes kept as a member axis."""

from __future__ import annotations

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval

from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQRegressorMixin, check_fitted
from uqkit.losses import CrossEntropyMemberLoss, GaussianMemberLoss
from uqkit.posthoc._base import (
    BasePostHoc,
    categorical_prediction,
    gaussian_prediction,
    refuse_batchnorm,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.training import ClassificationTargets, RegressionTargets

__all__ = ["MCDropoutClassifier", "MCDropoutRegressor"]

# the key of the dropout passes of predict (a stream of the fit's entropy, not of a member)
PASS_STREAM = 2**32 - 2


class BaseMCDropout(BasePostHoc):
    """Shared implementation of :class:`MCDropoutRegressor` and :class:`MCDropoutClassifier`."""

    _parameter_constraints: dict = {
        **BasePostHoc._parameter_constraints,
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "n_passes": [Interval(Integral, 1, None, closed="left")],
    }

    def _network_dropout(self) -> float:
        return self.dropout

    def _check_architecture(self, n_features: int | None = None) -> None:
        super()._check_architecture(n_features)
        if n_features is not None and self.module is not None:  # before training
            refuse_batchnorm(self, self._member_factory()(n_features, 2), self._BATCHNORM)

    def _after_adopt(self, X, y) -> None:
        refuse_batchnorm(self, self.module.module, self._BATCHNORM)

    _BATCHNORM = "keeps the module in training mode at prediction"

    @torch.no_grad()
    def _pass_outputs(self, X) -> torch.Tensor:
        """Raw outputs of ``n_passes`` dropout passes, ``(n_passes, n_samples, n_outputs)``.

        Pass ``t`` draws its masks from ``derive_seed(random_state_, PASS_STREAM, t)``, made for
        this call: the same ``X`` gives the same prediction on every call, and concurrent calls
        share no generator. With the built-in MLP a pass drops the same units for every row,
        i.e. it is one sample of the weights, :math:`W_l = M_l\\,\\mathrm{diag}(z_l)` (Sec. 3),
        so a row's prediction does not depend on the other rows of ``X``. A user module draws
        its own ``nn.Dropout`` masks row by row.
        """
        check_fitted(self, "stack_")
        Xs = self._scaled_tensor(X)
        seeds = [derive_seed(self.random_state_, PASS_STREAM, t) for t in range(self.n_passes)]
        if self.module is None:
            forward = self._mlp_passes(seeds, Xs.dtype)
        else:
            forward = self._module_passes(seeds)
        outputs = []
        for start in range(0, len(Xs), self.predict_batch_size):
            xb = Xs[start : start + self.predict_batch_size]
            outputs.append(forward(xb.expand(self.n_passes, *xb.shape)).double().cpu())
        return self._check_outputs(torch.cat(outputs, dim=1))

    def _mlp_passes(self, seeds: list[int], dtype: torch.dtype):
        """The built-in MLP with one dropout mask per pass and hidden layer, shared by rows."""
        stack, p, T = self.stack_, self.dropout, self.n_passes
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        masks = []
        for layer in stack.layers[:-1]:
            width = layer.weight.shape[-1]
            keep = torch.stack([torch.rand(1, width, generator=g, dtype=dtype) for g in generators])
            masks.append(((keep >= p) / (1.0 - p)).to(self.device_))

        def forward(x: torch.Tensor) -> torch.Tensor:
            for layer, mask in zip(stack.layers[:-1], masks, strict=True):
                x = stack.activation(torch.baddbmm(layer.bias.expand(T, -1, -1), x,
                                                   layer.weight.expand(T, -1, -1))) * mask
            last = stack.layers[-1]
            return torch.baddbmm(last.bias.expand(T, -1, -1), x, last.weight.expand(T, -1, -1))

        return forward

    def _module_passes(self, seeds: list[int]):
        """``n_passes`` copies of the user module in training mode, each with its generator."""
        passes = self._spec().build(seeds).to(self.device_)
        passes.load_state_dict({
            name: value.expand(self.n_passes, *value.shape[1:]).clone()
            for name, value in self.stack_.state_dict().items()
        })
        passes.seed_dropout(seeds, device=self.device_)
        return passes.train()


class MCDropoutRegressor(UQRegressorMixin, RegressionTargets, BaseMCDropout):
    """Monte Carlo dropout for regression (Gal & Ghahramani, ICML 2016).

    One Gaussian network (mean and variance heads, trained on the Gaussian NLL with dropout
    after each hidden layer) is evaluated ``n_passes`` times with dropout still active; each
    pass is a sample of the approximate posterior over weights, and the prediction is the
    uniform mixture of the passes' Gaussians: the mean is the Monte Carlo average of the pass
    means (Sec. 4, Eq. 6), the epistemic variance their spread (Eq. 8, whose homoscedastic
    noise term :math:`\\tau^{-1}` is replaced by the network's own variance head as aleatoric
    part, as in Kendall & Gal, 2017). Use ``weight_decay`` for the prior length-scale term of
    the objective (Eq. 3).

    Parameters
    ----------
    hidden_layers : tuple of int, default=(50,)
    activation : str, default="relu"
    dropout : float, default=0.1
        Drop probability after each hidden layer, in training and at prediction.
    n_passes : int, default=50
        Stochastic forward passes ``T`` at prediction; the member axis of the prediction.
    lr, weight_decay, batch_size, epochs, early_stopping, validation_fraction, patience, \
feature_scaling, min_variance, device, dtype, random_state, verbose, predict_batch_size
        As for :class:`~uqkit.ensemble.DeepEnsembleRegressor`.
    module : class, callable or str, optional
        ``module(n_features, 2 * n_targets, **module_kwargs) -> torch.nn.Module`` with its own
        ``nn.Dropout`` layers; modules with BatchNorm are refused (the whole module runs in
        training mode at prediction). A class, a function or a ``"package.module:QualName"``
        reference, saved as for :class:`~uqkit.ensemble.DeepEnsembleRegressor`.
    module_kwargs : dict, optional
        JSON keyword arguments of ``module``.

    Attributes
    ----------
    stack_ : torch.nn.Module
        The trained network (a one-member stack).
    history_ : list of dict
    random_state_ : int
        Seeds the training and the dropout masks of every pass.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(200, 1))
    >>> y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=200)
    >>> model = MCDropoutRegressor(n_passes=20, epochs=30, random_state=0).fit(X, y)
    >>> pred = model.predict_uncertainty(X[:5])
    >>> pred.member_means.shape, bool((pred.epistemic > 0).all())
    ((20, 5), True)
    """

    _parameter_constraints: dict = {
        **BaseMCDropout._parameter_constraints,
        "min_variance": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        dropout: float = 0.1,
        n_passes: int = 50,
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
        self.dropout = dropout
        self.n_passes = n_passes
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
        """Mixture of the ``n_passes`` dropout passes' Gaussians.

        Returns
        -------
        RegressionPrediction
            ``distribution="mixture"``, ``member_means``/``member_vars`` of shape
            ``(n_passes, n_samples)`` (``(..., n_targets)`` for multi-output y), in y's units.
        """
        return gaussian_prediction(self, self._pass_outputs(X), self.min_variance)


class MCDropoutClassifier(UQClassifierMixin, ClassificationTargets, BaseMCDropout):
    """Monte Carlo dropout for classification (Gal & Ghahramani, ICML 2016).

    A softmax network trained with dropout and cross-entropy is evaluated ``n_passes`` times
    with dropout active; the predictive probabilities are the average of the passes'
    probabilities (Sec. 4, Eq. 6 applied to the softmax), and the passes are kept as members,
    so the epistemic part is their mutual information.

    Parameters
    ----------
    hidden_layers, activation, dropout, n_passes, lr, weight_decay, batch_size, epochs, \
early_stopping, validation_fraction, patience, feature_scaling, module, module_kwargs, device, \
dtype, random_state, verbose, predict_batch_size
        As for :class:`MCDropoutRegressor`; ``module(n_features, n_classes)`` returns logits.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    stack_ : torch.nn.Module
    history_ : list of dict

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> model = MCDropoutClassifier(n_passes=10, epochs=20, random_state=0).fit(X, y)
    >>> model.predict_uncertainty(X[:3]).member_probs.shape
    (10, 3, 2)
    """

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        dropout: float = 0.1,
        n_passes: int = 50,
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
        self.dropout = dropout
        self.n_passes = n_passes
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
        """Averaged probabilities of the ``n_passes`` dropout passes, passes kept as members.

        Returns
        -------
        ClassificationPrediction
            ``probs`` (n, C) and ``member_probs`` (n_passes, n, C), columns as ``classes_``.
        """
        return categorical_prediction(self, self._pass_outputs(X))
