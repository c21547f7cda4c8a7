"""AutoDEUQ: automated deep ensembles by joint architecture + hyperparameter search on Ray Tune
(Egele, Maulik, Raghavan, Lusch, Guyon & Balaprakash, ICPR 2022).

The space, the network, aging evolution and the selection work without Ray; the search itself
(:class:`AutoDEUQRegressor.fit`, :class:`RegularizedEvolutionSearcher`) needs
``pip install 'uqkit[search]'`` and imports Ray only when used.
"""

from __future__ import annotations

from uqkit.search._estimator import AutoDEUQClassifier, AutoDEUQRegressor, SearchFailedError
from uqkit.search._evolution import AgingEvolution
from uqkit.search._network import SearchNet
from uqkit.search._selection import (
    SelectionResult,
    greedy_selection,
    member_log_likelihoods,
    mixture_nll,
    top_k_selection,
)
from uqkit.search._space import DEFAULT_ACTIVATIONS, SearchSpace, Variable

__all__ = [
    "DEFAULT_ACTIVATIONS",
    "AgingEvolution",
    "AutoDEUQClassifier",
    "AutoDEUQRegressor",
    "RegularizedEvolutionSearcher",
    "SearchFailedError",
    "SearchNet",
    "SearchSpace",
    "SelectionResult",
    "Variable",
    "greedy_selection",
    "member_log_likelihoods",
    "mixture_nll",
    "top_k_selection",
]


def __getattr__(name: str):
    if name == "RegularizedEvolutionSearcher":  # a ray.tune Searcher subclass: needs Ray
        from uqkit.exceptions import require

        require("ray", "search")
        from uqkit.search._tune import RegularizedEvolutionSearcher

        return RegularizedEvolutionSearcher
    raise AttributeError(f"module 'uqkit.search' has no attribute {name!r}")
