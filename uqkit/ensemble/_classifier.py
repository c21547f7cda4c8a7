"""Deep ensembles for classification (Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017)."""

from __future__ import annotations

from uqkit.base import UQClassifierMixin
from uqkit.ensemble._base import BaseDeepEnsemble
from uqkit.ensemble._from_modules import adopt_modules, architecture, check_modules
from uqkit.ensemble._mixture import CategoricalMixtureMixin
from uqkit.losses import CrossEntropyMemberLoss
from uqkit.prediction import ClassificationPrediction
from uqkit.training import ClassificationTargets, RayBackend


class DeepEnsembleClassifier(UQClassifierMixin, CategoricalMixtureMixin, ClassificationTargets,
                             BaseDeepEnsemble):
    """Deep ensemble of softmax classifiers.

    Each member is an MLP trained with cross-entropy from its own initialisation and data order;
    the ensemble averages the member probabilities (Lakshminarayanan et al., 2017, Sec. 2.4). The
    uncertainty is split into expected entropy (aleatoric) and mutual information (epistemic).

    Parameters
    ----------
    lr : float, default=1e-3
        Adam learning rate. The regressor's defaults (``lr=0.01, epochs="auto", patience=50``)
        were chosen on regression benchmarks; no classification benchmark has tested them here.
    epochs : int or "auto", default=200
        Maximum number of epochs; ``"auto"`` as for :class:`DeepEnsembleRegressor`.
    patience : int, default=20
        Epochs without improvement before a member stops.
    n_members, hidden_layers, activation, dropout, weight_decay, batch_size, early_stopping, \
validation_fraction, adversarial, adversarial_eps, feature_scaling, module, module_kwargs, \
backend, device, dtype, random_state, verbose, predict_batch_size
        As for :class:`DeepEnsembleRegressor`; early stopping monitors validation cross-entropy,
        and ``module(n_features, n_classes, **module_kwargs)`` must return logits.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    stack_ : torch.nn.Module
    history_ : list of dict

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.ensemble import DeepEnsembleClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    >>> model = DeepEnsembleClassifier(n_members=3, epochs=20, verbose=0, random_state=0)
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    >>> model.predict_uncertainty(X[:3]).member_probs.shape
    (3, 3, 2)
    """

    def __init__(
        self,
        n_members: int = 5,
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 100,
        epochs: int | str = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 20,
        adversarial: bool = False,
        adversarial_eps: float = 0.01,
        feature_scaling: str = "auto",
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
        self.module = module
        self.module_kwargs = module_kwargs
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.predict_batch_size = predict_batch_size

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _loss(self):
        return CrossEntropyMemberLoss()

    @classmethod
    def from_modules(cls, modules, X, y, **params):
        """A fitted ensemble of classifiers trained elsewhere.

        Each module maps features in their own units, ``(n, n_features)``, to logits
        ``(n, n_classes)``, columns in the order of the sorted labels of ``y`` (``classes_``).
        No feature scaling is applied (``feature_scaling="none"``). The prediction averages
        the member probabilities, the members kept, as after ``fit``.

        Parameters
        ----------
        modules : sequence of torch.nn.Module
            Trained members of one architecture (copied; their weights stacked in order).
        X, y : array-like
            Data of the problem (a few rows with every class suffice): they fix
            ``n_features_in_`` and ``classes_``.
        **params
            Other constructor parameters; ``n_members`` is set here. ``module=`` (the modules'
            class, or its ``"pkg.mod:Name"`` reference, with ``module_kwargs=``) makes the
            ensemble savable: it must build networks of the modules' class.

        Returns
        -------
        DeepEnsembleClassifier
            Fitted; ``history_`` is empty. Without ``module=`` it cannot be saved (it holds the
            module objects, not a reference to their code).

        Examples
        --------
        >>> import numpy as np, torch
        >>> X = np.random.default_rng(0).normal(size=(10, 2))
        >>> net = torch.nn.Linear(2, 2)
        >>> model = DeepEnsembleClassifier.from_modules([net] * 3, X, X[:, 0] > 0, device="cpu")
        >>> bool(model.predict_uncertainty(X[:4]).epistemic.max() < 1e-12)
        True
        """
        modules = check_modules(cls.__name__, modules)
        estimator = cls(**{**params, "n_members": len(modules),
                           "module": architecture(cls.__name__, modules, params),
                           "feature_scaling": "none"})
        adopt_modules(estimator, modules, X, y)
        return estimator

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Averaged member probabilities with the member axis kept.

        Returns
        -------
        ClassificationPrediction
            ``probs`` (n, C) and ``member_probs`` (n_members, n, C), columns as ``classes_``.
        """
        return self._mixture_prediction(self._member_outputs(X))
