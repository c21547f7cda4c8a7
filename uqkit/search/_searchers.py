"""The three searchers of ``searcher=``: aging evolution (the paper's), Optuna TPE and random.

This module imports Ray at the top; :mod:`uqkit.search` reaches it only when a search runs
(``pip install 'uqkit[search]'``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher

from uqkit.exceptions import require
from uqkit.search._catalog import METRIC
from uqkit.search._evolution import AgingEvolution
from uqkit.search._space import SearchSpace

__all__ = ["SEARCHERS", "RegularizedEvolutionSearcher", "make_searcher", "warm_start"]

SEARCHERS = ("evolution", "random", "tpe")


class RegularizedEvolutionSearcher(Searcher):
    """Aging evolution (Egele et al., 2022, Alg. 1) as a Ray Tune ``Searcher``.

    Parameters
    ----------
    space : SearchSpace
    population_size, sample_size : int
        See :class:`~uqkit.search.AgingEvolution`.
    seed : int
    metric : str
        Reported metric to minimise (default ``"val_nll"``).

    Examples
    --------
    >>> from uqkit.search import SearchSpace
    >>> searcher = RegularizedEvolutionSearcher(SearchSpace(), seed=0)  # doctest: +SKIP
    >>> config = searcher.suggest("trial-0")  # doctest: +SKIP
    """

    def __init__(self, space: SearchSpace, population_size: int = 10, sample_size: int = 3,
                 seed: int = 0, metric: str = METRIC) -> None:
        super().__init__(metric=metric, mode="min")
        self.space = space
        self.evolution = AgingEvolution(space, population_size, sample_size, seed)
        self.pending: dict[str, dict] = {}
        self.lineage: dict[str, dict] = {}

    def suggest(self, trial_id: str) -> dict | None:
        config, info = self.evolution.ask()
        self.pending[trial_id] = config
        self.lineage[trial_id] = info
        return dict(config)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        config = self.pending.pop(trial_id, None)
        if config is None or error or not result or self.metric not in result:
            return
        self.evolution.tell(config, result[self.metric])

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False,
                            pruned: bool = False, intermediate_values=None) -> None:
        """Warm start: a finished evaluation from an earlier run joins the population."""
        if not error and not pruned:
            self.evolution.tell(parameters, value)

    def get_state(self) -> dict:
        return {"evolution": self.evolution.get_state(), "pending": self.pending,
                "lineage": self.lineage}

    def set_state(self, state: dict) -> None:
        self.evolution.set_state(state["evolution"])
        self.pending = dict(state["pending"])
        self.lineage = dict(state["lineage"])

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text()))


def make_searcher(name: str, space: SearchSpace, seed: int, *, population_size: int = 10,
                  sample_size: int = 3, max_concurrent: int | None = None):
    """The Tune search algorithm and parameter space of ``searcher=name``.

    Returns
    -------
    search_alg : Searcher or None
        ``None`` for random search, which Tune's variant generator runs.
    param_space : dict or None
        Random search only: one seeded integer per trial, from which the trainable draws its
        configuration (Tune's own sampling would not be reproducible).

    Examples
    --------
    >>> searcher, param_space = make_searcher("evolution", SearchSpace(max_layers=2), seed=0)
    >>> type(searcher).__name__, param_space
    ('RegularizedEvolutionSearcher', None)
    >>> searcher, param_space = make_searcher("random", SearchSpace(), seed=0)
    >>> searcher, list(param_space)
    (None, ['_draw'])
    """
    if name == "evolution":
        searcher = RegularizedEvolutionSearcher(space, population_size, sample_size, seed)
    elif name == "tpe":
        require("optuna", "search")
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        domains = {v.name: v.to_tune() for v in space.variables()}  # constants: in run_trial
        searcher = OptunaSearch(space=domains, metric=METRIC, mode="min",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    elif name == "random":
        return None, _seeded_draws(seed)
    else:
        raise ValueError(f"searcher must be one of {SEARCHERS}; got {name!r}.")
    if max_concurrent:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    return searcher, None


def _seeded_draws(seed: int) -> dict:
    """Random search with reproducible draws: each trial gets the next key of a seeded stream."""
    keys = iter(np.random.default_rng(seed).integers(0, 2**62, size=100_000).tolist())

    def draw(_spec):
        return next(keys)

    return {"_draw": tune.sample_from(draw)}


def warm_start(search_alg, records: list[dict], log) -> None:
    """Tell a searcher the finished trials of earlier runs (those it can take)."""
    target = getattr(search_alg, "searcher", search_alg)  # inside a ConcurrencyLimiter
    if not hasattr(target, "add_evaluated_point"):
        return
    for record in records:
        try:
            target.add_evaluated_point(record["config"], record[METRIC])
        except Exception as err:  # a searcher that cannot be warm-started still runs
            log.info("warm start skipped: %s", err)
