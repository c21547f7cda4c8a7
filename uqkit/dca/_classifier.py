"""Deep Combinatorial Aggregation for classification (Shen & Cremers, NeurIPS 2022)."""

from __future__ import annotations

from functools import partial

import torch

from uqkit.base import UQClassifierMixin
from uqkit.dca._base import BaseDCA
from uqkit.dca._loss import classification_consistency_loss
from uqkit.prediction import ClassificationPrediction
from uqkit.training import ClassificationTargets, check_prediction


class DCAClassifier(UQClassifierMixin, ClassificationTargets, BaseDCA):
    """Deep Combinatorial Aggregation classifier (Shen & Cremers, NeurIPS 2022).

    The network (an MLP, a small CNN for flattened images, or any ``module``) is split into
    components; each component is kept as ``n_instances`` independently initialised instances,
    which gives ``K^S`` proposals (Sec. 2). Training draws one proposal per forward pass and
    uses the consistency-enforcing loss (Sec. 4): cross-entropy plus the KL divergence from the
    softmax of the previous proposal, over ``n_train_proposals`` proposals per mini-batch with one
    optimizer step. The prediction averages the softmax of ``n_predict_proposals`` fixed random
    proposals, or of all of them when ``K^S`` is smaller; with ``weight_averaging=True``
    it uses the DCWA network instead, whose components are the averages of their instances
    (Sec. 3). Features are standardised on the training data.

    Parameters
    ----------
    n_instances : int, default=5
        ``K``, instances per component.
    components : {"model", "block", "layer"} or list of str, default="layer"
        Granularity (model-wise = coarse, layer-wise = fine; normalisation layers are shared in
        layer-wise DCA) or explicit submodule names of the network.
    architecture : {"mlp", "cnn"}, default="mlp"
        Built-in network when ``module`` is None. ``"cnn"`` reshapes each row to
        ``image_shape`` (flattened images such as the 784 pixels of MNIST).
    hidden_layers : tuple of int, default=(100,)
        Hidden widths of the MLP, or of the CNN's dense head.
    activation : str, default="relu"
    image_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)`` for ``architecture="cnn"``.
    cnn_channels : tuple of int, default=(16, 32)
        Channels of the CNN's convolution stages.
    module : class, callable or str, optional
        ``module(n_features, n_classes, **module_kwargs) -> torch.nn.Module`` returning logits;
        replaces the built-in network. It is built under a seeded, forked random state. A
        class, a function or a ``"package.module:QualName"`` reference, saved as for
        :class:`~uqkit.ensemble.DeepEnsembleRegressor`.
    module_kwargs : dict, optional
        JSON keyword arguments of ``module``.
    n_train_proposals : int, default=5
        ``R``, proposals per mini-batch in the consistency-enforcing loss.
    consistency_weight : float, default=1.0
        Weight of the KL term (1 in the paper; 0 trains each proposal on cross-entropy alone).
    n_predict_proposals : int, default=64
        ``M``, proposals averaged at prediction (the member axis of ``predict_uncertainty``).
    weight_averaging : bool, default=False
        Predict with the DCWA network. Needs fine-grain components; coarse ones raise
        ``InvalidInputError`` at fit. Only prediction depends on it, so
        ``set_params(weight_averaging=True)`` on a fitted layer-wise model gives its DCWA
        prediction without retraining.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
    batch_size : int, default=128
    epochs : int, default=100
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (or use ``X_val``) and restore the epoch of
        lowest validation NLL of the aggregated prediction.
    validation_fraction : float, default=0.1
    patience : int, default=10
    feature_scaling : {"auto", "column", "channel", "global", "none"}, default="auto"
        How features are standardised on the training data: each column on its own, each
        channel (index of axis 1) of N-D rows, one mean and scale for all values, or not at all;
        ``"auto"`` is ``"column"`` for 2-D input and ``"none"`` for N-D rows (``"column"`` is
        refused for them). Use "global" or "none" for pixels: per-pixel
        z-scoring divides rarely lit border pixels by a tiny standard deviation and blows up
        out-of-distribution images.
    device : str, default="auto"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState, Generator or None
        Seeds the network, the instances, the proposals and the data order (local generators).
    verbose : int, default=0
        0: nothing is written (the default, also inside ``GridSearchCV`` and
        ``cross_validate``); 1: progress, a bar on an interactive terminal, else at most one
        INFO line per tenth of the training on the ``uqkit`` logger; 2: also per-epoch detail
        (validation loss) at DEBUG. See the "Logging and progress" page of the docs.
    predict_batch_size : int, default=4096

    Attributes
    ----------
    dca_ : DCAModule
        The trained network with all instances.
    classes_ : ndarray of shape (n_classes,)
    component_names_ : list of str
    proposals_ : ndarray of shape (m, n_components)
        The evaluation proposals (``m = min(M, K^S)``).
    history_ : list of one dict
        The shared shape of every uqkit estimator, one entry for the one network:
        ``{"member": 0, "epochs": int, "best_epoch": int, "train_loss": [...], "val_loss": [...]}``
        (per-epoch losses; ``val_loss`` is empty without validation data; ``best_epoch`` is the
        1-based epoch whose weights the model holds).
    random_state_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from uqkit.dca import DCAClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    >>> model = DCAClassifier(n_instances=3, epochs=10, lr=1e-2, random_state=0)
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    >>> model.predict_uncertainty(X[:4]).member_probs.shape  # 3^2 = 9 proposals, all used
    (9, 4, 2)
    """

    def __init__(
        self,
        n_instances: int = 5,
        components: str | list[str] = "layer",
        architecture: str = "mlp",
        hidden_layers: tuple[int, ...] = (100,),
        activation: str = "relu",
        image_shape: tuple[int, ...] = (1, 28, 28),
        cnn_channels: tuple[int, ...] = (16, 32),
        module=None,
        module_kwargs: dict | None = None,
        n_train_proposals: int = 5,
        consistency_weight: float = 1.0,
        n_predict_proposals: int = 64,
        weight_averaging: bool = False,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 128,
        epochs: int = 100,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 10,
        feature_scaling: str = "auto",
        device: str = "auto",
        dtype: str = "float32",
        random_state=None,
        verbose: int = 0,
        predict_batch_size: int = 4096,
    ) -> None:
        self.n_instances = n_instances
        self.components = components
        self.architecture = architecture
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.image_shape = image_shape
        self.cnn_channels = cnn_channels
        self.module = module
        self.module_kwargs = module_kwargs
        self.n_train_proposals = n_train_proposals
        self.consistency_weight = consistency_weight
        self.n_predict_proposals = n_predict_proposals
        self.weight_averaging = weight_averaging
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.feature_scaling = feature_scaling
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.predict_batch_size = predict_batch_size

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _loss_fn(self):
        return partial(classification_consistency_loss, weight=self.consistency_weight)

    def _aggregate_nll(self, outputs: torch.Tensor, target: torch.Tensor, weight=None) -> float:
        log_probs = torch.logsumexp(torch.log_softmax(outputs, dim=-1), dim=0)
        log_probs = log_probs - torch.log(torch.tensor(float(len(outputs)), dtype=log_probs.dtype))
        picked = log_probs[torch.arange(len(target)), target.cpu()]
        if weight is not None:  # normalised to average 1: a weighted mean over the rows
            picked = picked * weight.to(picked.dtype).cpu()
        return float(-picked.mean())

    def predict_uncertainty(self, X) -> ClassificationPrediction:
        """Average of the proposals' softmax, with the proposal (member) axis kept.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ClassificationPrediction
            ``probs`` (n, C) and ``member_probs`` (m, n, C): one row per evaluation proposal
            (``m = min(n_predict_proposals, K^S)``), or ``m = 1`` with ``weight_averaging``.
        """
        member_probs = torch.softmax(self._proposal_outputs(X), dim=-1).numpy()
        prediction = ClassificationPrediction.from_members(member_probs, classes=self.classes_)
        return check_prediction(prediction, type(self).__name__)
