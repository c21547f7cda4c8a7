"""Bayesian models: Pyro Bayesian MLPs, GPyTorch Gaussian processes and Bayesian LoRA.

- :class:`BayesianMLPRegressor`, :class:`BayesianMLPClassifier`: MLPs with Gaussian weight priors,
  fitted by stochastic variational inference on Pyro.
- :class:`GPRegressor`, :class:`GPClassifier`: exact and sparse variational Gaussian processes on
  GPyTorch.
- :func:`bayesianize_lora` → :class:`BayesianLoRA`: training-free Bayesianization of LoRA
  adapters (imported on first use; needs the ``llm`` extra only when called).

Examples
--------
>>> import numpy as np
>>> from uqkit.bayes import GPRegressor
>>> X = np.linspace(0, 1, 10)[:, None]
>>> GPRegressor(max_iter=10).fit(X, X[:, 0]).predict(X[:2]).shape
(2,)
"""

from __future__ import annotations

import importlib

from uqkit.bayes._bnn import BayesianMLP, BayesianMLPClassifier, BayesianMLPRegressor
from uqkit.bayes._gp import GPClassifier, GPRegressor

__all__ = [
    "BayesianLoRA",
    "BayesianMLP",
    "BayesianMLPClassifier",
    "BayesianMLPRegressor",
    "GPClassifier",
    "GPRegressor",
    "bayesianize_lora",
]

_LAZY = {"BayesianLoRA": "uqkit.bayes.tfb", "bayesianize_lora": "uqkit.bayes.tfb"}


def __getattr__(name: str):
    """Import the Bayesian-LoRA names on first access, so ``uqkit.bayes`` loads without them."""
    if name in _LAZY:
        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as err:
            if err.name != _LAZY[name]:
                raise
            raise AttributeError(
                f"uqkit.bayes.{name} is not available in this installation of uqkit."
            ) from err
        return getattr(module, name)
    raise AttributeError(f"module 'uqkit.bayes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
