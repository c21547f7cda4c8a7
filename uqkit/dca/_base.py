"""What :class:`DCAClassifier` and :class:`DCARegressor` share: parameters, the network, the fit
pipeline with the consistency-enforcing training loop, and the forward pass over proposals."""

from __future__ import annotations

import logging
import math
from functools import partial
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from uqkit._data import resolve_dtype
from uqkit._random import derive_seed
from uqkit._trust import module_factory
from uqkit.base import check_fitted
from uqkit.dca._components import GRANULARITIES
from uqkit.dca._module import DCAModule
from uqkit.dca._presets import ACTIVATION_MODULES, cnn_preset, mlp_preset
from uqkit.dca._sampler import ProposalSampler
from uqkit.dca._training import consistency_step
from uqkit.exceptions import DivergenceError, InvalidInputError
from uqkit.training import EarlyStopping, NetworkEstimator, Progress, check_diverged

logger = logging.getLogger(__name__)

# Random streams derived from ``random_state_``: the base network's construction, the instance
# initialisation and training proposals (the DCAModule seed), the data order and the evaluation
# proposals (the early-stopping split has its own stream in NetworkEstimator). DCA trains one
# network, so these key ``random_state_`` directly; they are not the per-member streams of
# ``uqkit._random`` (whose ORDER_STREAM is 1, not 2).
BUILD_STREAM, INSTANCE_STREAM, ORDER_STREAM, PREDICT_STREAM = 0, 1, 2, 3


class BaseDCA(NetworkEstimator):
    """Shared implementation of :class:`DCAClassifier` and :class:`DCARegressor`."""

    _parameter_constraints: ClassVar[dict] = {
        "n_instances": [Interval(Integral, 1, None, closed="left")],
        "components": [StrOptions(set(GRANULARITIES)), list, tuple],
        "architecture": [StrOptions({"mlp", "cnn"})],
        "hidden_layers": [list, tuple],
        "activation": [StrOptions(set(ACTIVATION_MODULES))],
        "image_shape": [list, tuple],
        "cnn_channels": [list, tuple],
        "module": [callable, str, None],
        "module_kwargs": [dict, None],
        "n_train_proposals": [Interval(Integral, 1, None, closed="left")],
        "consistency_weight": [Interval(Real, 0, None, closed="left")],
        "n_predict_proposals": [Interval(Integral, 1, None, closed="left")],
        "weight_averaging": ["boolean"],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "feature_scaling": [StrOptions({"auto", "column", "channel", "global", "none"})],
        "device": [str, torch.device],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
    }
    _code_parameters = ("module",)

    # -- hooks for the subclasses --------------------------------------------------------
    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _loss_fn(self):
        """``loss_fn(output, target, reference) -> scalar`` for :func:`consistency_step`."""
        raise NotImplementedError

    def _aggregate_nll(self, outputs: torch.Tensor, target: torch.Tensor) -> float:
        """NLL of the aggregated prediction of ``outputs`` ``(m, n, out)`` (validation loss)."""
        raise NotImplementedError

    # -- the network ------------------------------------------------------------------------
    def _components_argument(self):
        if isinstance(self.components, str):
            return self.components
        names = list(self.components)
        if not names or not all(isinstance(name, str) for name in names):
            raise InvalidInputError(
                f"components must be one of {GRANULARITIES} or a non-empty list of submodule "
                f"names; got {self.components!r}. (Module types work with DCAModule directly.)"
            )
        return names

    def _make_network(self) -> nn.Module:
        """The base network, built under a seeded, forked random state (global RNG untouched)."""
        n_in, n_out = self.n_features_in_, self._n_outputs()
        factory = module_factory(self.module, self.module_kwargs, type(self).__name__)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(derive_seed(self.random_state_, BUILD_STREAM))
            if factory is not None:
                network = factory(n_in, n_out)
            elif self.architecture == "mlp":
                network = mlp_preset(n_in, n_out, self.hidden_layers, self.activation)
            else:
                network = cnn_preset(
                    n_in, n_out, self.image_shape, self.cnn_channels, self.hidden_layers,
                    self.activation,
                )
        if not isinstance(network, nn.Module):
            raise InvalidInputError(
                f"module(n_features, n_outputs) must return a torch.nn.Module; got {type(network)}."
            )
        return network.to(resolve_dtype(self.dtype))

    def _build_module(self, name: str) -> nn.Module:
        if name != "dca_":
            return super()._build_module(name)
        return DCAModule(
            self._make_network(),
            self._components_argument(),
            self.n_instances,
            seed=derive_seed(self.random_state_, INSTANCE_STREAM),
        )

    # -- fit --------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, *, X_val=None, y_val=None):
        """Train the DCA network with the consistency-enforcing loss.

        Every mini-batch gets one optimizer step after ``n_train_proposals`` proposals
        (:func:`~uqkit.dca.consistency_step`). With ``early_stopping=True`` a seeded
        ``validation_fraction`` of the rows (or ``X_val``/``y_val``) is held out and the network is
        restored to its epoch of lowest validation NLL of the aggregated prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), N-D array, memmap, Dataset or DataLoader
            As for :meth:`uqkit.training.StackedEstimator.fit`: rows of any shape for a
            ``module=`` network, read a batch at a time from a memmap or a Dataset; the
            held-out rows are the same seeded rows for an array and a Dataset.
        y : array-like of shape (n_samples,) (or (n_samples, n_targets) for regression)
            None when ``X`` is a Dataset or a DataLoader yielding ``(x, y)``.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights: both terms of the consistency loss, the validation NLL
            of early stopping (the held-out rows keep their weights; an explicit ``X_val`` is
            weighted equally) and the divergence check become weighted means
            ``sum(w_i * loss_i) / sum(w_i)`` (each mini-batch an unbiased estimate). Weights of
            ones give exactly the unweighted fit.
        X_val, y_val : array-like, optional
            Validation data: its NLL is recorded every epoch and used for early stopping.

        Returns
        -------
        self
        """
        data = self._prepare_data(X, y, X_val, y_val, sample_weight)  # checks the parameters
        components = self._components_argument()
        dca = self._build_module("dca_").to(self.device_)
        if self.weight_averaging:
            dca.check_weight_averaging()  # refuse coarse DCWA before spending time on training
        self.component_names_ = list(dca.component_names)
        sampler = ProposalSampler(
            [self.n_instances] * dca.n_components, derive_seed(self.random_state_, PREDICT_STREAM)
        )
        self.proposals_ = np.asarray(sampler.distinct(self.n_predict_proposals), dtype=np.int64)

        validation = None if data.X_val is None else (data.X_val, data.y_val, data.weight_val)
        self.history_ = self._train(dca, data.X, data.y, validation, components, data.weight)
        self.dca_ = dca.eval()
        return self

    def _train(self, dca: DCAModule, X, y, validation, components, weight=None) -> list[dict]:
        """The epoch loop; returns ``history_`` (one entry: DCA trains one network)."""
        optimizer = torch.optim.Adam(dca.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        order_generator = torch.Generator().manual_seed(
            derive_seed(self.random_state_, ORDER_STREAM)
        )
        loss_fn = self._loss_fn()
        n = len(X)
        batch_size = min(self.batch_size, n)
        train_loss: list[float] = []
        val_loss: list[float] = []
        stopper = (
            EarlyStopping(self.patience)
            if self.early_stopping and validation is not None
            else None
        )
        progress = Progress(self.epochs, f"DCA {components} K={self.n_instances}",
                            verbose=self.verbose, logger=logger, unit="epoch")
        # the reference of the divergence rule: the aggregated NLL of the untrained network
        start_loss = self._aggregate_nll(self._forward_all(dca, X), y, weight)
        dca.train()
        with progress:  # closes the bar (or logs the closing line) however the loop ends
            for epoch in range(self.epochs):
                order = torch.randperm(n, generator=order_generator).to(X.device)
                total = 0.0
                for start in range(0, n, batch_size):
                    index = order[start : start + batch_size]
                    batch_loss = loss_fn if weight is None else partial(
                        loss_fn, sample_weight=weight[index])
                    try:
                        loss = consistency_step(
                            dca, optimizer, X[index], y[index], batch_loss, self.n_train_proposals
                        )
                    except DivergenceError as err:
                        message = f"DCA training diverged in epoch {epoch + 1}: {err}"
                        raise DivergenceError(message) from err
                    total += loss * len(index)
                train_loss.append(total / n)
                progress.update(1)
                if validation is None:
                    continue
                val = self._aggregate_nll(self._forward_all(dca, validation[0]), *validation[1:])
                if not math.isfinite(val):
                    raise DivergenceError(
                        f"DCA training diverged in epoch {epoch + 1} (non-finite validation NLL). "
                        "Lower lr or raise min_variance."
                    )
                val_loss.append(val)
                progress.set_postfix(val_nll=f"{val:.4g}")
                if stopper is not None:
                    stopper.update(val, dca, epoch)
                    if stopper.stopped:
                        break
        best_epoch = len(train_loss)
        if stopper is not None:
            stopper.restore(dca)  # parameters and buffers of the epoch of lowest validation NLL
            best_epoch = stopper.best_epoch[0]
        with torch.no_grad():
            finite = all(bool(torch.isfinite(p).all()) for p in dca.parameters())
        end_loss = (self._aggregate_nll(self._forward_all(dca, X), y, weight) if finite
                    else math.nan)
        check_diverged([start_loss], [end_loss], [finite], members=["The DCA network"],
                       epochs=[best_epoch], lr=self.lr)
        return [
            {
                "member": 0,
                "epochs": len(train_loss),
                "best_epoch": best_epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
            }
        ]

    # -- prediction -------------------------------------------------------------------------
    @torch.no_grad()
    def _batched(self, network: nn.Module, X: torch.Tensor) -> torch.Tensor:
        step = self.predict_batch_size
        return torch.cat([network(X[i : i + step]) for i in range(0, len(X), step)])

    @torch.no_grad()
    def _forward_all(self, dca: DCAModule, X: torch.Tensor) -> torch.Tensor:
        """Raw outputs ``(m, n, out)`` of the evaluation proposals (one DCWA network if set)."""
        was_training = dca.training
        if was_training:  # a fitted module is in eval mode already: no write while predicting
            dca.eval()
        try:
            if self.weight_averaging:
                outputs = [self._batched(dca.average_instances(), X)]
            else:
                # views, not use_proposal: prediction writes nothing on the shared module, so
                # threads predicting with one fitted model cannot re-route each other
                outputs = [
                    self._batched(dca.proposal_view(proposal.tolist()), X)
                    for proposal in self.proposals_
                ]
        finally:
            if was_training:
                dca.train()
        return torch.stack(outputs).double().cpu()

    def _proposal_outputs(self, X) -> torch.Tensor:
        """Raw outputs of the evaluation proposals on ``X``: ``(m, n, out)``, float64 on CPU."""
        check_fitted(self, "dca_")
        dtype = next(self.dca_.parameters()).dtype
        return self._check_outputs(self._forward_all(self.dca_, self._feature_rows(X, dtype)))

    @property
    def n_proposals_(self) -> int:
        """Number of proposals ``K^S`` of the fitted network."""
        check_fitted(self, "dca_")
        return self.n_instances ** len(self.component_names_)

    def weight_averaged_network(self) -> nn.Module:
        """The DCWA network of the fitted model (Shen & Cremers, 2022, Sec. 3).

        It maps standardised features to raw outputs. Raises
        :class:`~uqkit.exceptions.InvalidInputError` for coarse components.
        """
        check_fitted(self, "dca_")
        return self.dca_.average_instances()
