"""Aging (regularized) evolution, the search strategy of AutoDEUQ (Egele et al., 2022, Alg. 1;
Real et al., 2019), written without Ray so that it can be tested and reused on its own.

The population ``P`` holds the last ``population_size`` *finished* evaluations (a FIFO queue:
the oldest member dies when a new one arrives, whatever its score — "aging"). While fewer than
``population_size`` evaluations have finished, new configurations are drawn at random from the
space. Afterwards each new configuration is made by drawing ``sample_size`` members of ``P``
uniformly without replacement, taking the best of them (lowest validation NLL) as the parent
and mutating exactly one of its variables (:meth:`SearchSpace.mutate`). This is asynchronous:
an ask never waits for a pending evaluation.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.search._space import SearchSpace

__all__ = ["AgingEvolution"]


class AgingEvolution:
    """Ask/tell aging evolution over a :class:`SearchSpace`.

    Parameters
    ----------
    space : SearchSpace
    population_size : int
        ``P``: number of most recent finished evaluations kept.
    sample_size : int
        ``S``: tournament size (``S <= P``).
    seed : int
        Seed of the search's own ``numpy`` generator.

    Examples
    --------
    >>> evo = AgingEvolution(SearchSpace(max_layers=2), population_size=2, sample_size=2, seed=0)
    >>> for score in (3.0, 1.0):
    ...     config, info = evo.ask()
    ...     evo.tell(config, score)
    >>> child, info = evo.ask()
    >>> info["parent_score"], sum(child[k] != info["parent"][k] for k in child)
    (1.0, 1)
    """

    def __init__(self, space: SearchSpace, population_size: int = 10, sample_size: int = 3,
                 seed: int = 0) -> None:
        for name, value in (("population_size", population_size), ("sample_size", sample_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidInputError(f"{name} must be an int >= 1; got {value!r}.")
        if sample_size > population_size:
            raise InvalidInputError(
                f"sample_size={sample_size} exceeds population_size={population_size}; a "
                "tournament draws from the population, so lower sample_size."
            )
        self.space = space
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.rng = np.random.default_rng(seed)
        self.population: deque = deque(maxlen=self.population_size)
        self.n_told = 0

    def ask(self) -> tuple[dict, dict]:
        """A new configuration and how it was made (``{"parent", "parent_score", "mutated"}``,
        all ``None`` for a random one)."""
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng), {"parent": None, "parent_score": None,
                                                 "mutated": None}
        pick = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        contenders = [self.population[i] for i in sorted(pick)]
        parent, score = min(contenders, key=lambda item: item[1])
        child, name = self.space.mutate(parent, self.rng)
        return child, {"parent": dict(parent), "parent_score": score, "mutated": name}

    def tell(self, config: dict, score: float) -> None:
        """Record a finished evaluation (lower is better); non-finite scores count as +inf."""
        score = float(score)
        self.population.append((dict(config), score if math.isfinite(score) else math.inf))
        self.n_told += 1

    def get_state(self) -> dict:
        """JSON-able state (population, counters, generator state)."""
        return {
            "population": [[c, s] for c, s in self.population],
            "n_told": self.n_told,
            "rng": self.rng.bit_generator.state,
        }

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state` output."""
        self.population = deque(((dict(c), float(s)) for c, s in state["population"]),
                                maxlen=self.population_size)
        self.n_told = int(state["n_told"])
        self.rng.bit_generator.state = state["rng"]
