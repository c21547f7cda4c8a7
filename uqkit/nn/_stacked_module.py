"""A user-supplied ``nn.Module`` as a stack of members, vectorized with ``torch.func``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from uqkit._random import INIT_STREAM, derive_seed
from uqkit.exceptions import UnstackableModuleWarning
from uqkit.nn._dropout import use_generator
from uqkit.nn._member_stack import MemberStack

__all__ = ["StackedModule"]


def _one_by_one_on(device: torch.device, template: nn.Module) -> bool:
    """Whether a deterministic module runs member by member rather than under ``vmap``.

    Convolutional modules on the CPU do. ``vmap`` turns the ``k`` convolutions into one grouped
    convolution, itself no slower, but its outputs come back member-interleaved, and every
    elementwise op around them (ReLU and its backward, pooling, the gradient zero-fills) then
    runs on strided memory. Measured on the 2-core x86 CPU of the benchmarks (torch 2.13,
    one thread, 5 two-stage CNNs on 28×28 images): a training step of batch 128 took 1.2-1.4×
    as long under ``vmap`` as member by member, a 2,000-row evaluation 1.5-1.7×; ReLU's
    backward alone went from 16 to 160 ms (``torch.profiler``). On CUDA ``vmap`` stays: there
    the one grouped launch is what makes stacking pay. Member ``i`` is the same network either
    way (its own parameter and buffer rows; BatchNorm updates them in place).
    """
    return device.type == "cpu" and any(
        isinstance(m, nn.modules.conv._ConvNd) for m in template.modules()
    )


# Rows per evaluation pass of a member run one by one on the CPU. One of the CNNs measured in
# _one_by_one_on evaluated 8,192 rows in one pass 3.4x slower than in passes of 128-512 rows
# (its activations, 25 MB per 1,000 rows, then fall out of cache), and the prediction paths and
# the loop's validation pass up to 8,192 rows at once.
_CPU_EVAL_ROWS = 512


def _member(stacked: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
    """Member ``index``'s rows of stacked parameters or buffers (views: in-place updates such
    as BatchNorm's running statistics reach the stack)."""
    return {name: value[index] for name, value in stacked.items()}


def _channels_last(parameter: torch.Tensor) -> torch.Tensor:
    """A 4-D parameter (a ``Conv2d`` weight) in channels-last layout, others unchanged.

    A convolution with a channels-last weight runs oneDNN's channels-last kernels on the CPU,
    and its output stays channels-last through ReLU, BatchNorm and pooling (CPU max-pooling is
    vectorized over channels in that layout). Measured for the CNNs of :func:`_one_by_one_on`:
    training steps 1.3-1.5× and evaluation 2× faster than the default layout. Only the
    strides change: the values are those of the module alone up to rounding. ``clone``, not
    ``contiguous``: a weight with one input channel counts as channels-last already, and keeps
    strides that the convolution reads as the default layout.
    """
    if parameter.dim() != 4:
        return parameter
    return parameter.clone(memory_format=torch.channels_last)


class StackedModule(MemberStack):
    """A user-supplied ``nn.Module`` ensemble, vectorized with ``torch.func``.

    The parameters and buffers of ``k`` copies are stacked (``torch.func.stack_module_state``)
    and the forward pass is ``vmap`` over the member axis of ``functional_call``. Each copy is
    initialised by the factory under its own seed inside ``torch.random.fork_rng``, so the
    caller's global RNG is never touched.

    Random operations (``nn.Dropout``, ``F.dropout``, ...) must not draw from torch's global
    generator, or the same seed would give different members and ``fit`` would move the caller's
    random state. A module whose forward pass is random (found once per mode: ``vmap`` refuses
    random ops in its ``"error"`` mode) therefore runs member by member, each inside
    :func:`~uqkit.nn.use_generator` with its own dropout generator: member ``i`` is then the
    same network alone, stacked, or on Ray. Deterministic modules keep the vectorized pass,
    except convolutional ones on the CPU, which also run member by member there (faster; see
    :func:`_one_by_one_on`). A deterministic one-member stack runs its module without ``vmap``.

    BatchNorm (and any other buffer) is stacked like the parameters: each member keeps its own
    running statistics, updated in training mode and used in eval mode, as when it is trained
    alone. A module that ``vmap`` cannot run for another reason (data-dependent control flow,
    ``.item()``, an unsupported in-place op) also runs member by member, with one
    :class:`~uqkit.exceptions.UnstackableModuleWarning` that quotes vmap's error; its members
    are the same as when stacked ones would be, only slower.

    Parameters
    ----------
    factory : callable
        ``factory(in_features, out_features) -> nn.Module`` building one member.
    spec : StackSpec
        Supplies ``in_features`` and ``out_features``.
    seeds : sequence of int
        One seed per member.
    dtype : torch.dtype
        Parameter dtype.

    Examples
    --------
    >>> from uqkit.nn import StackSpec
    >>> spec = StackSpec(in_features=3, out_features=1, module_factory=nn.Linear)
    >>> stack = spec.build([0, 1])
    >>> type(stack).__name__
    'StackedModule'
    >>> stack(torch.zeros(2, 4, 3)).shape
    torch.Size([2, 4, 1])
    >>> sorted(stack.member_state_dict(1))
    ['bias', 'weight']
    """

    def __init__(
        self,
        factory: Callable[[int, int], nn.Module],
        spec,
        seeds: Sequence[int],
        dtype: torch.dtype,
    ) -> None:
        super().__init__(seeds)
        members = []
        for seed in seeds:
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(derive_seed(seed, INIT_STREAM))
                members.append(factory(spec.in_features, spec.out_features).to(dtype))
        params, buffers = stack_module_state(members)
        self._names = list(params)
        self._buffer_names = list(buffers)
        self.params = nn.ParameterList(nn.Parameter(params[name]) for name in self._names)
        for i, name in enumerate(self._buffer_names):
            self.register_buffer(f"buffer_{i}", buffers[name])
        self._template = [members[0].to("meta")]  # a list keeps it out of the module tree
        # training mode -> must the forward pass run member by member (random or unstackable)?
        self._random: dict[bool, bool] = {}
        self._warned_unstackable = False

    def seed_dropout(self, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        """Give member ``i`` a fresh dropout generator from ``seeds[i]``; it only draws one seed
        per forward pass, so it stays on the CPU whatever ``device`` is (no GPU sync)."""
        super().seed_dropout(seeds, device="cpu")

    def _stacked_state(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        params = dict(zip(self._names, self.params))
        buffers = {name: getattr(self, f"buffer_{i}") for i, name in enumerate(self._buffer_names)}
        return params, buffers

    def member_state_dict(self, index: int) -> dict[str, torch.Tensor]:
        """Parameters and buffers of member ``index`` under the factory module's names.

        ``factory(in, out).load_state_dict(stack.member_state_dict(i))`` rebuilds member ``i``
        as a plain module.
        """
        params, buffers = self._stacked_state()
        return {name: tensor.detach()[index] for name, tensor in {**params, **buffers}.items()}

    def _is_random(self, params, buffers, x: torch.Tensor) -> bool:
        """Whether the forward pass in the current mode must run member by member: it calls a
        random op, or vmap cannot run it (probed once per mode, on copies of the buffers so
        that e.g. BatchNorm statistics are not updated twice)."""
        if self.training not in self._random:
            template = self._template[0]
            probe = {name: b.clone() for name, b in buffers.items()}

            def one_member(p, b, inputs):
                return functional_call(template, (p, b), (inputs,))

            try:
                with torch.no_grad():
                    vmap(one_member, randomness="error")(params, probe, x)
                self._random[self.training] = False
            except RuntimeError as err:
                if "randomness" not in str(err):
                    self._check_unstackable(one_member, params, probe, x, err)
                self._random[self.training] = True
        return self._random[self.training]

    def _check_unstackable(self, one_member, params, probe, x, err: RuntimeError) -> None:
        """vmap failed for a reason other than randomness: if member 0 runs alone the module
        is only unstackable (warn once, unless it is the only member, and run members one by
        one); if not, the module itself fails and its own error is raised."""
        with torch.no_grad():
            one_member(_member(params, 0), _member(probe, 0), x[0])
        if self.n_members > 1 and not getattr(self, "_warned_unstackable", False):
            self._warned_unstackable = True
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            warnings.warn(
                f"{type(self._template[0]).__name__} cannot be stacked with torch.func.vmap "
                f"({reason}); its {self.n_members} members run one after another instead "
                "(same results, slower). Avoid data-dependent control flow and .item() in "
                "forward to keep them vectorized.",
                UnstackableModuleWarning,
                stacklevel=4,
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        template = self._template[0]
        template.train(self.training)
        params, buffers = self._stacked_state()

        def one_member(p, b, inputs):
            return functional_call(template, (p, b), (inputs,))

        one_by_one = _one_by_one_on(x.device, template)
        if not (one_by_one or self._is_random(params, buffers, x)):
            if self.n_members == 1:
                # one member (an AutoDEUQ trial, a Ray member): vmap would only add its own
                # overhead, 1.3-1.6x the time of a training step of a DeepHyper network on one
                # CPU thread (benchmarks/search_step.py). Same network: its parameter rows.
                return one_member(_member(params, 0), _member(buffers, 0), x[0]).unsqueeze(0)
            return vmap(one_member, randomness="error")(params, buffers, x)
        rows = max(x.shape[1], 1)
        # in evaluation mode a deterministic pass treats rows independently (prediction splits
        # X into predict_batch_size batches on that ground already): chunk them
        if one_by_one and not self.training and not self._is_random(params, buffers, x[:, :2]):
            rows = _CPU_EVAL_ROWS
        outputs = []
        for i, generator in enumerate(self.dropout_generators):
            p = _member(params, i)
            if one_by_one:
                p = {name: _channels_last(value) for name, value in p.items()}
            b = _member(buffers, i)
            with use_generator(generator, x.device):
                chunks = [one_member(p, b, part) for part in x[i].split(rows)]
            outputs.append(chunks[0] if len(chunks) == 1 else torch.cat(chunks))
        return torch.stack(outputs)
