"""Post-hoc baselines on one trained network: Monte Carlo dropout (Gal & Ghahramani, 2016),
SWA-Gaussian (Maddox et al., 2019) and the Laplace approximation (on laplace-torch; Daxberger
et al., 2021). Each fits a default MLP or any ``module=``, or wraps a network trained elsewhere
with ``from_module(module, X, y)``."""

from uqkit.posthoc._laplace import LaplaceClassifier, LaplaceRegressor
from uqkit.posthoc._mc_dropout import MCDropoutClassifier, MCDropoutRegressor
from uqkit.posthoc._swag import SWAGClassifier, SWAGRegressor

__all__ = [
    "LaplaceClassifier",
    "LaplaceRegressor",
    "MCDropoutClassifier",
    "MCDropoutRegressor",
    "SWAGClassifier",
    "SWAGRegressor",
]
