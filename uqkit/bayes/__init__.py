"""Bayesian models: Pyro Bayesian MLPs, GPyTorch Gaussian processes and Bayesian LoRA.

- :class:`BayesianMLPRegressor`, :class:`BayesianMLPClassifier`: MLPs with Gaussian weight priors,
  fitted by stochastic variational inference on Pyro.
- :class:`GPRegressor`, :class:`GPClassifier`: exact and sparse variational Gaussian processes on
  GPyTorch.
- :func:`bayesianize_lora` → :class:`BayesianLoRA`: training-free Bayesianization of LoRA
  adapters (needs the ``llm`` extra only when called).

Every name is imported on first use, so ``import uqkit.bayes`` loads neither Pyro nor GPyTorch,
and a Gaussian process never loads Pyro (nor a Bayesian MLP GPyTorch).

Examples
--------
>>> import numpy as np
>>> from uqkit.bayes import GPRegressor
>>> X = np.linspace(0, 1, 10)[:, None]
>>> GPRegressor(epochs=10).fit(X, X[:, 0]).predict(X[:2]).shape
(2,)
"""

from __future__ import annotations

import importlib

__all__ = [
    "BayesianLoRA",
    "BayesianMLP",
    "BayesianMLPClassifier",
    "BayesianMLPRegressor",
    "GPClassifier",
    "GPRegressor",
    "TFBWarning",
    "bayesianize_lora",
]

# public name → the module that defines it (imported on first access)
_LAZY = {
    "BayesianMLP": "uqkit.bayes._bnn_model",
    "BayesianMLPRegressor": "uqkit.bayes._bnn_regressor",
    "BayesianMLPClassifier": "uqkit.bayes._bnn_classifier",
    "GPRegressor": "uqkit.bayes._gp_regressor",
    "GPClassifier": "uqkit.bayes._gp_classifier",
    "BayesianLoRA": "uqkit.bayes.tfb",
    "bayesianize_lora": "uqkit.bayes.tfb",
    "TFBWarning": "uqkit.bayes.tfb",
}


def __getattr__(name: str):
    """Import a Bayesian name on first access (and keep it, so the import happens once)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'uqkit.bayes' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
