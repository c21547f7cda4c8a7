"""Deep Combinatorial Aggregation (DCA) and weight averaging (DCWA).

Shen & Cremers, "Deep Combinatorial Aggregation", NeurIPS 2022: a network split into components,
each kept as ``K`` instances, gives ``K^S`` proposals whose predictions are aggregated; trained
with a consistency-enforcing loss. Fine-grain DCA can instead average its instances (DCWA).

Examples
--------
>>> import torch
>>> from torch import nn
>>> from uqkit.dca import DCAModule
>>> dca = DCAModule(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), "layer", 3)
>>> dca.n_proposals
9
"""

from uqkit.dca._classifier import DCAClassifier
from uqkit.dca._components import GRANULARITIES, resolve_components
from uqkit.dca._loss import (
    categorical_kl,
    classification_consistency_loss,
    gaussian_consistency_loss,
    gaussian_kl,
)
from uqkit.dca._module import ComponentInstances, DCAModule
from uqkit.dca._presets import cnn_preset, mlp_preset
from uqkit.dca._regressor import DCARegressor
from uqkit.dca._reinitialize import reinitialize
from uqkit.dca._sampler import ProposalSampler
from uqkit.dca._training import consistency_step

__all__ = [
    "GRANULARITIES",
    "ComponentInstances",
    "DCAClassifier",
    "DCAModule",
    "DCARegressor",
    "ProposalSampler",
    "categorical_kl",
    "classification_consistency_loss",
    "cnn_preset",
    "consistency_step",
    "gaussian_consistency_loss",
    "gaussian_kl",
    "mlp_preset",
    "reinitialize",
    "resolve_components",
]
