"""Deep ensembles for regression (Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017)."""

from __future__ import annotations

import copy
from numbers import Real

from sklearn.utils._param_validation import Interval

from uqkit.base import UQRegressorMixin
from uqkit.ensemble._base import BaseDeepEnsemble
from uqkit.ensemble._from_modules import (
    GaussianNoiseHead,
    adopt_modules,
    architecture,
    check_modules,
    raw_noise,
)
from uqkit.ensemble._mixture import GaussianMixtureMixin
from uqkit.exceptions import InvalidInputError
from uqkit.losses import GaussianMemberLoss
from uqkit.prediction import RegressionPrediction
from uqkit.training import RayBackend, RegressionTargets


class DeepEnsembleRegressor(UQRegressorMixin, GaussianMixtureMixin, RegressionTargets,
                            BaseDeepEnsemble):
    """Deep ensemble of Gaussian regression networks.

    Each member is an MLP with a mean head and a variance head (``softplus + min_variance``),
    trained on the Gaussian NLL (Lakshminarayanan et al., 2017, Eq. 1) from its own random
    initialisation and data order. The ensemble predicts the uniform mixture of member Gaussians
    (Sec. 2.4): mean :math:`\\mu = \\frac1k\\sum_i\\mu_i`, aleatoric variance
    :math:`\\frac1k\\sum_i\\sigma_i^2`, epistemic variance :math:`\\frac1k\\sum_i(\\mu_i-\\mu)^2`.
    Features and targets are standardised on the training data; predictions are in the units of y.

    Parameters
    ----------
    n_members : int, default=5
        Number of networks.
    hidden_layers : tuple of int, default=(50,)
        Hidden layer widths of each member.
    activation : str, default="relu"
        One of relu, tanh, silu/swish, gelu, elu, sigmoid, identity.
    dropout : float, default=0.0
        Dropout after each hidden layer during training.
    lr : float, default=0.01
        Adam learning rate. With early stopping, 0.01 reaches the published deep-ensemble NLL on
        the UCI benchmarks (``benchmarks/results/uci_defaults.md``); 1e-3 stops short.
    weight_decay : float, default=0.0
        Adam L2 penalty.
    batch_size : int, default=100
        Mini-batch size.
    epochs : int or "auto", default="auto"
        Maximum number of epochs. ``"auto"`` allows about 20,000 optimiser steps per member,
        at most 1000 epochs: early stopping ends small data sets first (a few hundred epochs);
        on large ones the step budget does (UCI protein, 37k training rows: 54 epochs).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training rows (or use ``X_val``/``y_val`` given
        to ``fit``) and restore each member to its epoch of lowest validation NLL. The held-out
        rows are not used for gradient steps; their indices are in ``validation_indices_``.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    patience : int, default=50
        Epochs without improvement before a member stops.
    adversarial : bool, default=False
        Fast-gradient-sign adversarial training (Sec. 2.3), step ``adversarial_eps`` × the range
        of each feature.
    adversarial_eps : float, default=0.01
    feature_scaling : {"auto", "column", "channel", "global", "none"}, default="auto"
        How features are standardised on the training data: each column on its own, each
        channel (index of axis 1) of N-D rows, one mean and scale for all values (use it for
        flattened pixels), or not at all. ``"auto"`` is ``"column"`` for 2-D input and
        ``"none"`` for N-D rows; ``"column"`` on N-D rows is refused. The statistics of a
        memmap or a Dataset are computed in one streaming pass.
    beta_nll : float, default=0.0
        β of the β-NLL loss (Seitzer et al., 2022); 0 is the plain Gaussian NLL.
    min_variance : float, default=1e-6
        Variance floor of each member (in standardised units).
    module : class, callable or str, optional
        A member factory replacing the built-in MLP: an ``nn.Module`` class, a function, or the
        importable reference ``"package.module:QualName"`` of one (resolved at fit). A member
        is ``module(n_features, n_outputs, **module_kwargs)``; it must output ``2 * n_targets``
        values (means, then raw variances). Vectorized with ``torch.func``. ``save`` writes the
        reference of a class or module-level function (a lambda or closure cannot be saved);
        ``uqkit.load(path, trust=["package"])`` imports it back.
    module_kwargs : dict, optional
        Keyword arguments of ``module``: JSON values (numbers, strings, booleans, None, lists
        and dicts of them; tuples arrive as lists), saved with the model.
    backend : {"vectorized", "serial", "ray"} or RayBackend, default="vectorized"
        How members are trained: all at once as one stacked model, one after another, or as Ray
        tasks (``"ray"``, or :class:`~uqkit.training.RayBackend` for a cluster address,
        per-member resources, retries, checkpoints and members per task). The same
        ``random_state`` gives the same members with any backend.
    device : str, default="auto"
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ...
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState, Generator or None
        Seeds every member (member ``i`` from ``derive_seed(random_state_, i)``).
    verbose : int, default=0
        0: nothing is written (the default, also inside ``GridSearchCV`` and
        ``cross_validate``); 1: progress, a bar on an interactive terminal, else at most one
        INFO line per tenth of the training on the ``uqkit`` logger; 2: also per-epoch detail
        (validation loss) at DEBUG. See the "Logging and progress" page of the docs.
    predict_batch_size : int, default=8192

    Attributes
    ----------
    stack_ : torch.nn.Module
        The trained members, stacked along their first axis.
    history_ : list of dict
        Per member: epochs trained, best epoch, train and validation loss per epoch.
    random_state_ : int
        The entropy this fit used (set even when ``random_state=None``).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.ensemble import DeepEnsembleRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(200, 1))
    >>> y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=200)
    >>> model = DeepEnsembleRegressor(n_members=3, epochs=30, verbose=0, random_state=0)
    >>> pred = model.fit(X, y).predict_uncertainty(X[:5])
    >>> pred.mean.shape, pred.epistemic.shape
    ((5,), (5,))
    """

    _parameter_constraints: dict = {
        **BaseDeepEnsemble._parameter_constraints,
        "beta_nll": [Interval(Real, 0, 1, closed="both")],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        n_members: int = 5,
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        dropout: float = 0.0,
        lr: float = 0.01,
        weight_decay: float = 0.0,
        batch_size: int = 100,
        epochs: int | str = "auto",
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 50,
        adversarial: bool = False,
        adversarial_eps: float = 0.01,
        feature_scaling: str = "auto",
        beta_nll: float = 0.0,
        min_variance: float = 1e-6,
        module=None,
        module_kwargs: dict | None = None,
        backend: str | RayBackend = "vectorized",
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
        predict_batch_size: int = 8192,
    ) -> None:
        self.n_members = n_members
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.adversarial = adversarial
        self.adversarial_eps = adversarial_eps
        self.feature_scaling = feature_scaling
        self.beta_nll = beta_nll
        self.min_variance = min_variance
        self.module = module
        self.module_kwargs = module_kwargs
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.predict_batch_size = predict_batch_size

    def _n_outputs(self) -> int:
        return 2 * self.n_outputs_

    def _loss(self):
        return GaussianMemberLoss(min_variance=self.min_variance, beta=self.beta_nll)

    @classmethod
    def from_modules(cls, modules, X, y, *, noise_variance: float | None = None, **params):
        """A fitted ensemble of networks trained elsewhere.

        Each module maps features in their own units, ``(n, n_features)``, to Gaussian outputs
        in y's units: the means then the raw variances (``softplus(raw) + min_variance``),
        ``(n, 2 * n_targets)``; or, with ``noise_variance``, only the means ``(n, n_targets)``
        with that homoscedastic noise variance (y's units squared) as every member's aleatoric
        variance. No feature or target scaling is applied (``feature_scaling="none"``). The
        prediction is the uniform mixture of the members, as after ``fit``.

        Parameters
        ----------
        modules : sequence of torch.nn.Module
            Trained members of one architecture (copied; their weights stacked in order).
        X, y : array-like
            Data of the problem (a few rows suffice): they fix ``n_features_in_`` and the
            number of targets.
        noise_variance : float, optional
            The stated noise model of mean-only modules.
        **params
            Other constructor parameters (``min_variance``, ``device``, ``predict_batch_size``,
            ...); ``n_members`` is set here. ``module=`` (the modules' class, or its
            ``"pkg.mod:Name"`` reference, with ``module_kwargs=``) makes the ensemble savable:
            it must build networks of the modules' class (not with ``noise_variance``).

        Returns
        -------
        DeepEnsembleRegressor
            Fitted; ``history_`` is empty. Without ``module=`` it cannot be saved (it holds the
            module objects, not a reference to their code).

        Examples
        --------
        >>> import numpy as np, torch
        >>> X = np.random.default_rng(0).normal(size=(10, 2))
        >>> net = torch.nn.Linear(2, 1)
        >>> model = DeepEnsembleRegressor.from_modules([net, net], X, X[:, 0],
        ...                                            noise_variance=0.25, device="cpu")
        >>> pred = model.predict_uncertainty(X[:3])
        >>> pred.epistemic.tolist(), np.allclose(pred.aleatoric, 0.25)
        ([0.0, 0.0, 0.0], True)
        """
        modules = check_modules(cls.__name__, modules)
        if noise_variance is not None and params.get("module") is not None:
            raise InvalidInputError(
                f"{cls.__name__}.from_modules: module= makes an ensemble savable by naming the "
                "members' code, but with noise_variance= the members are wrapped in a noise "
                "head that no reference describes. Drop module=, or give modules with a "
                "Gaussian head (2 * n_targets outputs) and no noise_variance."
            )
        estimator = cls(**{**params, "n_members": len(modules), "module": None,
                           "module_kwargs": None, "feature_scaling": "none"})
        if noise_variance is not None:
            raw = raw_noise(float(noise_variance), float(estimator.min_variance))
            modules = [GaussianNoiseHead(copy.deepcopy(m), raw) for m in modules]
        estimator.set_params(module=architecture(cls.__name__, modules, params),
                             module_kwargs=params.get("module_kwargs"))
        adopt_modules(estimator, modules, X, y)
        return estimator

    def predict_uncertainty(self, X) -> RegressionPrediction:
        """Mixture-of-Gaussians prediction with its aleatoric/epistemic split.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        RegressionPrediction
            ``distribution="mixture"`` with ``member_means``/``member_vars`` of shape
            ``(n_members, n_samples)`` (``(..., n_targets)`` for multi-output y), in y's units.
        """
        return self._mixture_prediction(self._member_outputs(X), self.min_variance)
