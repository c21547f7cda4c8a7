"""Forward passes of a hooked LoRA model under sampled weight noise (TFB prediction).

TFB (Shi, Wang et al., arXiv:2412.05723): ``E = σ·Ω₁ ⊙ Z`` with ``Z`` standard normal and
``Ω₁_ij = 1/d_i``; ``S`` samples are stacked along the batch dimension (or run a few at a time),
and class probabilities of every sample are returned with the member axis first. Every function
puts the model in eval mode and gives each submodule its own mode back.

The noise reaches the forward hooks through ``layer.noise``, an attribute of the user's shared
model, so each function holds :func:`~uqkit.bayes._context.exclusive` from the first noise it
sets to the reset in its ``finally``: concurrent predictions run one at a time and each sees only
its own noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from uqkit.bayes._context import eval_mode, exclusive
from uqkit.bayes._tfb_batches import prepare_batch
from uqkit.bayes._tfb_layers import TFBLayer
from uqkit.exceptions import InvalidInputError

__all__ = [
    "check_answer_ids",
    "class_probs",
    "member_probs",
    "model_device",
    "standard_normals",
    "weight_updates",
]


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    param = next(model.parameters(), None)
    return torch.device("cpu") if param is None else param.device


def standard_normals(layers: Sequence[TFBLayer], n_draws: int, seed: int) -> list[torch.Tensor]:
    """One ``(n_draws, r, in)`` standard-normal tensor per layer, from a local generator."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(n_draws, layer.rank, layer.in_features, generator=generator) for layer in layers
    ]


def check_answer_ids(answer_token_ids) -> list[int] | None:
    """The answer-token ids as a list of distinct non-negative ints (``None`` stays ``None``)."""
    if answer_token_ids is None:
        return None
    ids = [int(i) for i in np.asarray(answer_token_ids).reshape(-1)]
    if len(ids) < 2 or len(set(ids)) != len(ids) or min(ids) < 0:
        raise InvalidInputError(
            "answer_token_ids must hold at least two distinct non-negative token ids; "
            f"got {answer_token_ids!r}."
        )
    return ids


def class_probs(outputs, batch: Mapping, answer_ids: list[int] | None) -> torch.Tensor:
    """Class probabilities ``(rows, C)``: float64 softmax of the model's (class) logits.

    Without ``answer_ids`` the logits must be ``(rows, C)``. With them (causal-LM multiple
    choice) the logits of the last non-padding position, restricted to the answer tokens, are used.
    """
    logits = getattr(outputs, "logits", None)
    if logits is None:
        logits = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    if not isinstance(logits, torch.Tensor):
        raise InvalidInputError(
            f"Cannot find logits in the model output ({type(outputs).__name__})."
        )
    if answer_ids is None:
        if logits.ndim != 2:
            raise InvalidInputError(
                f"The model returns logits of shape {tuple(logits.shape)}; sequence "
                "classification needs (n, C). For a causal LM pass answer_token_ids=[...] "
                "(the vocabulary ids of the answer options)."
            )
    else:
        if logits.ndim == 3:
            mask = batch.get("attention_mask")
            length = logits.shape[1]
            if mask is None:
                last = torch.full((logits.shape[0],), length - 1, device=logits.device)
            else:
                positions = torch.arange(length, device=logits.device)
                last = (mask.to(logits.device).ne(0) * positions).amax(dim=-1)
            logits = logits[torch.arange(logits.shape[0], device=logits.device), last]
        if logits.ndim != 2 or max(answer_ids) >= logits.shape[-1]:
            raise InvalidInputError(
                f"answer_token_ids {answer_ids} do not index the model's logits of shape "
                f"{tuple(logits.shape)}."
            )
        logits = logits[:, answer_ids]
    return torch.softmax(logits.detach().to(torch.float64), dim=-1)


def _scaled_noise(
    layers: Sequence[TFBLayer], normals: Sequence[torch.Tensor], sigma: float, device, rows=None
) -> list[torch.Tensor]:
    """``E = σ·Ω₁⊙Z`` per layer (``rows`` of the draws only), on ``device`` in the layer dtype."""
    out = []
    for layer, eps in zip(layers, normals):
        eps = eps if rows is None else eps[rows]
        noise = sigma * eps * layer.inv_d.cpu()[None, :, None]
        out.append(noise.to(device=device, dtype=layer.b_prime.dtype))
    return out


def member_probs(
    model: torch.nn.Module,
    layers: Sequence[TFBLayer],
    batches: list[Mapping],
    sigma: float,
    normals: Sequence[torch.Tensor],
    *,
    samples_per_pass: int | None = None,
    answer_ids: list[int] | None = None,
) -> np.ndarray:
    """Class probabilities ``(S, n, C)`` under ``S`` weight samples ``E = σ·Ω₁⊙normals``.

    The same ``S`` weight samples are used for every batch, so member ``k`` is one network.
    At ``σ = 0`` the posterior is a point mass: the deterministic adapter is run once per batch
    and its probabilities are repeated ``S`` times, bit for bit.

    Parameters
    ----------
    model : torch.nn.Module
        The hooked ``peft`` model.
    layers : sequence of TFBLayer
        Its Bayesianized LoRA layers (their hooks read ``layer.noise``).
    batches : list of dict
    sigma : float
    normals : sequence of Tensor
        One ``(S, r, in)`` standard-normal tensor per layer (empty at ``σ = 0``: ``S = 1``).
    samples_per_pass : int, optional
        Samples stacked along the batch dimension per forward pass (default: all).
    answer_ids : list of int, optional
        Answer-token ids of a causal LM (see :func:`class_probs`).
    """
    n_draws = int(normals[0].shape[0]) if normals else 1
    device = model_device(model)
    per_pass = n_draws if samples_per_pass is None else min(samples_per_pass, n_draws)
    chunks = []
    if sigma > 0:
        for start in range(0, n_draws, per_pass):
            rows = slice(start, min(start + per_pass, n_draws))
            chunks.append(_scaled_noise(layers, normals, sigma, device, rows))
    out = []
    with exclusive():  # layer.noise lives on the shared model: one thread at a time
        try:
            with eval_mode(model), torch.no_grad():
                for batch in batches:
                    if sigma == 0:  # q is a point mass: the deterministic adapter, bit for bit
                        inputs, n = prepare_batch(batch, 1, device)
                        probs = class_probs(model(**inputs), inputs, answer_ids)
                        out.append(probs.expand(n_draws, *probs.shape).cpu().numpy())
                        continue
                    parts = []
                    for noise in chunks:
                        k = int(noise[0].shape[0])
                        inputs, n = prepare_batch(batch, k, device)
                        for layer, e in zip(layers, noise):
                            layer.noise = e
                        probs = class_probs(model(**inputs), inputs, answer_ids)
                        parts.append(probs.reshape(k, n, -1).cpu().numpy())
                    out.append(np.concatenate(parts, axis=0))
        finally:
            for layer in layers:
                layer.noise = None
    return np.concatenate(out, axis=1)


def weight_updates(
    model: torch.nn.Module,
    layers: Sequence[TFBLayer],
    sigma: float,
    normals: Sequence[torch.Tensor],
) -> dict[str, np.ndarray]:
    """Sampled full updates ``s·B'(A' + E)`` per layer, read off the hooked forward pass.

    Each layer is run on the identity input stacked ``S`` times, so these are the exact updates
    that the forward hooks apply (in the ``y = ΔW x`` orientation, also for ``fan_in_fan_out``
    layers).

    Returns
    -------
    dict of str to ndarray of shape (S, out, in)
    """
    device = model_device(model)
    result = {}
    with exclusive():  # layer.noise lives on the shared model: one thread at a time
        try:
            with eval_mode(model), torch.no_grad():
                for layer, noise in zip(layers, _scaled_noise(layers, normals, sigma, device)):
                    if layer.module.merged:
                        raise InvalidInputError(
                            f"LoRA layer {layer.name!r} is merged into its base weight; call "
                            "unmerge_adapter() to read the sampled updates."
                        )
                    n_draws = int(noise.shape[0])
                    layer.noise = noise
                    eye = torch.eye(layer.in_features, device=device, dtype=noise.dtype)
                    x = eye.repeat(n_draws, 1)
                    diff = layer.module(x) - layer.module.get_base_layer()(x)
                    layer.noise = None
                    updates = diff.reshape(n_draws, layer.in_features, -1).transpose(1, 2)
                    result[layer.name] = updates.to(torch.float64).cpu().numpy()
        finally:
            for layer in layers:
                layer.noise = None
    return result
