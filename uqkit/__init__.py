"""uqkit: uncertainty quantification on PyTorch behind one scikit-learn interface.

Estimators are importable from their family (``from uqkit.ensemble import
DeepEnsembleRegressor``) or from the top level (``uqkit.DeepEnsembleRegressor``); top-level names
are resolved on first use, so ``import uqkit`` stays light.

Examples
--------
>>> import uqkit
>>> uqkit.RegressionPrediction.normal([0.0], [1.0]).interval(0.1)[1].round(3)
array([1.645])
>>> uqkit.DeepEnsembleRegressor.__module__
'uqkit.ensemble._regressor'
"""

from __future__ import annotations

import importlib
import logging

from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__version__ = "0.1.0"

# the library convention: uqkit's loggers (one per module, below "uqkit") write nothing unless
# the application configures logging; see docs/logging.md
logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name → family module that defines it (imported on first access)
_LAZY = {
    "load": "uqkit.base",
    "DeepEnsembleRegressor": "uqkit.ensemble",
    "DeepEnsembleClassifier": "uqkit.ensemble",
    "EvidentialClassifier": "uqkit.evidential",
    "EvidentialRegressor": "uqkit.evidential",
    "DCAClassifier": "uqkit.dca",
    "DCARegressor": "uqkit.dca",
    "GGDPPO": "uqkit.rl",
    "AutoDEUQRegressor": "uqkit.ensemble",
    "AutoDEUQClassifier": "uqkit.ensemble",
    "BayesianMLPRegressor": "uqkit.bayes",
    "BayesianMLPClassifier": "uqkit.bayes",
    "GPRegressor": "uqkit.bayes",
    "GPClassifier": "uqkit.bayes",
    "BayesianLoRA": "uqkit.bayes",
    "bayesianize_lora": "uqkit.bayes",
    "GloVeV": "uqkit.embeddings",
    "RayBackend": "uqkit.training",
    "predict_uncertainty": "uqkit.interop",
}

__all__ = [
    "ClassificationPrediction",
    "RegressionPrediction",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'uqkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
