"""Evidential deep learning for classification (Sensoy, Kaplan & Kandemir, NeurIPS 2018)."""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit.base import UQClassifierMixin
from uqkit.evidential._base import _EvidentialEstimator
from uqkit.losses import DIRICHLET_LOSSES, DirichletMemberLoss
from uqkit.nn import EVIDENCE_FUNCTIONS, dirichlet_concentration
from uqkit.prediction import ClassificationPrediction
from uqkit.training import ClassificationTargets, check_prediction


class EvidentialClassifier(UQClassifierMixin, ClassificationTargets, _EvidentialEstimator):
    """Classifier that outputs a Dirichlet over the class probabilities.

    The network's logits become evidence ``e = act(logits)`` and the Dirichlet concentration
    :math:`\\alpha = e + 1` (Sensoy et al., 2018). It is trained on one of the paper's data
    terms (Eq. 3, 4 or 5) plus the KL divergence of the misleading evidence from the uniform
    Dirichlet, annealed with :math:`\\lambda_t=\\min(1, t/\\text{annealing\\_epochs})`. One
    forward pass gives ``probs = concentration / S`` (:math:`S = \\sum_k \\alpha_k`) and the
    entropy split: total entropy, expected entropy (aleatoric) and mutual information
    (epistemic), with the vacuity ``C / S`` and the differential entropy of the Dirichlet as
    further uncertainty scores.

    Parameters
    ----------
    evidence : {"softplus", "relu", "exp"}, default="softplus"
        Evidence activation. ``"relu"`` is the paper's; it has a zero-evidence region where the
        network stops learning. ``"exp"`` clamps the logits to ``±evidence_clamp``.
    evidence_clamp : float, default=10.0
        Logit clamp of ``evidence="exp"``.
    loss : {"mse", "log", "digamma"}, default="mse"
        Data term: Bayes risk of the squared error (Eq. 5, the paper's default), type-II
        maximum likelihood (Eq. 3) or Bayes risk of the cross-entropy (Eq. 4).
    annealing_epochs : int, default=10
        ``t / annealing_epochs`` ramps the KL weight up (the paper uses 10).
    kl_weight : float, default=1.0
        Final weight of the KL term; 0 switches the regulariser off.
    architecture : {"mlp", "cnn"}, default="mlp"
        ``"cnn"`` is :class:`ImageCNN` on flattened images of shape ``image_shape``.
    hidden_layers : tuple of int, default=(50,)
        Hidden widths of the MLP, or of the fully connected part of the CNN.
    activation : str, default="relu"
        Hidden activation, one of :data:`uqkit.nn.ACTIVATIONS`.
    image_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)`` for ``architecture="cnn"``.
    conv_channels : tuple of int, default=(8, 16)
        Filters of the two convolutions of the CNN.
    feature_scaling : {"auto", "column", "channel", "global", "none"}, default="auto"
        How features are standardised on the training rows: per column, with one mean and
        standard deviation for all columns (right for pixels: per-column scaling turns pixels
        that are almost always dark into huge values on new images), or not at all. ``"auto"``
        is ``"global"`` for ``architecture="cnn"`` and ``"column"`` otherwise on 2-D input,
        and ``"none"`` for N-D rows (images ``(n, c, h, w)``), which also take ``"channel"``
        (each index of axis 1) but not ``"column"``.
    dropout : float, default=0.0
        Dropout after each hidden layer of the MLP (not used by the CNN).
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam L2 penalty.
    batch_size : int, default=100
    epochs : int or "auto", default=200
        Maximum number of epochs; ``"auto"`` allows about 20,000 optimiser steps, at most 1000
        epochs.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows (or use ``X_val``/``y_val``) and restore the
        epoch with the lowest validation loss. The criterion is the *final* objective (KL weight
        ``kl_weight``, not the annealed one), so it does not drift with the epoch.
    validation_fraction : float, default=0.1
    patience : int, default=20
    module : class, callable or str, optional
        ``module(n_features, n_classes, **module_kwargs) -> torch.nn.Module`` returning logits;
        replaces the built-in networks. A class, a function or a ``"package.module:QualName"``
        reference, saved as for :class:`~uqkit.ensemble.DeepEnsembleRegressor`.
    module_kwargs : dict, optional
        JSON keyword arguments of ``module``.
    device : str, default="auto"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState, Generator or None
    verbose : int, default=0
        0: nothing is written (the default, also inside ``GridSearchCV`` and
        ``cross_validate``); 1: progress, a bar on an interactive terminal, else at most one
        INFO line per tenth of the training on the ``uqkit`` logger; 2: also per-epoch detail
        (validation loss) at DEBUG. See the "Logging and progress" page of the docs.
    predict_batch_size : int, default=8192

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    stack_ : torch.nn.Module
        The trained network, as a stack of one member (outputs ``(1, n, n_classes)``).
    history_ : list of dict
        One entry (member 0): ``{"member", "epochs", "best_epoch", "train_loss", "val_loss"}``,
        the losses per epoch (``val_loss`` empty without validation).
    random_state_ : int
    n_features_in_ : int

    See Also
    --------
    uqkit.losses.evidential_classification_loss : the loss, for your own torch model.
    uqkit.nn.DirichletHead : the head, for your own torch model.

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.evidential import EvidentialClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> y = np.where(X[:, 0] > 0, "right", "left")
    >>> model = EvidentialClassifier(epochs=30, verbose=0, random_state=0).fit(X, y)
    >>> model.score(X, y) > 0.9
    True
    >>> pred = model.predict_uncertainty(X[:4])
    >>> pred.concentration.shape, pred.vacuity.shape
    ((4, 2), (4,))
    """

    _parameter_constraints: ClassVar[dict] = {
        **_EvidentialEstimator._parameter_constraints,
        "evidence": [StrOptions(set(EVIDENCE_FUNCTIONS))],
        "evidence_clamp": [Interval(Real, 0, None, closed="neither")],
        "loss": [StrOptions(set(DIRICHLET_LOSSES))],
        "annealing_epochs": [Interval(Integral, 0, None, closed="left")],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        evidence: str = "softplus",
        evidence_clamp: float = 10.0,
        loss: str = "mse",
        annealing_epochs: int = 10,
        kl_weight: float = 1.0,
        architecture: str = "mlp",
        hidden_layers: tuple[int, ...] = (50,),
        activation: str = "relu",
        image_shape: tuple[int, int, int] = (1, 28, 28),
        conv_channels: tuple[int, int] = (8, 16),
        feature_scaling: str = "auto",
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 100,
        epochs: int | str = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 20,
        module=None,
        module_kwargs: dict | None = None,
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
        predict_batch_size: int = 8192,
    ) -> None:
        self.evidence = evidence
        self.evidence_clamp = evidence_clamp
        self.loss = loss
        self.annealing_epochs = annealing_epochs
        self.kl_weight = kl_weight
        self.architecture = architecture
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.feature_scaling = feature_scaling
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.module = module
        self.module_kwargs = module_kwargs
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.predict_batch_size = predict_batch_size

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _loss(self) -> DirichletMemberLoss:
        return DirichletMemberLoss(
            loss=self.loss,
            evidence=self.evidence,
            clamp=self.evidence_clamp,
            annealing_epochs=self.annealing_epochs,
            kl_weight=self.kl_weight,
        )

    def predict_concentration(self, X) -> np.ndarray:
        """Dirichlet concentration ``evidence + 1``, shape ``(n_samples, n_classes)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns as ``classes_``; every value ``>= 1``.
        """
        raw = self._raw_outputs(X)
        return dirichlet_concentration(raw, self.evidence, self.evidence_clamp).numpy()

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Dirichlet prediction with its closed-form uncertainty split.

        Returns
        -------
        ClassificationPrediction
            ``probs = concentration / S`` (n, C) and ``concentration`` (n, C), columns as
            ``classes_``; see ``total``, ``aleatoric``, ``epistemic``, ``vacuity`` and
            ``differential_entropy``.
        """
        concentration = self.predict_concentration(X)
        prediction = ClassificationPrediction.from_dirichlet(concentration, classes=self.classes_)
        return check_prediction(prediction, type(self).__name__)
