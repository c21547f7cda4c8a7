"""The AutoDEUQ toolbox on Ray Tune (Egele, Maulik, Raghavan, Lusch, Guyon & Balaprakash,
ICPR 2022): the joint space, its network, the searchers, one trial, the catalog on disk and the
search driver. The estimators built from them, :class:`~uqkit.ensemble.AutoDEUQRegressor` and
:class:`~uqkit.ensemble.AutoDEUQClassifier`, live with the other ensembles in
:mod:`uqkit.ensemble`; this package imports no estimator.

The space, the network, aging evolution, a trial and the catalog work without Ray; the Tune
pieces (:func:`run_search`, :class:`RegularizedEvolutionSearcher`, :func:`make_searcher`, and
:func:`trainable` / :func:`trainable_for` for a ``tune.Tuner`` of your own or Tune's own
restore) need ``pip install 'uqkit[search]'`` and import Ray only when used.
"""

from __future__ import annotations

import importlib

from uqkit.exceptions import require
from uqkit.search._catalog import DamagedTrialWarning, inspect_trial, load_network, load_trial
from uqkit.search._deephyper import DeepHyperSpace
from uqkit.search._evolution import AgingEvolution
from uqkit.search._load_space import space_from_dict
from uqkit.search._network import DenseSkipCoNet, SearchNet, build_search_net
from uqkit.search._run_config import run_config_settings
from uqkit.search._space import DEFAULT_ACTIVATIONS, SearchSpace, Variable, domain_description
from uqkit.search._trial import TrialSetup, fit_network, network_outputs, run_trial, trial_seed

# Names whose modules import Ray at the top: loaded on first use.
_WITH_RAY = {
    "RegularizedEvolutionSearcher": "uqkit.search._searchers",
    "make_searcher": "uqkit.search._searchers",
    "run_search": "uqkit.search._driver",
    "trainable": "uqkit.search._own_tuner",
    "trainable_for": "uqkit.search._own_tuner",
}

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "AgingEvolution",
    "DamagedTrialWarning",
    "DeepHyperSpace",
    "DenseSkipCoNet",
    "RegularizedEvolutionSearcher",
    "SearchNet",
    "SearchSpace",
    "TrialSetup",
    "Variable",
    "build_search_net",
    "domain_description",
    "fit_network",
    "inspect_trial",
    "load_network",
    "load_trial",
    "make_searcher",
    "network_outputs",
    "run_config_settings",
    "run_search",
    "run_trial",
    "space_from_dict",
    "trainable",
    "trainable_for",
    "trial_seed",
]


def __getattr__(name: str):
    if name in _WITH_RAY:
        require("ray", "search")
        return getattr(importlib.import_module(_WITH_RAY[name]), name)
    raise AttributeError(f"module 'uqkit.search' has no attribute {name!r}")
