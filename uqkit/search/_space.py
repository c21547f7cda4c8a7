"""The joint architecture + training search space of AutoDEUQ, as an editable declarative object.

Egele et al. (2022, Sec. 3.1, Fig. 2) search a *joint* space: the architecture of a
fully-connected network with a mean and a variance head (a stack of "variable nodes" that are
either a dense layer or the identity, with optional skip connections from earlier nodes) and the
training hyperparameters (learning rate, batch size, ...). Every variable here is a scalar, so
that aging evolution can mutate exactly one of them (Real et al., 2019; paper Alg. 1).

A configuration is a flat ``dict`` ``{variable name: value}``; the variables of a space with
``max_layers = L`` are

* ``units_i`` (int), ``activation_i`` (str) for ``i = 1..L``;
* ``layer_i`` (bool) for ``i = 2..L``: whether layer ``i`` exists (``False``: identity node,
  the layer is skipped);
* ``skip_i_j`` (bool) for node ``j`` in ``i-2, i-3, ..`` (``max_skip_back`` of them, ``j >= 0``,
  node 0 is the input): whether layer ``i`` also receives node ``j`` (projected and added);
* ``dropout``, ``lr`` (log scale), ``batch_size`` (log scale), ``weight_decay`` (log scale).

``epochs`` and ``patience`` (early stopping on the validation NLL) are fixed settings of the
space, not searched.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.nn import ACTIVATIONS

__all__ = ["DEFAULT_ACTIVATIONS", "SearchSpace", "Variable"]

DEFAULT_ACTIVATIONS = ("relu", "tanh", "silu", "gelu", "elu", "sigmoid", "identity")
_KINDS = ("int", "float", "categorical")


@dataclass(frozen=True)
class Variable:
    """One searched variable.

    Parameters
    ----------
    name : str
    kind : {"int", "float", "categorical"}
    low, high : float, optional
        Inclusive bounds of a numeric variable.
    log : bool
        Sample numeric values uniformly in ``log`` space.
    choices : tuple, optional
        The values of a categorical variable.

    Examples
    --------
    >>> v = Variable("lr", "float", 1e-4, 1e-1, log=True)
    >>> v.contains(1e-3), v.contains(1.0)
    (True, False)
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def sample(self, rng: np.random.Generator) -> Any:
        """A value drawn from the variable's prior (uniform, or log-uniform)."""
        if self.kind == "categorical":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.kind == "int":
            return int(min(max(round(value), self.low), self.high))
        return float(value)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a valid value of this variable."""
        if self.kind == "categorical":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        if self.kind == "int" and int(value) != value:
            return False
        return self.low <= value <= self.high

    def mutate(self, value: Any, rng: np.random.Generator, tries: int = 64) -> Any:
        """A value different from ``value`` drawn from the prior (the mutation of Alg. 1)."""
        for _ in range(tries):
            new = self.sample(rng)
            if new != value:
                return new
        raise InvalidInputError(
            f"Variable {self.name!r} has a single possible value; it cannot be mutated. Widen "
            "its range or remove it from the space."
        )

    def to_tune(self):
        """The equivalent Ray Tune domain (for random search, Optuna TPE)."""
        from ray import tune

        if self.kind == "categorical":
            return tune.choice(list(self.choices))
        if self.kind == "int":
            sampler = tune.lograndint if self.log else tune.randint
            return sampler(int(self.low), int(self.high) + 1)
        return (tune.loguniform if self.log else tune.uniform)(self.low, self.high)


@dataclass
class SearchSpace:
    """The AutoDEUQ joint space: architecture variables + training hyperparameters.

    Edit any field (or pass a dict of them, e.g. from YAML, to :meth:`from_dict`) to change the
    space; :meth:`variables` lists what is searched.

    Parameters
    ----------
    max_layers : int
        Maximum number of hidden layers (layer 1 always exists; layers 2.. may be skipped).
    units : (int, int)
        Inclusive range of units per layer (log-uniform).
    activations : tuple of str
        Activation choices (names of :data:`uqkit.nn.ACTIVATIONS`).
    max_skip_back : int
        How many earlier nodes (beyond the previous one) each layer may take a skip connection
        from; 0 disables skip connections.
    dropout : (float, float)
        Range of the dropout rate applied after every hidden layer.
    lr : (float, float)
        Adam learning-rate range (log-uniform).
    batch_size : (int, int)
        Mini-batch size range (log-uniform).
    weight_decay : (float, float)
        Adam L2 penalty range (log-uniform).
    epochs : int
        Maximum epochs of a trial.
    patience : int
        Early stopping patience on the validation NLL (best epoch restored).

    Examples
    --------
    >>> import numpy as np
    >>> space = SearchSpace(max_layers=3)
    >>> config = space.sample(np.random.default_rng(0))
    >>> space.validate(config) is None
    True
    >>> child, name = space.mutate(config, np.random.default_rng(1))
    >>> [k for k in config if config[k] != child[k]] == [name]
    True
    """

    max_layers: int = 5
    units: tuple[int, int] = (16, 512)
    activations: tuple[str, ...] = DEFAULT_ACTIVATIONS
    max_skip_back: int = 2
    dropout: tuple[float, float] = (0.0, 0.25)
    lr: tuple[float, float] = (1e-4, 1e-1)
    batch_size: tuple[int, int] = (16, 256)
    weight_decay: tuple[float, float] = (1e-7, 1e-2)
    epochs: int = 200
    patience: int = 20
    _cache: list = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.units = tuple(int(u) for u in self.units)
        self.activations = tuple(self.activations)
        self.dropout = tuple(float(v) for v in self.dropout)
        self.lr = tuple(float(v) for v in self.lr)
        self.batch_size = tuple(int(v) for v in self.batch_size)
        self.weight_decay = tuple(float(v) for v in self.weight_decay)
        problems = []
        if not isinstance(self.max_layers, int) or self.max_layers < 1:
            problems.append(f"max_layers must be an int >= 1 (got {self.max_layers!r})")
        if not isinstance(self.max_skip_back, int) or self.max_skip_back < 0:
            problems.append(f"max_skip_back must be an int >= 0 (got {self.max_skip_back!r})")
        unknown = [a for a in self.activations if a not in ACTIVATIONS]
        if unknown or not self.activations:
            problems.append(f"activations must be non-empty names from {sorted(ACTIVATIONS)}")
        for name, low_min in (("units", 1), ("dropout", 0), ("lr", 0), ("batch_size", 1),
                              ("weight_decay", 0)):
            low, high = getattr(self, name)
            if not low_min <= low <= high or (name in ("lr", "weight_decay") and low <= 0):
                problems.append(f"{name}=({low}, {high}) must satisfy {low_min} <= low <= high"
                                + (" and low > 0" if name in ("lr", "weight_decay") else ""))
        if self.dropout[1] >= 1:
            problems.append("dropout must stay below 1")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            problems.append(f"epochs must be an int >= 1 (got {self.epochs!r})")
        if not isinstance(self.patience, int) or self.patience < 1:
            problems.append(f"patience must be an int >= 1 (got {self.patience!r})")
        if problems:
            raise InvalidInputError("Invalid SearchSpace: " + "; ".join(problems) + ".")

    # -- the variables ----------------------------------------------------------------------
    def skip_sources(self, layer: int) -> list[int]:
        """Earlier nodes layer ``layer`` (1-based) may receive a skip connection from."""
        return [j for j in range(layer - 2, layer - 2 - self.max_skip_back, -1) if j >= 0]

    def variables(self) -> list[Variable]:
        """Every searched variable, in a fixed order."""
        if self._cache:
            return list(self._cache)
        out = []
        for i in range(1, self.max_layers + 1):
            if i > 1:
                out.append(Variable(f"layer_{i}", "categorical", choices=(True, False)))
            out.append(Variable(f"units_{i}", "int", *self.units, log=True))
            out.append(Variable(f"activation_{i}", "categorical", choices=self.activations))
            for j in self.skip_sources(i):
                out.append(Variable(f"skip_{i}_{j}", "categorical", choices=(False, True)))
        out += [
            Variable("dropout", "float", *self.dropout),
            Variable("lr", "float", *self.lr, log=True),
            Variable("batch_size", "int", *self.batch_size, log=True),
            Variable("weight_decay", "float", *self.weight_decay, log=True),
        ]
        # A variable with a single value (e.g. dropout=(0, 0)) is a constant, not searched.
        out = [v for v in out if (v.kind == "categorical" and len(v.choices) > 1)
               or (v.kind != "categorical" and v.low < v.high)]
        self._cache[:] = out
        return list(out)

    def constants(self) -> dict:
        """Values of the variables that have a single possible value (not searched)."""
        searched = {v.name for v in self.variables()}
        full = {}
        for i in range(1, self.max_layers + 1):
            if i > 1:
                full[f"layer_{i}"] = True
            full[f"units_{i}"] = self.units[0]
            full[f"activation_{i}"] = self.activations[0]
            for j in self.skip_sources(i):
                full[f"skip_{i}_{j}"] = False
        full.update(dropout=self.dropout[0], lr=self.lr[0], batch_size=self.batch_size[0],
                    weight_decay=self.weight_decay[0])
        return {k: v for k, v in full.items() if k not in searched}

    # -- sampling and mutation ----------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict:
        """A configuration drawn from the prior of every variable."""
        config = self.constants()
        for variable in self.variables():
            config[variable.name] = variable.sample(rng)
        return self._ordered(config)

    def mutate(self, config: dict, rng: np.random.Generator) -> tuple[dict, str]:
        """A child of ``config`` that differs in exactly one (uniformly chosen) variable.

        Returns
        -------
        child : dict
        name : str
            The mutated variable.
        """
        self.validate(config)
        variables = self.variables()
        variable = variables[int(rng.integers(len(variables)))]
        child = dict(config)
        child[variable.name] = variable.mutate(config[variable.name], rng)
        return child, variable.name

    def validate(self, config: dict) -> None:
        """Raise :class:`InvalidInputError` unless ``config`` is a configuration of this space."""
        expected = {v.name: v for v in self.variables()}
        constants = self.constants()
        missing = sorted(set(expected) - set(config))
        bad = [name for name, v in expected.items()
               if name in config and not v.contains(config[name])]
        bad += [name for name, value in constants.items() if config.get(name, value) != value]
        if missing or bad:
            raise InvalidInputError(
                f"Configuration is not in the search space: missing {missing}, invalid "
                f"{sorted(bad)}. Draw configurations with SearchSpace.sample."
            )

    def _ordered(self, config: dict) -> dict:
        names = [v.name for v in self.variables()] + list(self.constants())
        return {name: config[name] for name in names if name in config}

    # -- description ----------------------------------------------------------------------------
    def architecture(self, config: dict) -> dict:
        """The network part of ``config``: what :class:`~uqkit.search.SearchNet` needs."""
        layers = []
        for i in range(1, self.max_layers + 1):
            present = i == 1 or bool(config[f"layer_{i}"])
            layers.append({
                "units": int(config[f"units_{i}"]) if present else 0,
                "activation": str(config[f"activation_{i}"]),
                "skips": [j for j in self.skip_sources(i) if config[f"skip_{i}_{j}"]],
            })
        return {"layers": layers, "dropout": float(config["dropout"])}

    def to_tune(self) -> dict:
        """The space as Ray Tune domains (used by random search and Optuna TPE)."""
        space: dict = {v.name: v.to_tune() for v in self.variables()}
        space.update(self.constants())
        return space

    def to_dict(self) -> dict:
        """JSON/YAML-able description; :meth:`from_dict` inverts it."""
        data = asdict(self)
        data.pop("_cache")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict | None) -> SearchSpace:
        """Build a space from :meth:`to_dict` output (unknown keys are an error)."""
        data = dict(data or {})
        allowed = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise InvalidInputError(
                f"Unknown search-space keys {unknown}; allowed keys are {sorted(allowed)}."
            )
        return cls(**data)
