"""Evidential heads: Dirichlet classification and Normal-Inverse-Gamma regression.

One network, one forward pass, and a distribution over distributions whose spread is read as
uncertainty (survey: Ulmer, Hardmeier & Frellsen, "Prior and Posterior Networks", TMLR 2023).

* Classification (Sensoy, Kaplan & Kandemir, NeurIPS 2018): :class:`EvidentialClassifier`,
  :class:`DirichletHead`, :func:`evidential_classification_loss` and its parts.
* Regression (Amini, Schwarting, Soleimany & Rus, NeurIPS 2020; the uncertainty split of Meinert,
  Gawlikowski & Lavin, AAAI 2023): :class:`EvidentialRegressor`,
  :class:`NormalInverseGammaHead`, :func:`evidential_regression_loss`, :func:`nig_prediction`.

The heads and losses work in any torch model; the estimators wrap them in the shared uqkit
interface.

Examples
--------
>>> import torch
>>> from uqkit.evidential import DirichletHead, EvidentialClassificationLoss
>>> head, criterion = DirichletHead(16, n_classes=3), EvidentialClassificationLoss("mse")
>>> criterion.set_epoch(3)
>>> loss = criterion(head(torch.randn(8, 16)), torch.randint(0, 3, (8,)))
>>> loss.backward()
"""

from uqkit.evidential._classifier import EvidentialClassifier
from uqkit.evidential._heads import (
    EVIDENCE_FUNCTIONS,
    DirichletHead,
    NIGParameters,
    NormalInverseGammaHead,
    dirichlet_alpha,
    dirichlet_evidence,
    nig_parameters,
)
from uqkit.evidential._losses import (
    DIRICHLET_LOSSES,
    EvidentialClassificationLoss,
    EvidentialRegressionLoss,
    dirichlet_digamma_loss,
    dirichlet_kl_uniform,
    dirichlet_log_loss,
    dirichlet_mse_loss,
    evidential_classification_loss,
    evidential_regression_loss,
    kl_annealing_coefficient,
    nig_nll,
    nig_regularizer,
)
from uqkit.evidential._networks import ImageCNN
from uqkit.evidential._regressor import EvidentialRegressor
from uqkit.evidential._uncertainty import UNCERTAINTY_SPLITS, dirichlet_prediction, nig_prediction

__all__ = [
    "DIRICHLET_LOSSES",
    "EVIDENCE_FUNCTIONS",
    "UNCERTAINTY_SPLITS",
    "DirichletHead",
    "EvidentialClassificationLoss",
    "EvidentialClassifier",
    "EvidentialRegressionLoss",
    "EvidentialRegressor",
    "ImageCNN",
    "NIGParameters",
    "NormalInverseGammaHead",
    "dirichlet_alpha",
    "dirichlet_digamma_loss",
    "dirichlet_evidence",
    "dirichlet_kl_uniform",
    "dirichlet_log_loss",
    "dirichlet_mse_loss",
    "dirichlet_prediction",
    "evidential_classification_loss",
    "evidential_regression_loss",
    "kl_annealing_coefficient",
    "nig_nll",
    "nig_parameters",
    "nig_prediction",
    "nig_regularizer",
]
