"""Deep ensembles (Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017), trained vectorized."""

from uqkit.ensemble._classifier import DeepEnsembleClassifier
from uqkit.ensemble._regressor import DeepEnsembleRegressor

__all__ = ["DeepEnsembleClassifier", "DeepEnsembleRegressor"]
