"""The searchers of ``searcher=``: aging evolution (the paper's), Optuna TPE, random, or any Ray
Tune ``Searcher`` / ``SearchAlgorithm`` object of the user's.

This module imports Ray at the top; :mod:`uqkit.search` reaches it only when a search runs
(``pip install 'uqkit[search]'``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from ray import tune
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchAlgorithm, Searcher

from uqkit.exceptions import InvalidInputError, require
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


def make_searcher(name, space: SearchSpace, seed: int, *, population_size: int = 10,
                  sample_size: int = 3, max_concurrent: int | None = None):
    """The Tune search algorithm and parameter space of ``searcher=name``.

    Parameters
    ----------
    name : {"evolution", "random", "tpe"} or Searcher or SearchAlgorithm
        A Ray Tune object is copied (the caller's is never changed) and given uqkit's metric
        (``val_nll``, ``"min"``) and, unless it was built with a space of its own, the
        space's variables as Tune domains (``set_search_properties``).
    space : SearchSpace
    seed : int
        The seed of uqkit's own searchers (a Tune object keeps its own).
    population_size, sample_size : int
    max_concurrent : int, optional
        Wraps a ``Searcher`` in a ``ConcurrencyLimiter`` (not one that already is).

    Returns
    -------
    search_alg : Searcher or SearchAlgorithm or None
        ``None`` for uqkit's random search, which Tune's variant generator runs.
    param_space : dict or None
        Random search: one seeded integer per trial, from which the trainable draws its
        configuration (Tune's own sampling would not be reproducible), or, for a space with
        domains only Tune samples (``tune.sample_from``) and for a ``SearchAlgorithm``
        object, the space as Tune domains.

    Raises
    ------
    InvalidInputError
        A searcher that cannot sample the space (aging evolution or TPE with a
        ``tune.sample_from`` domain), a Tune object set to another metric or mode, or one
        with its own space but no metric/mode.

    Examples
    --------
    >>> searcher, param_space = make_searcher("evolution", SearchSpace(max_layers=2), seed=0)
    >>> type(searcher).__name__, param_space
    ('RegularizedEvolutionSearcher', None)
    >>> searcher, param_space = make_searcher("random", SearchSpace(), seed=0)
    >>> searcher, list(param_space)
    (None, ['_draw'])
    """
    if not isinstance(name, str):
        return _user_searcher(name, space, max_concurrent)
    opaque = space.opaque()
    if opaque and name in ("evolution", "tpe"):
        raise InvalidInputError(
            f"searcher={name!r} cannot use the variables {opaque}: their Tune domains (such as "
            "tune.sample_from) only Ray Tune samples, and "
            + ("aging evolution must mutate every variable" if name == "evolution" else
               "Optuna takes only ranges and choices")
            + ". Give them a range or a tune.uniform/loguniform/randint/choice domain, or use "
            "searcher='random' or a Tune searcher object."
        )
    if name == "evolution":
        searcher = RegularizedEvolutionSearcher(space, population_size, sample_size, seed)
    elif name == "tpe":
        require("optuna", "search")
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        domains = {v.name: v.to_tune() for v in space.variables()}  # constants: in run_trial
        searcher = OptunaSearch(space=domains, metric=METRIC, mode="min",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    elif name == "random" and opaque:
        # Tune samples those domains: reproducible as far as Tune's seeded generator goes
        return (BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent or 0),
                space.to_tune())
    elif name == "random":
        return None, _seeded_draws(seed)
    else:
        raise InvalidInputError(f"searcher must be one of {SEARCHERS} or a Ray Tune Searcher; "
                                f"got {name!r}.")
    if max_concurrent:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    return searcher, None


def _user_searcher(searcher, space: SearchSpace, max_concurrent: int | None):
    """A copy of the user's Tune searcher, set up for uqkit's metric and space."""
    if not isinstance(searcher, (Searcher, SearchAlgorithm)):
        raise InvalidInputError(
            f"searcher must be one of {SEARCHERS} or a Ray Tune Searcher / SearchAlgorithm "
            f"object; got {type(searcher).__name__}."
        )
    kind = type(searcher).__name__
    try:
        searcher = copy.deepcopy(searcher)  # a fit never changes the caller's object
    except Exception as error:
        raise InvalidInputError(
            f"The {kind} searcher cannot be copied ({type(error).__name__}: {error}); uqkit "
            "copies it so that each fit starts afresh. Pass it before it has run."
        ) from error
    if not isinstance(searcher, Searcher):  # e.g. BasicVariantGenerator: samples param_space
        return searcher, space.to_tune()
    metric, mode = searcher.metric, searcher.mode
    if metric not in (None, METRIC) or mode not in (None, "min"):
        raise InvalidInputError(
            f"The {kind} searcher is set to metric={metric!r}, mode={mode!r}, but uqkit's trials "
            f"report {METRIC!r}, to minimise. Build it without metric and mode (uqkit sets "
            f"them) or with metric={METRIC!r}, mode='min'."
        )
    inner = getattr(searcher, "searcher", searcher)  # inside a ConcurrencyLimiter
    if isinstance(inner, RegularizedEvolutionSearcher) and inner.space != space:
        raise InvalidInputError(
            "The RegularizedEvolutionSearcher proposes configurations of its own space, which "
            "is not the estimator's: build it with the estimator's space (or leave "
            "searcher='evolution')."
        )
    domains = {v.name: v.to_tune() for v in space.variables()}
    accepted = searcher.set_search_properties(METRIC, "min", domains)
    if not accepted and (searcher.metric is None or searcher.mode is None):
        raise InvalidInputError(
            f"The {kind} searcher was built with a search space of its own but without "
            f"metric/mode: pass metric={METRIC!r}, mode='min' to it, or build it without a "
            "space so that uqkit gives it the estimator's."
        )
    if max_concurrent and not isinstance(searcher, ConcurrencyLimiter):
        searcher = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    return searcher, None


def _seeded_draws(seed: int) -> dict:
    """Random search with reproducible draws: each trial gets the next key of a seeded stream."""
    keys = iter(np.random.default_rng(seed).integers(0, 2**62, size=100_000).tolist())

    def draw(_spec):
        return next(keys)

    return {"_draw": tune.sample_from(draw)}


def warm_start(search_alg, records: list[dict], space: SearchSpace, log) -> int:
    """Tell a searcher the finished trials of earlier runs; return how many it took.

    uqkit's evolution takes whole configurations; another searcher gets the searched variables
    only (the names of its space). A searcher without ``add_evaluated_point`` cold-starts, and
    a warning on ``log`` says so: the earlier trials still count against the budget and stay
    in the catalog.
    """
    target = getattr(search_alg, "searcher", search_alg)  # inside a ConcurrencyLimiter
    if not records or search_alg is None:
        return 0
    method = getattr(type(target), "add_evaluated_point", None)
    if method is None or method is Searcher.add_evaluated_point:
        log.warning("The %s searcher cannot be told earlier trials (no add_evaluated_point): it "
                    "cold-starts; the %d finished trial(s) still count against n_trials and "
                    "stay in the catalog.", type(target).__name__, len(records))
        return 0
    names = [v.name for v in space.variables()]
    told, errors = 0, []
    for record in records:
        config = record["config"]
        if not isinstance(target, RegularizedEvolutionSearcher):
            config = {k: config[k] for k in names if k in config}
        try:
            target.add_evaluated_point(config, record[METRIC])
            told += 1
        except Exception as err:  # a searcher that cannot take a point still runs
            errors.append(f"{type(err).__name__}: {err}")
    if errors:
        log.warning("The %s searcher refused %d of %d earlier trial(s) (first: %s); it starts "
                    "without them.", type(target).__name__, len(errors), len(records),
                    errors[0].splitlines()[0])
    return told
