"""The LoRA layers of a ``peft`` model, re-parameterised for TFB, and the hooks that add noise.

TFB (Shi, Wang et al., arXiv:2412.05723), re-parameterisation step: a LoRA update ``s·B A`` with
``B = U diag(d) Vᵀ`` becomes ``s·B' A'`` with ``B' = U diag(d)`` and ``A' = Vᵀ A``; only ``A'`` is
stochastic, ``q(A') = N(A', Ω²)`` with ``Ω_ij = σ / d_i``. The noise enters through a forward hook
on each LoRA layer, so the user's weights are never edited.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from uqkit.bayes._tfb_warning import TFBWarning
from uqkit.exceptions import InvalidInputError, require

__all__ = ["TFBLayer", "find_lora_layers", "make_hook", "reparameterise"]


@dataclass(eq=False)
class TFBLayer:
    """The re-parameterised factors of one (LoRA layer, adapter) pair and its current noise."""

    name: str
    adapter: str
    module: torch.nn.Module
    b_prime: torch.Tensor  # (out, r): U diag(d)
    a_prime: torch.Tensor  # (r, in): Vᵀ A
    inv_d: torch.Tensor  # (r,): 1 / d_i, 0 for directions dropped as numerically rank deficient
    noise: torch.Tensor | None = None  # (S, r, in): a draw of E ~ N(0, Ω²) per stacked sample

    @property
    def rank(self) -> int:
        return int(self.a_prime.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.a_prime.shape[1])

    @property
    def scaling(self) -> float:
        return float(self.module.scaling[self.adapter])


def reparameterise(lora_a: torch.Tensor, lora_b: torch.Tensor):
    """``B = U diag(d) Vᵀ`` → ``(B' = U diag(d), A' = Vᵀ A, 1/d)`` (TFB re-parameterisation).

    Singular values below ``max(out, r)·eps·d_max`` (numpy's ``matrix_rank`` rule) carry no
    update; ``Ω = σ/d`` would be infinite there, so those directions get no noise (``1/d := 0``).
    """
    b64 = lora_b.detach().to(torch.float64)
    a64 = lora_a.detach().to(torch.float64)
    u, d, vh = torch.linalg.svd(b64, full_matrices=False)
    tol = max(b64.shape) * torch.finfo(lora_b.dtype).eps * (float(d.max()) if d.numel() else 0.0)
    keep = d > tol
    inv_d = torch.where(keep, 1.0 / torch.where(keep, d, torch.ones_like(d)), torch.zeros_like(d))
    dtype = lora_b.dtype
    return (u * d).to(dtype), (vh @ a64).to(dtype), inv_d.to(dtype)


def find_lora_layers(model: torch.nn.Module) -> list[TFBLayer]:
    """Every active adapter of every ``peft`` LoRA layer whose A and B are ``nn.Linear``."""
    lora = require("peft", "llm")
    layer_type = lora.tuners.lora.LoraLayer
    layers: list[TFBLayer] = []
    skipped: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, layer_type):
            continue
        for adapter in module.active_adapters:
            if adapter not in module.lora_A:
                if adapter in getattr(module, "lora_embedding_A", {}):
                    skipped.append(name)
                continue
            lin_a, lin_b = module.lora_A[adapter], module.lora_B[adapter]
            if not (isinstance(lin_a, torch.nn.Linear) and isinstance(lin_b, torch.nn.Linear)):
                skipped.append(name)
                continue
            variant = getattr(module, "lora_variant", {}).get(adapter)
            if variant is not None or getattr(module, "use_dora", {}).get(adapter, False):
                raise InvalidInputError(
                    f"LoRA layer {name!r} uses a LoRA variant ({type(variant).__name__}, e.g. "
                    "DoRA) whose update is not s·B·A; TFB applies to plain LoRA adapters only."
                )
            b_prime, a_prime, inv_d = reparameterise(lin_a.weight, lin_b.weight)
            key = name if adapter == "default" else f"{name}[{adapter}]"
            layers.append(TFBLayer(key, adapter, module, b_prime, a_prime, inv_d))
    if skipped:
        warnings.warn(
            f"TFB only Bayesianizes LoRA layers on nn.Linear targets; {len(skipped)} other LoRA "
            f"layer(s) stay deterministic: {skipped[:5]}.",
            TFBWarning,
            stacklevel=3,
        )
    if not layers:
        raise InvalidInputError(
            f"No LoRA layers on nn.Linear targets were found in the {type(model).__name__} passed "
            "as model. Wrap the model with peft.get_peft_model(model, LoraConfig(...)) (or load a "
            "trained adapter with PeftModel.from_pretrained) before Bayesianizing it."
        )
    if all(not bool(layer.inv_d.any()) for layer in layers):
        warnings.warn(
            "Every lora_B matrix is zero (an untrained adapter?): TFB adds no uncertainty.",
            TFBWarning,
            stacklevel=3,
        )
    return layers


def make_hook(layer: TFBLayer) -> Callable:
    """Forward hook adding ``s·B'E x`` with one noise draw ``E`` per stacked sample.

    The input holds ``S`` copies of the batch stacked sample-major along dim 0, so its rows split
    into ``S`` groups; group ``k`` gets its own draw ``E_k`` (shape r×in).
    """

    def hook(module, args, output):
        noise = layer.noise
        if noise is None or module.disable_adapters or layer.adapter not in module.active_adapters:
            return None
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor):
            return None
        n_draws = noise.shape[0]
        if x.shape[0] % n_draws:
            raise RuntimeError(
                f"LoRA layer {layer.name!r} received {x.shape[0]} rows, which does not split into "
                f"{n_draws} stacked samples: the model must keep the batch on dimension 0. Use "
                "samples_per_pass=1 to run one sample per forward pass."
            )
        if layer.b_prime.device != x.device:  # the model was moved (or sharded) after fit
            layer.b_prime = layer.b_prime.to(x.device)
        if noise.device != x.device:
            noise = noise.to(x.device)
        xs = x.reshape(n_draws, -1, x.shape[-1]).to(noise.dtype)
        z = torch.bmm(xs, noise.transpose(1, 2))  # (S, m, r): E_k x
        delta = torch.matmul(z, layer.b_prime.T) * layer.scaling  # (S, m, out): s B' E_k x
        return output + delta.reshape(output.shape).to(output.dtype)

    return hook
