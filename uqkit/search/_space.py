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

The ranges ``units``, ``activations``, ``dropout``, ``lr``, ``batch_size`` and ``weight_decay``
may also be Ray Tune domains (``tune.loguniform``, ``tune.qrandint``, ``tune.choice``, ...):
each becomes the prior of its variables (of every ``units_i`` / ``activation_i`` for the
per-layer ones), kept as a JSON description (:func:`domain_description`). A domain uqkit cannot
sample or mutate itself (``tune.sample_from``, ``tune.randn``) is passed to Tune as it is: only
searchers that sample through Tune can use it, not aging evolution.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.nn import ACTIVATIONS

__all__ = ["DEFAULT_ACTIVATIONS", "SearchSpace", "Variable", "domain_description"]

DEFAULT_ACTIVATIONS = ("relu", "tanh", "silu", "gelu", "elu", "sigmoid", "identity")
_KINDS = ("int", "float", "categorical", "tune")
# the fields whose value is a prior (a range, a choice or a Tune domain), and their kind
_PRIORS = {"units": "int", "activations": "categorical", "dropout": "float", "lr": "float",
           "batch_size": "int", "weight_decay": "float"}
_LOG_DEFAULT = {"units": True, "dropout": False, "lr": True, "batch_size": True,
                "weight_decay": True}
# space="..." dicts may group their keys under these names (Tune users nest their spaces)
_GROUPS = {"architecture": ("max_layers", "units", "activations", "max_skip_back", "dropout"),
           "training": ("lr", "batch_size", "weight_decay", "epochs", "patience")}


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
    q : float, optional
        Quantization: numeric values are multiples of ``q`` (Tune's ``quniform``, ``qrandint``).
    domain : ray.tune domain, optional
        ``kind="tune"`` only: a Tune domain uqkit does not sample itself (``tune.sample_from``);
        Tune samples it, uqkit accepts any scalar value for it and cannot mutate it.

    Examples
    --------
    >>> v = Variable("lr", "float", 1e-4, 1e-1, log=True)
    >>> v.contains(1e-3), v.contains(1.0)
    (True, False)
    >>> Variable("units", "int", 16, 64, q=16).contains(24)
    False
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    q: float | None = None
    domain: Any = field(default=None, compare=False, repr=False)

    @property
    def mutable(self) -> bool:
        """Whether uqkit can sample and mutate this variable (not an opaque Tune domain)."""
        return self.kind != "tune"

    def sample(self, rng: np.random.Generator) -> Any:
        """A value drawn from the variable's prior (uniform, or log-uniform)."""
        if self.kind == "tune":
            raise InvalidInputError(
                f"Variable {self.name!r} is the Tune domain {self.domain!r}, which only Ray Tune "
                "samples: use searcher='random', 'tpe' or a Tune searcher, not aging evolution, "
                "or give the variable a range, tune.uniform/loguniform/randint/choice."
            )
        if self.kind == "categorical":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.q is not None:
            return self._quantize(value)
        if self.kind == "int":
            return int(min(max(round(value), self.low), self.high))
        return float(value)

    def _quantize(self, value: float):
        """The multiple of ``q`` nearest ``value`` inside the bounds (Tune's quantization)."""
        q = self.q
        lowest, highest = math.ceil(self.low / q - 1e-9), math.floor(self.high / q + 1e-9)
        index = min(max(round(value / q), lowest), highest)
        return int(index * q) if self.kind == "int" else float(round(index * q, 12))

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a valid value of this variable."""
        if self.kind == "tune":
            return value is None or isinstance(value, (bool, int, float, str, np.generic))
        if self.kind == "categorical":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        if self.kind == "int" and int(value) != value:
            return False
        if self.q is not None and not math.isclose(value / self.q, round(value / self.q),
                                                   abs_tol=1e-9):
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
        """The equivalent Ray Tune domain (for random search, Optuna TPE, Tune's searchers)."""
        from ray import tune

        if self.kind == "tune":
            return self.domain
        if self.kind == "categorical":
            return tune.choice(list(self.choices))
        if self.kind == "int":
            if self.q is not None and self.q != 1:  # quantized: upper bound inclusive
                sampler = tune.qlograndint if self.log else tune.qrandint
                return sampler(int(self.low), int(self.high), int(self.q))
            sampler = tune.lograndint if self.log else tune.randint
            return sampler(int(self.low), int(self.high) + 1)
        if self.q is not None:
            return (tune.qloguniform if self.log else tune.quniform)(self.low, self.high, self.q)
        return (tune.loguniform if self.log else tune.uniform)(self.low, self.high)

    @property
    def constant(self) -> bool:
        """A variable with a single possible value is a constant, not searched."""
        if self.kind == "tune":
            return False
        if self.kind == "categorical":
            return len(self.choices) == 1
        return self.low == self.high

    @property
    def first(self) -> Any:
        """The value of a constant variable (its lower bound, or its first choice)."""
        if self.kind == "categorical":
            return self.choices[0]
        return int(self.low) if self.kind == "int" else float(self.low)


def domain_description(domain) -> dict:
    """The JSON description of a Ray Tune domain, the form in which a :class:`SearchSpace`
    keeps it (and YAML may write it).

    ``{"kind": "float" | "int", "low", "high", "log", "q"}`` (bounds inclusive: Tune's
    exclusive upper bound of ``randint`` is converted), ``{"kind": "categorical", "choices"}``,
    or, for a domain uqkit does not sample itself (``tune.sample_from``, ``tune.randn``),
    ``{"kind": "tune", "description"}``.

    Examples
    --------
    >>> from ray import tune  # doctest: +SKIP
    >>> domain_description(tune.randint(16, 65))  # doctest: +SKIP
    {'kind': 'int', 'low': 16, 'high': 64, 'log': False, 'q': None}
    >>> domain_description(tune.quniform(0.0, 0.2, 0.05))  # doctest: +SKIP
    {'kind': 'float', 'low': 0.0, 'high': 0.2, 'log': False, 'q': 0.05}
    """
    from ray.tune.search import sample

    if isinstance(domain, sample.Categorical):
        return {"kind": "categorical", "choices": list(domain.categories)}
    if isinstance(domain, (sample.Float, sample.Integer)):
        sampler = domain.get_sampler()
        q = None
        if isinstance(sampler, sample.Quantized):
            q, sampler = sampler.q, sampler.get_sampler()
        if isinstance(sampler, (sample.Uniform, sample.LogUniform)):
            integer = isinstance(domain, sample.Integer)
            low, high = domain.lower, domain.upper
            if integer and (q is None or q == 1):
                q, high = None, high - 1  # Tune's randint excludes its upper bound
            elif q is not None:
                low = math.ceil(low / q - 1e-9) * q
                high = math.floor(high / q + 1e-9) * q
            cast = int if integer else float
            return {"kind": "int" if integer else "float", "low": cast(low),
                    "high": cast(high), "log": isinstance(sampler, sample.LogUniform),
                    "q": None if q is None else cast(q)}
    return {"kind": "tune", "description": _describe_opaque(domain)}


def _describe_opaque(domain) -> str:
    """A stable name of an opaque domain (part of the resume fingerprint): the function's module,
    name and a checksum of its code, never a memory address."""
    import zlib

    func = getattr(domain, "func", None)
    if func is None:
        return f"{type(domain).__name__}{getattr(domain, 'domain_str', '')}"
    code = getattr(func, "__code__", None)
    digest = zlib.crc32(code.co_code) if code is not None else 0
    return (f"sample_from({getattr(func, '__module__', '?')}."
            f"{getattr(func, '__qualname__', type(func).__name__)}, code {digest:08x})")


def _is_tune_domain(value) -> bool:
    return type(value).__module__.startswith("ray.tune")


class VariableSpace:
    """What every search space shares: configurations are the values of its
    :class:`Variable` s (``variables()``) plus fixed ``constants()``; drawn, mutated one
    variable at a time (aging evolution, Egele et al. 2022 Alg. 1) and validated here.

    ``_label`` names the space in messages.
    """

    _label = "search space"

    def variables(self) -> list[Variable]:
        raise NotImplementedError

    def constants(self) -> dict:
        raise NotImplementedError

    def opaque(self) -> list[str]:
        """Names of the variables only Tune samples (``tune.sample_from`` and the like)."""
        return [v.name for v in self.variables() if not v.mutable]

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
        missing = sorted(set(expected) - set(config))
        bad = [name for name, v in expected.items()
               if name in config and not v.contains(config[name])]
        bad += [name for name, value in self.constants().items()
                if config.get(name, value) != value]
        if missing or bad:
            raise InvalidInputError(
                f"Configuration is not in the {self._label}: missing {missing}, invalid "
                f"{sorted(bad)}. Draw configurations with {type(self).__name__}.sample."
            )

    def _ordered(self, config: dict) -> dict:
        names = [v.name for v in self.variables()] + list(self.constants())
        return {name: config[name] for name in names if name in config}


@dataclass
class SearchSpace(VariableSpace):
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

    Notes
    -----
    ``units``, ``activations``, ``dropout``, ``lr``, ``batch_size`` and ``weight_decay`` also
    take a Ray Tune domain (``SearchSpace(lr=tune.loguniform(1e-4, 1e-1),
    batch_size=tune.choice([32, 64]))``) or its JSON description (:func:`domain_description`),
    which is what the field then holds. ``max_layers``, ``max_skip_back``, ``epochs`` and
    ``patience`` decide which variables exist and stay plain integers.

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
    units: tuple[int, int] | dict = (16, 512)
    activations: tuple[str, ...] | dict = DEFAULT_ACTIVATIONS
    max_skip_back: int = 2
    dropout: tuple[float, float] | dict = (0.0, 0.25)
    lr: tuple[float, float] | dict = (1e-4, 1e-1)
    batch_size: tuple[int, int] | dict = (16, 256)
    weight_decay: tuple[float, float] | dict = (1e-7, 1e-2)
    epochs: int = 200
    patience: int = 20
    _cache: list = field(default_factory=list, init=False, repr=False, compare=False)
    # live Tune domains that only Tune samples (tune.sample_from), by field: not JSON
    _opaque: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        for name in _PRIORS:
            try:
                setattr(self, name, self._normalised_prior(name, getattr(self, name)))
            except (TypeError, ValueError) as error:
                problems.append(f"{name}: {error}")
        if problems:
            raise InvalidInputError("Invalid SearchSpace: " + "; ".join(problems) + ".")
        for name in ("max_layers", "max_skip_back", "epochs", "patience"):
            if _is_tune_domain(getattr(self, name)):
                problems.append(f"{name} decides which variables exist (or how a trial trains) "
                                "and cannot be a Tune domain: give an int")
        if problems:
            raise InvalidInputError("Invalid SearchSpace: " + "; ".join(problems) + ".")
        self._check_values(problems)

    def _normalised_prior(self, name: str, value):
        """A prior field as it is kept: a tuple range (choices), or a domain description."""
        if _is_tune_domain(value):
            description = domain_description(value)
            if description["kind"] == "tune":
                self._opaque[name] = value
            value = description
        if isinstance(value, dict):
            kind = value.get("kind")
            keys = {"categorical": {"kind", "choices"}, "tune": {"kind", "description"},
                    "float": {"kind", "low", "high", "log", "q"}}.get(kind)
            keys = keys or {"kind", "low", "high", "log", "q"}
            if kind not in _KINDS or not set(value) <= keys:
                raise ValueError(
                    f"a domain is a Ray Tune domain or a dict with keys {sorted(keys)} and kind "
                    f"in {list(_KINDS)}; got {value!r}")
            if kind == "tune" and name not in self._opaque:
                self._opaque[name] = None  # read back from JSON: validates, cannot sample
            if name == "activations" and kind == "categorical":
                return tuple(value["choices"])
            if kind == "categorical":
                return {"kind": kind, "choices": list(value["choices"])}
            if kind in ("int", "float"):
                if kind != _PRIORS[name] and not (kind == "int" and _PRIORS[name] == "float"):
                    raise ValueError(f"needs a {_PRIORS[name]} domain (or tune.choice), got "
                                     f"a {kind} one")
                return {"kind": kind, "low": value["low"], "high": value["high"],
                        "log": bool(value.get("log", _LOG_DEFAULT.get(name, False))),
                        "q": value.get("q")}
            return dict(value)
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise ValueError(f"expected a range, choices or a Tune domain; got {value!r}")
        if name == "activations":
            return tuple(value)
        cast = int if _PRIORS[name] == "int" else float
        value = tuple(cast(v) for v in value)
        if len(value) != 2:
            raise ValueError(f"a range is (low, high); got {value!r}")
        return value

    def _bounds(self, name: str) -> tuple | None:
        """The smallest and largest value of a numeric prior (``None`` for an opaque one)."""
        value = getattr(self, name)
        if isinstance(value, tuple):
            return value
        if value["kind"] == "categorical":
            if not value["choices"] or not all(
                    isinstance(c, (int, float)) and not isinstance(c, bool)
                    for c in value["choices"]):
                return (float("nan"), float("nan"))
            return min(value["choices"]), max(value["choices"])
        if value["kind"] == "tune":
            return None
        return value["low"], value["high"]

    def _check_values(self, problems: list) -> None:
        if not isinstance(self.max_layers, int) or self.max_layers < 1:
            problems.append(f"max_layers must be an int >= 1 (got {self.max_layers!r})")
        if not isinstance(self.max_skip_back, int) or self.max_skip_back < 0:
            problems.append(f"max_skip_back must be an int >= 0 (got {self.max_skip_back!r})")
        activations = self.activations if isinstance(self.activations, tuple) else ()
        unknown = [a for a in activations if a not in ACTIVATIONS]
        if isinstance(self.activations, tuple) and (unknown or not activations):
            problems.append(f"activations must be non-empty names from {sorted(ACTIVATIONS)}")
        for name, low_min in (("units", 1), ("dropout", 0), ("lr", 0), ("batch_size", 1),
                              ("weight_decay", 0)):
            bounds = self._bounds(name)
            if bounds is None:
                continue
            low, high = bounds
            if not low_min <= low <= high or (name in ("lr", "weight_decay") and low <= 0):
                problems.append(f"{name}=({low}, {high}) must satisfy {low_min} <= low <= high"
                                + (" and low > 0" if name in ("lr", "weight_decay") else ""))
        dropout = self._bounds("dropout")
        if dropout is not None and dropout[1] >= 1:
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
        # A variable with a single value (e.g. dropout=(0, 0)) is a constant, not searched.
        out = [v for v in self._all_variables() if not v.constant]
        self._cache[:] = out
        return list(out)

    def _prior(self, variable: str, name: str) -> Variable:
        """Variable ``variable`` with the prior of field ``name``."""
        value = getattr(self, name)
        if name == "activations" and isinstance(value, tuple):
            return Variable(variable, "categorical", choices=value)
        if isinstance(value, tuple):
            return Variable(variable, _PRIORS[name], *value, log=_LOG_DEFAULT[name])
        if value["kind"] == "categorical":
            return Variable(variable, "categorical", choices=tuple(value["choices"]))
        if value["kind"] == "tune":
            return Variable(variable, "tune", domain=self._opaque.get(name))
        return Variable(variable, value["kind"], value["low"], value["high"], log=value["log"],
                        q=value["q"])

    def _all_variables(self) -> list[Variable]:
        """Every variable of the space, constants included, in a fixed order."""
        out = []
        for i in range(1, self.max_layers + 1):
            if i > 1:
                out.append(Variable(f"layer_{i}", "categorical", choices=(True, False)))
            out.append(self._prior(f"units_{i}", "units"))
            out.append(self._prior(f"activation_{i}", "activations"))
            for j in self.skip_sources(i):
                out.append(Variable(f"skip_{i}_{j}", "categorical", choices=(False, True)))
        out += [self._prior(name, name) for name in ("dropout", "lr", "batch_size",
                                                      "weight_decay")]
        return out

    def constants(self) -> dict:
        """Values of the variables that have a single possible value (not searched)."""
        full = {}
        for i in range(2, self.max_layers + 1):
            full[f"layer_{i}"] = True  # the value a layer has where layers cannot be skipped
        return {v.name: full.get(v.name, v.first) for v in self._all_variables() if v.constant}

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
        """JSON/YAML-able description; :meth:`from_dict` inverts it (a Tune domain is written
        as its :func:`domain_description`; one only Tune samples cannot be sampled again from
        the description, which still validates configurations)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__
                if not name.startswith("_")}
        return {k: list(v) if isinstance(v, tuple) else copy.deepcopy(v)
                for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict | None) -> SearchSpace:
        """Build a space from :meth:`to_dict` output, or from a Tune-style dict.

        Values may be Ray Tune domains; keys may be grouped under ``"architecture"``
        (``max_layers``, ``units``, ``activations``, ``max_skip_back``, ``dropout``) and
        ``"training"`` (``lr``, ``batch_size``, ``weight_decay``, ``epochs``, ``patience``).
        Unknown keys are an error that lists the valid ones.

        Examples
        --------
        >>> space = SearchSpace.from_dict({"lr": [1e-3, 1e-2], "architecture": {"max_layers": 2}})
        >>> space.max_layers, space.lr
        (2, (0.001, 0.01))
        """
        data = dict(data or {})
        allowed = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        for group, members in _GROUPS.items():
            if group not in data or group in allowed:
                continue
            inner = data.pop(group)
            if not isinstance(inner, dict):
                raise InvalidInputError(
                    f"Search-space group {group!r} must be a dict of {list(members)}; got "
                    f"{type(inner).__name__}."
                )
            wrong = sorted(set(inner) - set(members))
            twice = sorted(set(inner) & set(data))
            if wrong or twice:
                problems = ([f"unknown keys {wrong}"] if wrong else []) + (
                    [f"keys also given outside the group {twice}"] if twice else [])
                raise InvalidInputError(
                    f"Search-space group {group!r}: {', '.join(problems)}; {group!r} takes "
                    f"{list(members)}."
                )
            data.update(inner)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise InvalidInputError(
                f"Unknown search-space keys {unknown}; allowed keys are {sorted(allowed)}"
                f" (or grouped: {', '.join(f'{g}: {list(m)}' for g, m in _GROUPS.items())})."
            )
        return cls(**data)
