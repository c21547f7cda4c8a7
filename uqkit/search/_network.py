"""The networks of AutoDEUQ trials: a searched trunk with mean and variance heads.

:class:`SearchNet` is the network of uqkit's own :class:`~uqkit.search.SearchSpace` (below);
:class:`DenseSkipCoNet` that of DeepHyper's ``dense_skipco`` preset
(:class:`~uqkit.search.DeepHyperSpace`); :func:`make_search_net` picks by the architecture's
``kind``.

Egele et al. (2022, Sec. 3.1, Fig. 2): node ``0`` is the input ``x``; hidden node ``i`` is

.. math::

    z_i = h_{i-1} + \\sum_{j \\in S_i} P_{ij} h_j, \\qquad
    h_i = \\mathrm{dropout}(a_i(W_i z_i + b_i)) \\text{ (layer present)}, \\quad
    h_i = z_i \\text{ (layer skipped: identity node)}

where ``S_i`` are the skip-connection sources chosen by the search and ``P_ij`` is a linear
projection to the width of ``h_{i-1}`` (the identity when the widths agree). The output layer
maps the last node to ``2d`` raw values, read by :func:`~uqkit.nn.gaussian_head` as the mean and
``softplus(.) + min_variance`` variance (paper Eq. 2 trains it with the Gaussian NLL).

Randomness: a trial trains its network as a one-member :class:`~uqkit.nn.StackedModule`, which
runs the forward pass with the member's own dropout generator (seeded from the trial seed), and
:func:`build_search_net` builds networks without drawing from torch's global generator, so a
search never moves the caller's random state.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from uqkit.nn import ACTIVATIONS

__all__ = ["DenseSkipCoNet", "SearchNet", "build_search_net", "make_search_net"]


class _ArchitectureNet(nn.Module):
    """A network built from an ``architecture`` dict whose ``_nodes`` entries each name an
    activation. Activations may be lambdas, so pickling (to Ray workers) drops them and
    unpickling rebuilds them from the architecture."""

    _nodes = "layers"

    def _make_activations(self) -> list:
        return [ACTIVATIONS[node["activation"]] for node in self.architecture[self._nodes]]

    def __getstate__(self):  # activations may be lambdas: rebuild them after unpickling
        state = self.__dict__.copy()
        state["_activations"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._activations = self._make_activations()


class SearchNet(_ArchitectureNet):
    """A network of the AutoDEUQ space (picklable: plain top-level module).

    Parameters
    ----------
    in_features, out_features : int
        Input width and raw output width (``2 × n_targets`` for a Gaussian head, ``n_classes``
        for a classifier).
    architecture : dict
        ``{"layers": [{"units", "activation", "skips"}, ...], "dropout": float}`` as made by
        :meth:`SearchSpace.architecture`; ``units = 0`` marks a skipped layer.

    Notes
    -----
    In training mode, dropout calls ``F.dropout``: trials run the network inside
    :func:`uqkit.nn.use_generator` (through :class:`~uqkit.nn.StackedModule`), so the masks come
    from the trial's own dropout generator, never from torch's global one.

    Examples
    --------
    >>> import torch
    >>> arch = {"layers": [{"units": 8, "activation": "relu", "skips": []},
    ...                    {"units": 0, "activation": "tanh", "skips": []},
    ...                    {"units": 4, "activation": "gelu", "skips": [0]}], "dropout": 0.0}
    >>> SearchNet(3, 2, arch)(torch.zeros(5, 3)).shape
    torch.Size([5, 2])
    """

    def __init__(self, in_features: int, out_features: int, architecture: dict) -> None:
        super().__init__()
        self.architecture = architecture
        self.dropout = float(architecture.get("dropout", 0.0))
        widths = [int(in_features)]  # width of node j
        self.dense = nn.ModuleDict()
        self.project = nn.ModuleDict()
        for i, layer in enumerate(architecture["layers"], start=1):
            previous = widths[i - 1]
            for j in layer.get("skips", []):
                if widths[j] != previous:
                    self.project[f"{i}_{j}"] = nn.Linear(widths[j], previous, bias=False)
            units = int(layer["units"])
            if units > 0:
                self.dense[str(i)] = nn.Linear(previous, units)
            widths.append(units if units > 0 else previous)
        self.head = nn.Linear(widths[-1], int(out_features))
        self._activations = self._make_activations()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for i, layer in enumerate(self.architecture["layers"], start=1):
            z = nodes[i - 1]
            for j in layer.get("skips", []):
                key = f"{i}_{j}"
                z = z + (self.project[key](nodes[j]) if key in self.project else nodes[j])
            if str(i) in self.dense:
                z = self._activations[i - 1](self.dense[str(i)](z))
                if self.dropout > 0:
                    z = F.dropout(z, self.dropout, training=self.training)
            nodes.append(z)
        return self.head(nodes[-1])



_SCALE_FLOOR = 1e-3  # DeepHyper's scale floor; squared, it is uqkit's variance floor 1e-6


def _softplus_inverse_of_scale(t: torch.Tensor) -> torch.Tensor:
    """``r`` with ``softplus(r) + 1e-6 = (1e-3 + softplus(0.05 t))^2``, finite for every ``t``.

    With ``p = softplus(0.05 t)``, ``s^2 - 10^{-6} = p (2 \\cdot 10^{-3} + p) = v`` and
    ``r = log(expm1(v))``. It is computed from ``log v`` so that neither ``r`` nor its gradient
    is infinite where ``v`` underflows (very negative ``t``); ``torch.where`` branches get
    inputs inside their safe ranges, since a NaN gradient of an unused branch still leaks.
    """
    s = 0.05 * t
    p = F.softplus(s)
    # log softplus(s) = s + log1p(exp(-|s|)...) reduces to s within 1e-9 below s = -20
    log_p = torch.where(s < -20, s, torch.log(F.softplus(torch.clamp(s, min=-20.0))))
    log_v = log_p + torch.log(2 * _SCALE_FLOOR + p)
    v = torch.exp(log_v)
    middle = torch.log(torch.expm1(torch.clamp(v, 1e-3, 20.0)))
    # v < 1e-3: log(expm1(v)) = log v + v/2 + O(v^2); v > 20: softplus(v) = v in float32
    return torch.where(v < 1e-3, log_v + v / 2, torch.where(v > 20, v, middle))


class DenseSkipCoNet(_ArchitectureNet):
    """The network of DeepHyper's ``dense_skipco`` space (:class:`~uqkit.search.DeepHyperSpace`).

    Egele et al. (2022, Sec. 3.1, Fig. 2) with the wiring of DeepHyper's ``DenseSkipCoSpace``:
    merge ``0`` is the input ``x``; node ``i`` computes ``h_i = a_i(W_i m_{i-1} + b_i)`` (or
    ``h_i = m_{i-1}`` for an identity node) and its merge is

    .. math::

        m_i = \\mathrm{ReLU}\\Big(h_i + \\sum_{j \\in S_i} P_{ij} m_j\\Big)
        \\text{ if } S_i \\neq \\emptyset, \\qquad m_i = h_i \\text{ otherwise},

    where ``S_i`` are the active skips (anchors ``i-3..i-1``) and ``P_ij`` is a dense layer
    with bias to the width of ``h_i`` (the identity when the widths agree). The output layer is
    ``Dense(out_features)`` on ``dropout(m_L)``.

    Head (``architecture["head"]``): ``"gaussian"``: the output ``t = (t_mu, t_s)`` is
    DeepHyper's normal, ``loc = t_mu``, ``scale = 1e-3 + softplus(0.05 t_s)``; the network
    returns ``(t_mu, r)`` with ``softplus(r) + 1e-6 = scale^2``, so uqkit's
    :func:`~uqkit.nn.gaussian_head` (with its floor ``1e-6``) reads variance ``scale^2``.
    ``"softmax"``: the outputs are class logits (DeepHyper's softmax is in uqkit's loss).

    Initialisation is torch's default for every layer (DeepHyper's Keras layers start from
    Glorot-uniform weights and zero biases): the same family of networks, not the same draws.

    Parameters
    ----------
    in_features, out_features : int
    architecture : dict
        ``{"kind": "dense_skipco", "nodes": [{"units", "activation", "skips"}, ...],
        "dropout": float, "head": str}`` (:meth:`DeepHyperSpace.architecture`); ``units = 0``
        is an identity node.

    Examples
    --------
    >>> arch = {"kind": "dense_skipco", "dropout": 0.0, "head": "gaussian",
    ...         "nodes": [{"units": 16, "activation": "relu", "skips": [0]},
    ...                   {"units": 0, "activation": "identity", "skips": []}]}
    >>> net = DenseSkipCoNet(3, 2, arch)
    >>> sorted(net.project), net(torch.zeros(4, 3)).shape
    (['1_0'], torch.Size([4, 2]))
    """

    _nodes = "nodes"

    def __init__(self, in_features: int, out_features: int, architecture: dict) -> None:
        super().__init__()
        self.architecture = architecture
        self.dropout = float(architecture.get("dropout", 0.0))
        self.gaussian = architecture.get("head", "gaussian") == "gaussian"
        self.dense = nn.ModuleDict()
        self.project = nn.ModuleDict()
        widths = [int(in_features)]  # width of merge j
        for i, node in enumerate(architecture["nodes"], start=1):
            units = int(node["units"])
            if units > 0:
                self.dense[str(i)] = nn.Linear(widths[i - 1], units)
            width = units if units > 0 else widths[i - 1]
            for j in node["skips"]:
                if widths[j] != width:
                    self.project[f"{i}_{j}"] = nn.Linear(widths[j], width)
            widths.append(width)
        self.output = nn.Linear(widths[-1], int(out_features))
        self._activations = self._make_activations()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        merges = [x]
        for i, node in enumerate(self.architecture["nodes"], start=1):
            h = merges[i - 1]
            if str(i) in self.dense:
                h = self._activations[i - 1](self.dense[str(i)](h))
            if node["skips"]:
                total = h
                for j in node["skips"]:
                    key = f"{i}_{j}"
                    total = total + (self.project[key](merges[j]) if key in self.project
                                     else merges[j])
                h = F.relu(total)
            merges.append(h)
        last = merges[-1]
        if self.dropout > 0:
            last = F.dropout(last, self.dropout, training=self.training)
        t = self.output(last)
        if not self.gaussian:
            return t
        d = t.shape[-1] // 2
        return torch.cat([t[..., :d], _softplus_inverse_of_scale(t[..., d:])], dim=-1)



def make_search_net(in_features: int, out_features: int, architecture: dict) -> nn.Module:
    """The network class an architecture describes: :class:`DenseSkipCoNet` for
    ``kind: dense_skipco`` (the DeepHyper preset), else :class:`SearchNet`.

    Examples
    --------
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.0}
    >>> type(make_search_net(3, 2, arch)).__name__
    'SearchNet'
    """
    if architecture.get("kind") == "dense_skipco":
        return DenseSkipCoNet(in_features, out_features, architecture)
    return SearchNet(in_features, out_features, architecture)


def build_search_net(
    in_features: int, out_features: int, architecture: dict,
    state: dict[str, torch.Tensor] | None = None,
) -> nn.Module:
    """A :class:`SearchNet` (or :class:`DenseSkipCoNet`, see :func:`make_search_net`) built
    without touching torch's global generator, in eval mode.

    ``nn.Linear`` initialises its weights from the global generator; a network that is about
    to receive trained weights (``state``, or a saved model's on load) must not move the
    caller's random state for it.

    Parameters
    ----------
    in_features, out_features : int
    architecture : dict
        As for :class:`SearchNet`.
    state : dict of Tensor, optional
        Weights to load (a ``state_dict`` of the same architecture).

    Examples
    --------
    >>> arch = {"layers": [{"units": 4, "activation": "relu", "skips": []}], "dropout": 0.1}
    >>> before = torch.get_rng_state()
    >>> net = build_search_net(3, 2, arch)
    >>> torch.equal(before, torch.get_rng_state()), net.training
    (True, False)
    """
    with torch.random.fork_rng(devices=[]):
        net = make_search_net(in_features, out_features, architecture)
    if state is not None:
        net.load_state_dict(state)
    return net.eval()
