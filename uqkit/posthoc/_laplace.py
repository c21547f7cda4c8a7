"""The Laplace approximation of a trained network, on laplace-torch (Daxberger et al., NeurIPS
2021; MacKay, 1992): uqkit trains (or adopts) the network and adapts laplace-torch, it does not
reimplement it."""

from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQRegressorMixin, check_fitted
from uqkit.exceptions import DivergenceError, InvalidInputError, ModelFileError
from uqkit.losses import CrossEntropyMemberLoss, GaussianMemberLoss
from uqkit.nn import StackedModule, gaussian_head
from uqkit.posthoc._base import BasePostHoc
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.training import ClassificationTargets, RegressionTargets, check_prediction

__all__ = ["LaplaceClassifier", "LaplaceRegressor", "import_laplace"]

# the key of the generator of the GLM predictive samples (a stream of the fit's entropy)
SAMPLE_STREAM = 2**32 - 3


def import_laplace():
    """laplace-torch's ``Laplace`` factory, or an ImportError naming the extra to install."""
    try:
        from laplace import Laplace
    except ImportError as err:
        raise ImportError(
            "The Laplace estimators need laplace-torch: pip install 'uqkit[laplace]'."
        ) from err
    return Laplace


class _MeanOutput(nn.Module):
    """The first ``d`` outputs (the means) of a Gaussian network."""

    def __init__(self, network: nn.Module, d: int) -> None:
        super().__init__()
        self.network, self.d = network, d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)[..., : self.d]


class BaseLaplace(BasePostHoc):
    """Shared implementation of :class:`LaplaceRegressor` and :class:`LaplaceClassifier`."""

    _parameter_constraints: dict = {
        **BasePostHoc._parameter_constraints,
        "subset_of_weights": [StrOptions({"last_layer", "all"})],
        "hessian_structure": [StrOptions({"diag", "kron", "full"})],
        "prior_precision": [StrOptions({"marglik"}), Interval(Real, 0, None, closed="neither")],
    }

    def fit(self, X, y=None, sample_weight=None, *, X_val=None, y_val=None):
        """Train the network (the shared pipeline, one member), then fit the Laplace
        approximation on the training rows; see :meth:`uqkit.training.StackedEstimator.fit`.
        ``sample_weight`` weights the training of the network only (laplace-torch's Hessian
        counts every row once)."""
        import_laplace()
        data = self._train_members(X, y, sample_weight, X_val, y_val)
        self._fit_laplace(data.X, data.y)
        return self

    def _after_adopt(self, X, y) -> None:
        import_laplace()
        self._fit_laplace(self._scaled_tensor(X),
                          torch.as_tensor(self._encode_targets(np.asarray(y), fit=False)))

    # -- laplace-torch ---------------------------------------------------------------------
    def _laplace_model(self) -> nn.Module:
        raise NotImplementedError

    def _laplace_options(self, Xs: torch.Tensor, y: torch.Tensor) -> dict:
        return {}

    def _fit_laplace(self, Xs: torch.Tensor, y: torch.Tensor) -> None:
        """``laplace_`` from laplace-torch on the scaled training rows ``(Xs, y)``."""
        if self.subset_of_weights == "last_layer" and not any(
            isinstance(m, nn.Linear) for m in self._network().modules()
        ):
            raise InvalidInputError(
                f"{type(self).__name__}: last-layer Laplace needs a module whose last layer is "
                "an nn.Linear; use subset_of_weights='all'."
            )
        Laplace = import_laplace()
        model = self._laplace_model().eval()
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        target_dtype = Xs.dtype if self._regression else torch.long
        targets = y.to(target_dtype).to(Xs.device)
        if isinstance(Xs, torch.Tensor):
            data = torch.utils.data.TensorDataset(Xs, targets)
        else:  # rows read from a memmap or a Dataset, a batch at a time
            data = Xs.dataset(targets)
        loader = torch.utils.data.DataLoader(data, batch_size=self.batch_size, shuffle=False)
        prior = 1.0 if self.prior_precision == "marglik" else float(self.prior_precision)
        laplace = Laplace(
            model,
            "regression" if self._regression else "classification",
            subset_of_weights=self.subset_of_weights,
            hessian_structure=self.hessian_structure,
            prior_precision=prior,
            **self._laplace_options(Xs, y),
        )
        laplace.fit(loader, progress_bar=False)
        if self.prior_precision == "marglik":  # type-II maximum likelihood (Sec. 2.3 of the paper)
            with warnings.catch_warnings():  # a reminder about link_approx, unused by marglik
                warnings.filterwarnings("ignore", message="By default `link_approx`")
                laplace.optimize_prior_precision(method="marglik", pred_type="glm")
        self.laplace_ = laplace
        # laplace-torch's last-layer extractor passes features through a forward hook that
        # stores them on the model: one prediction at a time per fitted approximation
        self._laplace_lock = threading.Lock()
        self.prior_precision_ = float(laplace.prior_precision.detach().flatten()[0])

    def save(self, path: str | Path) -> Path:
        """Not supported: laplace-torch keeps its posterior in structure-specific objects
        (Kronecker factors, eigendecompositions) that uqkit cannot write without pickle.

        Raises
        ------
        ModelFileError
            Always; refit from the data (or ``from_module`` with the saved network).
        """
        check_fitted(self, "laplace_")
        raise ModelFileError(
            f"{type(self).__name__} cannot be saved: laplace-torch's posterior (Kronecker "
            "factors, eigendecompositions) has no pickle-free form. Save the network instead "
            "(e.g. fit a DeepEnsemble with n_members=1, or torch.save the module) and rebuild "
            f"the approximation with {type(self).__name__}.from_module(module, X, y)."
        )

    def _fitted_attributes(self) -> list[str]:
        return [name for name in super()._fitted_attributes() if name != "laplace_"]


class LaplaceRegressor(UQRegressorMixin, RegressionTargets, BaseLaplace):
    """Laplace approximation of a Gaussian regression network (Daxberger et al., 2021, on
    laplace-torch; MacKay, 1992).

    A network with a mean and a variance head is trained on the Gaussian NLL; laplace-torch then
    fits a Gaussian posterior over the weights of the mean output around the trained ones
    (Sec. 2.1, Eq. 2: precision = Hessian of the loss + prior precision), the prior precision
    chosen by maximising the marginal likelihood (Sec. 2.3, Eq. 3), and predicts with the
    linearised (GLM) predictive (Sec. 2.4, Eq. 5): the mean is the network's, the epistemic
    variance :math:`J(x)\\,\\Sigma\\,J(x)^\\top`. laplace-torch's likelihood is homoscedastic: its
    noise scale is set to the root mean variance the network predicts on the training rows;
    the aleatoric variance of the prediction is the network's own (heteroscedastic) variance.

    Parameters
    ----------
    hidden_layers, activation, lr, weight_decay, batch_size, epochs, early_stopping, \
validation_fraction, patience, feature_scaling, min_variance, device, dtype, random_state, \
verbose, predict_batch_size
        As for :class:`~uqkit.ensemble.DeepEnsembleRegressor` (``batch_size`` is also the
        batch of laplace-torch's Hessian).
    subset_of_weights : {"last_layer", "all"}, default="last_layer"
        Weights under the Laplace posterior: the mean's output layer or every weight.
    hessian_structure : {"diag", "kron", "full"}, default="kron"
        Structure of the Hessian approximation (generalised Gauss-Newton); ``"full"`` of every
        weight is quadratic in their number.
    prior_precision : "marglik" or float, default="marglik"
        Precision of the isotropic Gaussian prior, or ``"marglik"`` to choose it by the
        marginal likelihood.
    module : class, callable or str, optional
        ``module(n_features, 2 * n_targets, **module_kwargs) -> torch.nn.Module`` (means, then
        raw variances); only with ``subset_of_weights="all"``. A class, a function or a
        ``"package.module:QualName"`` reference.
    module_kwargs : dict, optional
        JSON keyword arguments of ``module``.

    Attributes
    ----------
    stack_ : torch.nn.Module
        The trained network (a one-member stack).
    laplace_ : laplace.baselaplace.BaseLaplace
        laplace-torch's fitted approximation (over the mean output, in standardised units).
    prior_precision_ : float

    Notes
    -----
    A fitted model cannot be saved (:meth:`save` raises ModelFileError): laplace-torch's
    posterior has no pickle-free form.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(200, 1))
    >>> y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=200)
    >>> model = LaplaceRegressor(epochs=30, random_state=0).fit(X, y)
    >>> pred = model.predict_uncertainty(X[:5])
    >>> pred.distribution, bool((pred.epistemic > 0).all())
    ('normal', True)
    """

    _parameter_constraints: dict = {
        **BaseLaplace._parameter_constraints,
        "min_variance": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        subset_of_weights: str = "last_layer",
        hessian_structure: str = "kron",
        prior_precision: str | float = "marglik",
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
        self.subset_of_weights = subset_of_weights
        self.hessian_structure = hessian_structure
        self.prior_precision = prior_precision
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

    def _laplace_model(self) -> nn.Module:
        d = self.n_outputs_
        network = self._network()
        if isinstance(self.stack_, StackedModule):
            if self.subset_of_weights == "last_layer":
                raise InvalidInputError(
                    "LaplaceRegressor with a user module supports subset_of_weights='all' "
                    "only: the mean and variance share the module's last layer."
                )
            return _MeanOutput(network, d)
        last = network[-1]  # the built-in MLP: keep the mean rows of the output layer
        mean_layer = nn.Linear(last.in_features, d, dtype=last.weight.dtype,
                               device=last.weight.device)
        with torch.no_grad():
            mean_layer.weight.copy_(last.weight[:d])
            mean_layer.bias.copy_(last.bias[:d])
        return nn.Sequential(*list(network)[:-1], mean_layer)

    def _laplace_options(self, Xs: torch.Tensor, y: torch.Tensor) -> dict:
        network = self._network()
        with torch.no_grad():
            if isinstance(Xs, torch.Tensor):
                _, var = gaussian_head(network(Xs), self.min_variance)
                return {"sigma_noise": float(var.mean().sqrt())}
            total = 0.0  # rows read from a memmap or a Dataset: the mean batch by batch
            for start in range(0, len(Xs), self.predict_batch_size):
                _, var = gaussian_head(network(Xs[start : start + self.predict_batch_size]),
                                       self.min_variance)
                total += float(var.double().sum())
        return {"sigma_noise": (total / (len(Xs) * var.shape[-1])) ** 0.5}

    @torch.no_grad()
    def predict_uncertainty(self, X) -> RegressionPrediction:
        """GLM predictive of the mean, with the network's variance as the aleatoric part.

        Returns
        -------
        RegressionPrediction
            ``distribution="normal"``; ``epistemic`` is the diagonal of laplace-torch's
            functional variance, in y's units.
        """
        check_fitted(self, "laplace_")
        Xs = self._scaled_tensor(X)
        network = self._network().eval()
        means, aleatoric, epistemic = [], [], []
        for start in range(0, len(Xs), self.predict_batch_size):
            xb = Xs[start : start + self.predict_batch_size]
            with torch.enable_grad(), self._laplace_lock, _linear_algebra(self):
                f_mu, f_var = self.laplace_(xb, pred_type="glm")
            _, var = gaussian_head(network(xb), self.min_variance)
            means.append(f_mu.double().cpu())
            epistemic.append(torch.diagonal(f_var, dim1=-2, dim2=-1).double().cpu())
            aleatoric.append(var.double().cpu())
        mean, alea, epi, scale, shift = self._target_units(
            *(torch.cat(part).numpy() for part in (means, aleatoric, epistemic))
        )
        prediction = RegressionPrediction.normal(mean, alea, epi).rescale(scale, shift)
        return check_prediction(prediction, type(self).__name__)


@contextmanager
def _linear_algebra(estimator):
    """laplace-torch's predictive covariance as a uqkit error when it is not positive definite
    (inputs far outside the training range make the linearised covariance numerically
    singular: torch's LinAlgError from a Cholesky)."""
    try:
        yield
    except torch.linalg.LinAlgError as err:
        raise DivergenceError(
            f"{type(estimator).__name__}: the Laplace predictive covariance is not positive "
            f"definite on these inputs ({str(err).splitlines()[0][:120]}). Inputs far outside "
            "the training range make the linearised covariance numerically singular; pass "
            "inputs closer to the training range."
        ) from err


class LaplaceClassifier(UQClassifierMixin, ClassificationTargets, BaseLaplace):
    """Laplace approximation of a softmax classifier (Daxberger et al., 2021, on laplace-torch).

    laplace-torch fits a Gaussian posterior over the (last-layer or all) weights around the
    trained ones (Sec. 2.1, Eq. 2), the prior precision by the marginal likelihood (Sec. 2.3,
    Eq. 3); ``n_samples`` draws of the linearised (GLM) predictive's logits (Sec. 2.4, Eq. 5)
    are pushed through the softmax and kept as members.

    Parameters
    ----------
    hidden_layers, activation, subset_of_weights, hessian_structure, prior_precision, lr, \
weight_decay, batch_size, epochs, early_stopping, validation_fraction, patience, \
feature_scaling, device, dtype, random_state, verbose, predict_batch_size
        As for :class:`LaplaceRegressor`.
    n_samples : int, default=100
        Draws of the GLM predictive; the member axis. Seeded from ``random_state_``, so every
        call gives the same prediction.
    module : class, callable or str, optional
        ``module(n_features, n_classes, **module_kwargs) -> torch.nn.Module`` returning logits
        (its last layer an ``nn.Linear`` for last-layer Laplace); a class, a function or a
        ``"package.module:QualName"`` reference.
    module_kwargs : dict, optional
        JSON keyword arguments of ``module``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    stack_ : torch.nn.Module
    laplace_ : laplace.baselaplace.BaseLaplace
    prior_precision_ : float

    Notes
    -----
    A fitted model cannot be saved (:meth:`save` raises ModelFileError).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> model = LaplaceClassifier(n_samples=20, epochs=20, random_state=0).fit(X, y)
    >>> model.predict_uncertainty(X[:3]).member_probs.shape
    (20, 3, 2)
    """

    _parameter_constraints: dict = {
        **BaseLaplace._parameter_constraints,
        "n_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        subset_of_weights: str = "last_layer",
        hessian_structure: str = "kron",
        prior_precision: str | float = "marglik",
        n_samples: int = 100,
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
        self.subset_of_weights = subset_of_weights
        self.hessian_structure = hessian_structure
        self.prior_precision = prior_precision
        self.n_samples = n_samples
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

    def _laplace_model(self) -> nn.Module:
        return self._network()

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """``n_samples`` GLM predictive draws of the class probabilities, kept as members.

        Returns
        -------
        ClassificationPrediction
            ``probs`` (n, C) and ``member_probs`` (n_samples, n, C), columns as ``classes_``.
        """
        check_fitted(self, "laplace_")
        Xs = self._scaled_tensor(X)
        generator = torch.Generator(device=Xs.device).manual_seed(
            derive_seed(self.random_state_, SAMPLE_STREAM)
        )
        samples = []
        for start in range(0, len(Xs), self.predict_batch_size):
            with self._laplace_lock, _linear_algebra(self):
                draws = self.laplace_.predictive_samples(
                    Xs[start : start + self.predict_batch_size], pred_type="glm",
                    n_samples=self.n_samples, generator=generator,
                )
            samples.append(draws.detach().double().cpu())
        prediction = ClassificationPrediction.from_members(
            torch.cat(samples, dim=1).numpy(), classes=self.classes_
        )
        return check_prediction(prediction, type(self).__name__)
