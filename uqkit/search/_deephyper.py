"""DeepHyper's ``dense_skipco`` space, the space of the AutoDEUQ experiments, as a uqkit space.

Egele et al. (2022, Sec. 3.1, Fig. 2) search DeepHyper's neural-architecture spaces jointly
with training hyperparameters. This preset reproduces the ``DenseSkipCoSpace`` of DeepHyper and
the Gaussian head of its uncertainty-quantification examples, with one *categorical* variable
per decision, so that aging evolution (paper Alg. 1) changes exactly one real choice per
mutation (uqkit's own :class:`~uqkit.search.SearchSpace` has separate ``layer_i``/``units_i``
scalars, where a mutation of an absent layer's units changes nothing).

What the sources say (read for this preset; nothing copied)
----------------------------------------------------------
* ``deephyper/nas/spacelib/tabular/dense_skipco.py`` of github.com/deephyper/deephyper at commit
  e3642842 (2022-05-27; the file was added in f79c48d3, 2022-04-28, and removed in the 2024
  refactoring 4e74af08), class ``DenseSkipCoSpace``:

  - ``num_layers=10`` variable nodes. Each is ``Identity`` or ``Dense(units, activation)`` with
    ``units`` in 16, 32, .., 96 (``range(16, 97, 16)``) and ``activation`` in
    ``[None, swish, relu, tanh, sigmoid]``: 1 + 6 x 5 = 31 choices per node.
  - Skip anchors: a deque of the last 3 *merge* outputs, starting with the input. Node ``i``
    reads merge ``i-1``; its merge node receives the node's output and, per anchor, a variable
    node that is ``Zero`` (no edge) or ``Connect(anchor)``. With nodes numbered 1..10 and
    merge 0 the input, node ``i`` has anchors ``max(0, i-3) .. i-1``: 1 + 2 + 3 x 8 = 27 skip
    variables. The anchor ``i-1`` is the node's own input, so that skip is a residual.
  - The merge is ``AddByProjecting(activation="relu")``
    (``deephyper/nas/operation/_merge.py``, same commit): the first input is the node's output;
    every input whose width differs from it goes through a fresh ``Dense(width)`` (with bias,
    no activation); the inputs are added and ReLU follows. With no active skip the merge has
    one input and returns it unchanged: **no ReLU** then.
  - After the last merge: ``Dropout(rate=dropout)`` (``dropout=0.0``: a no-op) and the output
    ``Dense(n_outputs)``, linear for regression, softmax for classification. There is no other
    skip into the output: the output reads the last merge only, so the skips *into* the output
    are the last node's three anchors (and identity nodes let earlier merges through).
* The head, from DeepHyper's uncertainty-quantification example
  (``docs/user_guides/deep_ensemble/cubicuq/search_space.py`` at commit fe1abcb6, 2021-06-29):
  ``Dense(2 d)`` then ``tfd.Normal(loc=t[..., :d], scale=1e-3 + softplus(0.05 * t[..., d:]))``,
  trained on the NLL of that normal. That example uses an older space (11 activations, units to
  256); the head is what this preset takes from it.
* The hyperparameters, from the same example's ``problem.py``: ``learning_rate`` log-uniform in
  [1e-4, 0.1]; ``optimizer`` in {sgd, rmsprop, adagrad, adam, adadelta, adamax, nadam};
  ``patience_ReduceLROnPlateau`` and ``patience_EarlyStopping`` integers in [3, 30] (both on
  ``val_loss``); ``batch_size`` an integer in [1, 20] (for a 1-D toy problem of a few hundred
  rows) and ``num_epochs=100``.

Where the sources are silent or disagree, and what this preset chooses
----------------------------------------------------------------------
* The paper's own text was not available while this preset was written (only its abstract):
  the values above come from DeepHyper's code, and the paper may state other ranges.
* Batch size for tabular (UCI) data: the example's [1, 20] is for its toy problem. Choice: a
  categorical over 16, 32, 64, 128, 256.
* Epochs: the example's ``num_epochs=100`` (early stopping usually ends a trial before).
* Optimiser constants: Keras and torch differ in some defaults (RMSprop's decay 0.9 vs 0.99,
  epsilon 1e-7 vs 1e-8). The preset uses torch's optimisers at their defaults with the searched
  learning rate. ReduceLROnPlateau uses Keras's defaults (factor 0.1, absolute threshold 1e-4).
* Early stopping: DeepHyper keeps the best epoch through ``ModelCheckpoint(save_best_only)``;
  uqkit's early stopping restores the best epoch: the same network.
* Mapping the head to uqkit's: uqkit's Gaussian head reads a raw pair ``(mean, r)`` as
  variance ``softplus(r) + 1e-6`` (:func:`~uqkit.nn.gaussian_head`). The network of this space
  (:class:`~uqkit.search.DenseSkipCoNet`) emits ``r = softplus^{-1}(s^2 - 10^{-6})`` for
  DeepHyper's scale ``s = 10^{-3} + softplus(0.05 t)``, so that the variance uqkit reads is
  exactly ``s^2`` (DeepHyper's scale is a standard deviation; its floor 1e-3 squared is uqkit's
  variance floor 1e-6). Selection, the mixture and the saved model then need nothing new.

A configuration is a flat ``dict``: ``node_i`` (``"identity"`` or ``"<units>-<activation>"``,
activation names of :data:`uqkit.nn.ACTIVATIONS`: ``identity`` for DeepHyper's ``None``,
``swish``, ``relu``, ``tanh``, ``sigmoid``), ``skip_i_j`` (bool: node ``i``'s merge receives
merge ``j``; ``j = 0`` is the input), ``batch_size``, ``lr``, ``optimizer``,
``patience_reduce_lr``, ``patience_early_stopping``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uqkit.exceptions import InvalidInputError
from uqkit.nn import ACTIVATIONS
from uqkit.search._space import Variable, VariableSpace

__all__ = ["OPTIMIZERS", "DeepHyperSpace"]

OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam", "adadelta", "adamax", "nadam")
"""The optimisers of DeepHyper's example problem (torch's classes of the same names)."""

_HEADS = ("gaussian", "softmax")


def _ranged(name: str, value, kind: type) -> tuple:
    low, high = (kind(v) for v in value)
    if not 0 < low <= high:
        raise InvalidInputError(f"{name}=({low}, {high}) must satisfy 0 < low <= high.")
    return low, high


@dataclass
class DeepHyperSpace(VariableSpace):
    """DeepHyper's ``dense_skipco`` space with the AutoDEUQ hyperparameters (see module doc).

    Parameters
    ----------
    num_nodes : int, default 10
        Variable nodes (DeepHyper's ``num_layers``).
    units : sequence of int, default (16, 32, 48, 64, 80, 96)
        Widths of a dense node.
    activations : sequence of str, default ("identity", "swish", "relu", "tanh", "sigmoid")
        Activations of a dense node (names of :data:`uqkit.nn.ACTIVATIONS`).
    max_anchors : int, default 3
        Skip anchors per node: the last ``max_anchors`` merge outputs (the input first).
    batch_size : sequence of int, default (16, 32, 64, 128, 256)
        Batch-size choices.
    lr : (float, float), default (1e-4, 1e-1)
        Learning-rate range (log-uniform).
    optimizers : sequence of str, default :data:`OPTIMIZERS`
    patience_reduce_lr, patience_early_stopping : (int, int), default (3, 30)
        Ranges of the ReduceLROnPlateau and early-stopping patiences (epochs, on the
        validation NLL).
    epochs : int, default 100
        Maximum epochs of a trial.
    dropout : float, default 0.0
        Dropout before the output layer (DeepHyper's constant ``dropout``).
    head : {"gaussian", "softmax"}, default "gaussian"
        ``"gaussian"``: DeepHyper's normal head (regression); ``"softmax"``: the plain output
        layer of ``DenseSkipCoSpace(regression=False)`` whose outputs are class logits.

    Examples
    --------
    >>> import numpy as np
    >>> space = DeepHyperSpace()
    >>> len(space.variables()), len(space.variables()[0].choices)
    (42, 31)
    >>> config = space.sample(np.random.default_rng(0))
    >>> child, name = space.mutate(config, np.random.default_rng(1))
    >>> [k for k in config if config[k] != child[k]] == [name]
    True
    >>> DeepHyperSpace.from_dict(space.to_dict()) == space
    True
    """

    # sample, mutate and validate come from VariableSpace. Every variable here is live in
    # every configuration (an identity node still passes its input through its merge, a skip
    # always has its anchor), so a mutated child is always a different network or training run.
    _label = "DeepHyper space"

    num_nodes: int = 10
    units: tuple[int, ...] = (16, 32, 48, 64, 80, 96)
    activations: tuple[str, ...] = ("identity", "swish", "relu", "tanh", "sigmoid")
    max_anchors: int = 3
    batch_size: tuple[int, ...] = (16, 32, 64, 128, 256)
    lr: tuple[float, float] = (1e-4, 1e-1)
    optimizers: tuple[str, ...] = OPTIMIZERS
    patience_reduce_lr: tuple[int, int] = (3, 30)
    patience_early_stopping: tuple[int, int] = (3, 30)
    epochs: int = 100
    dropout: float = 0.0
    head: str = "gaussian"
    _cache: list = field(default_factory=list, init=False, repr=False, compare=False)

    kind = "deephyper"  # the key that tells space_from_dict which space a dict is

    def __post_init__(self) -> None:
        problems = []
        for name in ("num_nodes", "max_anchors", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be an int >= 1 (got {value!r})")
        self.units = tuple(int(u) for u in self.units)
        self.activations = tuple(str(a) for a in self.activations)
        self.batch_size = tuple(int(b) for b in self.batch_size)
        self.optimizers = tuple(str(o) for o in self.optimizers)
        if not self.units or min(self.units) < 1:
            problems.append("units must be a non-empty list of ints >= 1")
        unknown = [a for a in self.activations if a not in ACTIVATIONS]
        if unknown or not self.activations:
            problems.append(f"activations must be non-empty names from {sorted(ACTIVATIONS)}")
        if not self.batch_size or min(self.batch_size) < 1:
            problems.append("batch_size must be a non-empty list of ints >= 1")
        bad = [o for o in self.optimizers if o not in OPTIMIZERS]
        if bad or not self.optimizers:
            problems.append(f"optimizers must be non-empty names from {list(OPTIMIZERS)}")
        if not 0.0 <= float(self.dropout) < 1.0:
            problems.append(f"dropout must be in [0, 1) (got {self.dropout!r})")
        if self.head not in _HEADS:
            problems.append(f"head must be one of {list(_HEADS)} (got {self.head!r})")
        try:
            self.lr = _ranged("lr", self.lr, float)
            self.patience_reduce_lr = _ranged("patience_reduce_lr", self.patience_reduce_lr, int)
            self.patience_early_stopping = _ranged(
                "patience_early_stopping", self.patience_early_stopping, int)
        except (InvalidInputError, TypeError, ValueError) as error:
            problems.append(str(error).rstrip("."))
        if problems:
            raise InvalidInputError("Invalid DeepHyperSpace: " + "; ".join(problems) + ".")
        self.dropout = float(self.dropout)

    # -- the variables --------------------------------------------------------------------
    def node_choices(self) -> tuple[str, ...]:
        """The values of a ``node_i`` variable: ``"identity"``, then ``"<units>-<activation>"``."""
        return ("identity", *(f"{u}-{a}" for u in self.units for a in self.activations))

    def anchors(self, node: int) -> list[int]:
        """Merge outputs node ``node`` (1-based) may take a skip from (0: the input)."""
        return list(range(max(0, node - self.max_anchors), node))

    def variables(self) -> list[Variable]:
        """Every searched variable, in a fixed order (nodes and their skips, then training)."""
        if self._cache:
            return list(self._cache)
        out = []
        for i in range(1, self.num_nodes + 1):
            out.append(Variable(f"node_{i}", "categorical", choices=self.node_choices()))
            out += [Variable(f"skip_{i}_{j}", "categorical", choices=(False, True))
                    for j in self.anchors(i)]
        out += [
            Variable("batch_size", "categorical", choices=self.batch_size),
            Variable("lr", "float", *self.lr, log=True),
            Variable("optimizer", "categorical", choices=self.optimizers),
            Variable("patience_reduce_lr", "int", *self.patience_reduce_lr),
            Variable("patience_early_stopping", "int", *self.patience_early_stopping),
        ]
        # a variable with one possible value is a constant of the space, not searched
        out = [v for v in out if (v.kind == "categorical" and len(v.choices) > 1)
               or (v.kind != "categorical" and v.low < v.high)]
        self._cache[:] = out
        return list(out)

    def constants(self) -> dict:
        """Values of the variables that have a single possible value (not searched)."""
        searched = {v.name for v in self.variables()}
        full: dict[str, Any] = {}
        for i in range(1, self.num_nodes + 1):
            full[f"node_{i}"] = self.node_choices()[0]
            full.update({f"skip_{i}_{j}": False for j in self.anchors(i)})
        full.update(batch_size=self.batch_size[0], lr=self.lr[0], optimizer=self.optimizers[0],
                    patience_reduce_lr=self.patience_reduce_lr[0],
                    patience_early_stopping=self.patience_early_stopping[0])
        return {k: v for k, v in full.items() if k not in searched}

    @property
    def patience(self) -> int:
        """The shortest early-stopping patience (the ASHA scheduler's grace period)."""
        return self.patience_early_stopping[0]

    # -- description ------------------------------------------------------------------------
    def architecture(self, config: dict) -> dict:
        """The network part of ``config``, as :class:`~uqkit.search.DenseSkipCoNet` reads it.

        Examples
        --------
        >>> import numpy as np
        >>> space = DeepHyperSpace(num_nodes=2)
        >>> config = {**space.sample(np.random.default_rng(0)), "node_1": "32-relu",
        ...           "node_2": "identity", "skip_1_0": False, "skip_2_0": True,
        ...           "skip_2_1": False}
        >>> for node in space.architecture(config)["nodes"]:
        ...     print(node)
        {'units': 32, 'activation': 'relu', 'skips': []}
        {'units': 0, 'activation': 'identity', 'skips': [0]}
        """
        nodes = []
        for i in range(1, self.num_nodes + 1):
            choice = str(config[f"node_{i}"])
            if choice == "identity":
                units, activation = 0, "identity"
            else:
                width, activation = choice.split("-", 1)
                units = int(width)
            nodes.append({"units": units, "activation": activation,
                          "skips": [j for j in self.anchors(i) if config[f"skip_{i}_{j}"]]})
        return {"kind": "dense_skipco", "nodes": nodes, "dropout": self.dropout,
                "head": self.head}

    def to_tune(self) -> dict:
        """The space as Ray Tune domains (used by random search and Optuna TPE)."""
        space: dict = {v.name: v.to_tune() for v in self.variables()}
        space.update(self.constants())
        return space

    def to_dict(self) -> dict:
        """JSON/YAML-able description with ``kind: deephyper``; :meth:`from_dict` inverts it."""
        data: dict[str, Any] = {"kind": self.kind}
        for name in self.__dataclass_fields__:
            if not name.startswith("_"):
                value = getattr(self, name)
                data[name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls, data: dict | None) -> DeepHyperSpace:
        """Build the space from :meth:`to_dict` output (or a YAML ``space:`` section with
        ``kind: deephyper``); unknown keys are an error."""
        data = dict(data or {})
        if data.pop("kind", cls.kind) != cls.kind:
            raise InvalidInputError(f"A DeepHyperSpace dict has kind {cls.kind!r}.")
        allowed = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise InvalidInputError(
                f"Unknown DeepHyper-space keys {unknown}; allowed keys are {sorted(allowed)} "
                "(and kind: deephyper)."
            )
        return cls(**data)
