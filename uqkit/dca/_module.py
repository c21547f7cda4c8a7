"""The DCA wrapper: any ``torch.nn.Module`` with K instances of each of its components.

Deep Combinatorial Aggregation (Shen & Cremers, NeurIPS 2022, Sec. 2): a network split into
``S`` components, each held as ``K`` independently initialised instances, defines ``K^S``
*proposals* (one instance per component). Every forward pass uses one proposal, drawn uniformly
per component; the prediction averages the predictive distributions of many proposals, and
deep combinatorial weight averaging (DCWA, Sec. 3) replaces each fine-grain component by the
average of its instances.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from uqkit._random import derive_seed
from uqkit.dca._components import parametrised_layers, resolve_components
from uqkit.dca._reinitialize import reinitialize
from uqkit.dca._sampler import ProposalSampler
from uqkit.exceptions import InvalidInputError

__all__ = ["ComponentInstances", "DCAModule"]

# Key paths of the random streams derived from the wrapper's seed.
_INIT_STREAM, _SAMPLER_STREAM = 0, 1


class ComponentInstances(nn.Module):
    """``K`` interchangeable instances of one component; the forward pass uses the active one.

    Only the active instance enters the autograd graph, so only it receives gradients. Attribute
    look-ups that are not found on the wrapper are forwarded to the active instance (a parent
    that reads ``self.fc.out_features`` keeps working).

    Parameters
    ----------
    instances : sequence of nn.Module
        The ``K`` instances (same architecture).

    Examples
    --------
    >>> wrapper = ComponentInstances([nn.Linear(2, 1), nn.Linear(2, 1)])
    >>> wrapper.active = 1
    >>> bool(torch.equal(wrapper(torch.ones(1, 2)), wrapper.instances[1](torch.ones(1, 2))))
    True
    >>> wrapper.out_features
    1
    """

    def __init__(self, instances: Sequence[nn.Module]) -> None:
        super().__init__()
        self.instances = nn.ModuleList(instances)
        self.active = 0

    @property
    def n_instances(self) -> int:
        """Number of instances ``K``."""
        return len(self.instances)

    def forward(self, *args, **kwargs):
        return self.instances[self.active](*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "instances" not in modules:
                raise
            return getattr(modules["instances"][self.__dict__.get("active", 0)], name)


class DCAModule(nn.Module):
    """Turn a network into a Deep Combinatorial Aggregation model.

    The network is deep-copied (the argument is left untouched); each component is replaced by a
    :class:`ComponentInstances` holding ``n_instances`` copies, each re-initialised from its own
    seed (:func:`~uqkit.dca.reinitialize`). Everything outside the components — parameter-free
    layers, and in layer-wise DCA the normalisation layers — is shared by all proposals
    (Shen & Cremers, NeurIPS 2022, Sec. 2).

    Each call draws a fresh proposal from :attr:`sampler` (one index per component, uniform and
    independent, Sec. 2), so a whole mini-batch goes through one proposal, unless a proposal was
    fixed with :meth:`use_proposal`. Both route the module itself (they write the components'
    ``active`` indices), which is what training needs; prediction uses :meth:`proposal_view`
    instead, which writes nothing on the module, so threads can share a fitted one.

    Parameters
    ----------
    module : nn.Module
        The base network.
    components : {"model", "block", "layer"}, sequence of str, or module type(s), default="layer"
        The components (see :func:`~uqkit.dca.resolve_components`).
    n_instances : int, default=5
        Number of instances ``K`` of every component.
    seed : int, default=0
        Seeds the instance initialisations (instance ``i`` of component ``c`` from
        ``derive_seed(seed, 0, c, i)``) and the proposal sampler.

    Attributes
    ----------
    network : nn.Module
        The network with its components replaced by :class:`ComponentInstances`.
    component_names : list of str
        Dotted names of the components (``""``: the whole network).
    sampler : ProposalSampler
        The seeded proposal sampler used by ``forward``.
    last_proposal : tuple of int or None
        The proposal of the latest forward pass.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> dca = DCAModule(net, components="layer", n_instances=5, seed=0)
    >>> dca.component_names, dca.n_proposals
    (['0', '2'], 25)
    >>> out = dca(torch.randn(10, 4))  # one random proposal for the whole batch
    >>> len(dca.last_proposal)
    2
    >>> averaged = dca.average_instances()  # DCWA: one plain network
    >>> averaged(torch.randn(10, 4)).shape
    torch.Size([10, 3])
    """

    def __init__(
        self,
        module: nn.Module,
        components: str | Sequence[str] | type | Sequence[type] = "layer",
        n_instances: int = 5,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise InvalidInputError(f"module must be a torch.nn.Module; got {type(module)}.")
        if isinstance(n_instances, bool) or not isinstance(n_instances, int) or n_instances < 1:
            raise InvalidInputError(f"n_instances must be a positive int; got {n_instances!r}.")
        network = copy.deepcopy(module)
        names = resolve_components(network, components)
        for c, name in enumerate(names):
            original = network.get_submodule(name) if name else network
            instances = []
            for i in range(n_instances):
                instance = copy.deepcopy(original)
                reinitialize(instance, derive_seed(seed, _INIT_STREAM, c, i))
                instances.append(instance)
            wrapper = ComponentInstances(instances)
            if name:
                parent_name, _, leaf = name.rpartition(".")
                setattr(network.get_submodule(parent_name), leaf, wrapper)
            else:
                network = wrapper
        self.network = network
        self.component_names = names
        self.seed = int(seed)
        self.sampler = ProposalSampler(
            [n_instances] * len(names), derive_seed(seed, _SAMPLER_STREAM)
        )
        self.last_proposal: tuple[int, ...] | None = None
        self._fixed: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ structure
    @property
    def n_instances(self) -> int:
        """Number of instances ``K`` of each component."""
        return self.components()[0].n_instances

    @property
    def n_components(self) -> int:
        """Number of components ``S``."""
        return len(self.component_names)

    @property
    def n_proposals(self) -> int:
        """Number of proposals ``K^S``."""
        return self.sampler.n_proposals

    def components(self) -> list[ComponentInstances]:
        """The :class:`ComponentInstances` wrappers, in the order of :attr:`component_names`."""
        return [self._component(self.network, name) for name in self.component_names]

    @staticmethod
    def _component(network: nn.Module, name: str) -> ComponentInstances:
        return network.get_submodule(name) if name else network

    # ------------------------------------------------------------------ proposals
    def _check_proposal(self, proposal: Sequence[int]) -> tuple[int, ...]:
        proposal = tuple(int(i) for i in proposal)
        if len(proposal) != self.n_components or not all(
            0 <= i < self.n_instances for i in proposal
        ):
            raise InvalidInputError(
                f"A proposal needs one instance index in [0, {self.n_instances}) for each of the "
                f"{self.n_components} components; got {proposal}."
            )
        return proposal

    def set_proposal(self, proposal: Sequence[int]) -> None:
        """Route the next forward passes through the instances ``proposal`` (one per component)."""
        proposal = self._check_proposal(proposal)
        for wrapper, index in zip(self.components(), proposal):
            wrapper.active = index

    @contextmanager
    def use_proposal(self, proposal: Sequence[int]) -> Iterator[None]:
        """Within the block, every forward pass uses ``proposal`` instead of a random one."""
        previous = self._fixed
        self._fixed = self._check_proposal(proposal)
        try:
            yield
        finally:
            self._fixed = previous

    def forward(self, *args, **kwargs):
        proposal = self._fixed if self._fixed is not None else self.sampler.sample()
        self.set_proposal(proposal)
        self.last_proposal = proposal
        return self.network(*args, **kwargs)

    # ------------------------------------------------------------------ plain networks
    def proposal_network(self, proposal: Sequence[int]) -> nn.Module:
        """A plain copy of the network made of the instances ``proposal`` (no wrappers).

        Examples
        --------
        >>> dca = DCAModule(nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)), "layer", 3)
        >>> x = torch.randn(4, 2)
        >>> with dca.use_proposal((2, 0)):
        ...     same = torch.equal(dca(x), dca.proposal_network((2, 0))(x))
        >>> same
        True
        """
        proposal = self._check_proposal(proposal)
        plain = copy.deepcopy(self.network)
        for name, index in zip(self.component_names, proposal):
            chosen = self._component(plain, name).instances[index]
            plain = _replace(plain, name, chosen)
        return plain

    def proposal_view(self, proposal: Sequence[int]) -> nn.Module:
        """A network made of the instances ``proposal`` that *shares* their parameters.

        Unlike :meth:`proposal_network` nothing is copied but the containers on the paths from
        the root to the components (shallow copies whose child lists point at the chosen
        instances), and unlike :meth:`use_proposal` the module itself is left untouched: no
        ``active`` index, fixed proposal or ``last_proposal`` is written. Prediction runs through
        views, so several threads can predict with one fitted module at once, each with its own
        proposals. The view is for inference: its parameters *are* the module's.

        Examples
        --------
        >>> dca = DCAModule(nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)), "layer", 3)
        >>> x = torch.randn(4, 2)
        >>> view = dca.proposal_view((2, 0))
        >>> bool(torch.equal(view(x), dca.proposal_network((2, 0))(x)))
        True
        >>> view[0] is dca.components()[0].instances[2], dca.components()[0].active
        (True, 0)
        """
        proposal = self._check_proposal(proposal)
        if self.component_names == [""]:  # model-wise DCA: the view is the chosen instance
            return self.network.instances[proposal[0]]
        copies: set[int] = set()
        root = _shallow_copy(self.network, copies)
        for name, index in zip(self.component_names, proposal):
            *path, leaf = name.split(".")
            node = root
            for part in path:
                child = node._modules[part]
                if id(child) not in copies:  # first visit: copy this container too
                    child = _shallow_copy(child, copies)
                    node._modules[part] = child
                node = child
            node._modules[leaf] = self._component(self.network, name).instances[index]
        return root

    def check_weight_averaging(self) -> None:
        """Raise unless every component is fine-grain, so that DCWA is meaningful.

        DCWA (Shen & Cremers, 2022, Sec. 3) averages the instances of a component. That is only
        meaningful when the instances are *aligned*: a single layer whose inputs and outputs are
        shared with every instance of its neighbours. A coarse component (several parametrised
        layers, e.g. a block or the whole model) has private hidden units that each instance may
        permute freely, so averaging their parameters mixes unrelated units.

        Raises
        ------
        InvalidInputError
            Naming the first coarse component.
        """
        for name, wrapper in zip(self.component_names, self.components()):
            layers = parametrised_layers(wrapper.instances[0])
            if len(layers) > 1:
                shown = name or "<the whole network>"
                raise InvalidInputError(
                    f"DCWA needs fine-grain components (one parametrised layer each) so that the "
                    f"{wrapper.n_instances} instances stay aligned; component {shown!r} holds "
                    f"{len(layers)} parametrised layers {layers}, whose instances learn permuted "
                    "hidden units, so averaging them is meaningless. Use components='layer' for "
                    "DCWA, or predict with the DCA aggregate of proposals instead."
                )

    @torch.no_grad()
    def average_instances(self) -> nn.Module:
        """Deep combinatorial weight averaging (DCWA): one plain network (Sec. 3).

        Each component is replaced by one copy whose floating-point parameters and buffers are
        the mean of its ``K`` instances; integer buffers (e.g. ``num_batches_tracked``) are taken
        from instance 0. Shared parts are copied unchanged, so no BatchNorm update is needed.

        Raises
        ------
        InvalidInputError
            If a component is coarse (see :meth:`check_weight_averaging`).
        """
        self.check_weight_averaging()
        averaged = copy.deepcopy(self.network)
        for name in self.component_names:
            wrapper = self._component(averaged, name)
            mean = wrapper.instances[0]
            states = [inst.state_dict() for inst in wrapper.instances]
            merged = {}
            for key, value in states[0].items():
                if value.is_floating_point() or value.is_complex():
                    merged[key] = torch.stack([s[key] for s in states]).mean(dim=0)
                else:
                    merged[key] = value
            mean.load_state_dict(merged)
            averaged = _replace(averaged, name, mean)
        return averaged


def _shallow_copy(module: nn.Module, copies: set[int]) -> nn.Module:
    """A copy of ``module`` with its own child table; parameters, buffers and children shared."""
    clone = copy.copy(module)
    clone.__dict__["_modules"] = copy.copy(module._modules)  # copy.copy shares the dict itself
    copies.add(id(clone))
    return clone


def _replace(network: nn.Module, name: str, module: nn.Module) -> nn.Module:
    if not name:
        return module
    parent_name, _, leaf = name.rpartition(".")
    setattr(network.get_submodule(parent_name), leaf, module)
    return network
