"""The network of one AutoDEUQ trial: a searched trunk with mean and variance heads.

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

__all__ = ["SearchNet", "build_search_net"]


class SearchNet(nn.Module):
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
        self._activations = []
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
            self._activations.append(ACTIVATIONS[layer["activation"]])
            widths.append(units if units > 0 else previous)
        self.head = nn.Linear(widths[-1], int(out_features))

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

    def __getstate__(self):  # activations may be lambdas: rebuild them after unpickling
        state = self.__dict__.copy()
        state["_activations"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._activations = [ACTIVATIONS[layer["activation"]]
                             for layer in self.architecture["layers"]]


def build_search_net(
    in_features: int, out_features: int, architecture: dict,
    state: dict[str, torch.Tensor] | None = None,
) -> SearchNet:
    """A :class:`SearchNet` built without touching torch's global generator, in eval mode.

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
        net = SearchNet(in_features, out_features, architecture)
    if state is not None:
        net.load_state_dict(state)
    return net.eval()
