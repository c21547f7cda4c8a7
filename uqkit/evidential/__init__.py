"""Evidential deep learning: Dirichlet classification and Normal-Inverse-Gamma regression.

One network, one forward pass, and a distribution over distributions whose spread is read as
uncertainty (survey: Ulmer, Hardmeier & Frellsen, "Prior and Posterior Networks", TMLR 2023).

* Classification (Sensoy, Kaplan & Kandemir, NeurIPS 2018): :class:`EvidentialClassifier` and
  :func:`dirichlet_prediction`.
* Regression (Amini, Schwarting, Soleimany & Rus, NeurIPS 2020; the uncertainty split of Meinert,
  Gawlikowski & Lavin, AAAI 2023): :class:`EvidentialRegressor` and :func:`nig_prediction`.
* :class:`ImageCNN`, the small LeNet-style network of ``architecture="cnn"``.

The heads and losses work in any torch model and live with the others: the heads
(``DirichletHead``, ``NormalInverseGammaHead``, ``dirichlet_concentration``, ``nig_parameters``)
in :mod:`uqkit.nn`, the losses (``EvidentialClassificationLoss``, ``EvidentialRegressionLoss``
and their parts) in :mod:`uqkit.losses`. The estimators wrap them in the shared uqkit interface.

Examples
--------
>>> import torch
>>> from uqkit.losses import EvidentialClassificationLoss
>>> from uqkit.nn import DirichletHead
>>> head, criterion = DirichletHead(16, n_classes=3), EvidentialClassificationLoss("mse")
>>> criterion.set_epoch(3)
>>> loss = criterion(head(torch.randn(8, 16)), torch.randint(0, 3, (8,)))
>>> loss.backward()
>>> dirichlet_prediction(head(torch.zeros(2, 16)).detach()).probs.shape
(2, 3)
"""

from uqkit.evidential._classifier import EvidentialClassifier
from uqkit.evidential._networks import ImageCNN
from uqkit.evidential._regressor import EvidentialRegressor
from uqkit.evidential._uncertainty import UNCERTAINTY_SPLITS, dirichlet_prediction, nig_prediction

__all__ = [
    "UNCERTAINTY_SPLITS",
    "EvidentialClassifier",
    "EvidentialRegressor",
    "ImageCNN",
    "dirichlet_prediction",
    "nig_prediction",
]
