"""Training-free Bayesianization (TFB) of LoRA adapters.

Shi, Wang et al., "Training-Free Bayesianization for Low-Rank Adapters of Large Language Models"
(TFB; arXiv:2412.05723, NeurIPS 2025). The paper's equation numbers differ between its arXiv
versions, so the steps below are cited by name. A LoRA layer adds ``ΔW = s·B A`` to a frozen
weight (``B``: out×r, ``A``: r×in, ``s = lora_alpha / r``). TFB turns a trained adapter into a
variational posterior without any training:

1. SVD ``B = U diag(d) Vᵀ`` and re-parameterise ``B' = U diag(d)``, ``A' = Vᵀ A`` (so that
   ``B'A' = BA``; the paper's "low-rank isotropic Gaussian" posterior family).
2. Only ``A'`` is stochastic, ``q(A') = N(A', Ω²)`` with ``Ω_ij = σ / d_i``; ``B'`` stays fixed.
   The update noise is then ``s·B'E = s·U F`` with ``F`` i.i.d. ``N(0, σ²)``: an isotropic Gaussian
   of variance ``s²σ²`` on the full weight update, restricted to the column space of ``B``
   (the paper's equivalence between the factor-level and full-weight posteriors). One ``σ`` is
   shared by all LoRA layers.
3. ``σ`` is the largest value whose anchor loss stays within a relative tolerance of the
   deterministic adapter's (the paper's variance search with an anchor set):
   ``|l(σ) - l(0)| ≤ ε·l(0)``, with ``l`` the NLL of the ``σ = 0`` model's own predictions
   (pseudo-labels) under the ``N``-sample Bayesian model average, or the accuracy of those
   predictions. It is found by binary search over ``[σ_min, σ_max]``.
4. Prediction averages class probabilities over ``N`` weight samples (Bayesian model average).

This module implements the method with forward hooks on the ``peft`` LoRA layers: the user's weights
are never edited, and :meth:`BayesianLoRA.restore` removes every hook.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQEstimator, check_fitted
from uqkit.exceptions import InvalidInputError, NotFittedError, UQKitWarning, require
from uqkit.prediction import ClassificationPrediction

__all__ = ["BayesianLoRA", "TFBWarning", "bayesianize_lora"]

_DEFAULT_EPSILON = {"nll": 0.003, "accuracy": 0.01}
_SEARCH_STREAM = 0  # derive_seed key of the (common) noise used to score candidate sigmas
_PREDICT_STREAM = 1  # derive_seed key of the noise used by predict_uncertainty


class TFBWarning(UQKitWarning):
    """Something about the adapter or the σ search that the user should know about.

    Raised, for example, when every ``lora_B`` is zero (an untrained adapter gets no noise) or
    when even ``sigma_range[0]`` violates the tolerance (``sigma_`` is then 0).

    Examples
    --------
    >>> import warnings
    >>> from uqkit.exceptions import UQKitWarning
    >>> issubclass(TFBWarning, UQKitWarning)
    True
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", TFBWarning)  # silence TFB notices only
    """


# ---------------------------------------------------------------------------- one LoRA layer
@dataclass(eq=False)
class _TFBLayer:
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


def _reparameterise(lora_a: torch.Tensor, lora_b: torch.Tensor):
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


def _find_lora_layers(model: torch.nn.Module) -> list[_TFBLayer]:
    """Every active adapter of every ``peft`` LoRA layer whose A and B are ``nn.Linear``."""
    lora = require("peft", "llm")
    layer_type = lora.tuners.lora.LoraLayer
    layers: list[_TFBLayer] = []
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
            b_prime, a_prime, inv_d = _reparameterise(lin_a.weight, lin_b.weight)
            key = name if adapter == "default" else f"{name}[{adapter}]"
            layers.append(_TFBLayer(key, adapter, module, b_prime, a_prime, inv_d))
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


def _make_hook(layer: _TFBLayer) -> Callable:
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


# ---------------------------------------------------------------------------- batches
def _as_batches(X) -> list[Mapping]:
    if isinstance(X, Mapping):
        batches = [X]
    elif isinstance(X, Iterable) and not isinstance(X, (str, bytes, torch.Tensor, np.ndarray)):
        batches = list(X)
    else:
        raise InvalidInputError(
            f"Expected a batch of model inputs (a dict such as a tokenizer or DataLoader returns) "
            f"or an iterable of such batches; got {type(X).__name__}."
        )
    for i, batch in enumerate(batches):
        if not isinstance(batch, Mapping):
            raise InvalidInputError(
                f"Batch {i} is a {type(batch).__name__}; each batch must be a dict of model inputs "
                "(e.g. {'input_ids': ..., 'attention_mask': ...})."
            )
    return batches


def _batch_size(batch: Mapping) -> int:
    first = batch.get("input_ids")
    if first is None:
        first = next((v for v in batch.values() if isinstance(v, torch.Tensor) and v.ndim), None)
    if first is None:
        raise InvalidInputError(
            f"The batch has no tensor to take its size from (keys: {sorted(batch)})."
        )
    return int(torch.as_tensor(first).shape[0])


def _prepare(batch: Mapping, n_copies: int, device: torch.device) -> tuple[dict, int]:
    """Move a batch to ``device`` and stack ``n_copies`` of it sample-major; drop ``labels``."""
    n = _batch_size(batch)
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if key == "labels":
            continue
        if isinstance(value, np.ndarray):
            value = torch.as_tensor(value)
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if n_copies > 1 and value.ndim and value.shape[0] == n:
                value = value.repeat(n_copies, *([1] * (value.ndim - 1)))
        out[key] = value
    return out, n


# ---------------------------------------------------------------------------- the search
def _largest_feasible(score: Callable[[float], dict], low: float, high: float, n_steps: int):
    """Largest σ in ``[low, high]`` found feasible by bisection (TFB variance search).

    ``high`` is tried first (returned when feasible), then ``low``; bisection keeps ``low``
    feasible and ``high`` infeasible, and the last feasible midpoint is returned. When even ``low``
    is infeasible, ``0.0`` (the deterministic adapter, feasible by definition) is returned.

    Returns
    -------
    sigma : float
    trace : list of dict
        ``score`` results in the order evaluated.
    """
    trace = [score(high)]
    if trace[-1]["feasible"]:
        return float(high), trace
    trace.append(score(low))
    if not trace[-1]["feasible"]:
        return 0.0, trace
    for _ in range(n_steps):
        mid = 0.5 * (low + high)
        trace.append(score(mid))
        if trace[-1]["feasible"]:
            low = mid
        else:
            high = mid
    return float(low), trace


# ---------------------------------------------------------------------------- the estimator
class BayesianLoRA(UQClassifierMixin, UQEstimator):
    """Training-free Bayesian LoRA: a Gaussian posterior on a trained adapter, σ found by search.

    Implements TFB (Shi, Wang et al., "Training-Free Bayesianization for Low-Rank Adapters of
    Large Language Models"): per LoRA layer ``B = U diag(d) Vᵀ``, ``B' = U diag(d)``,
    ``A' = VᵀA`` and ``q(A') = N(A', Ω²)`` with ``Ω_ij = σ/d_i``; one ``σ`` for all layers, the
    largest with ``|l(σ) - l(0)| ≤ ε·l(0)`` on an anchor set labelled by the deterministic model
    (the variance search); predictions average ``n_samples`` weight draws. See the module
    docstring for the derivation. Noise enters through forward hooks on the ``peft`` LoRA
    layers; weights are never modified. Between uqkit calls the hooks are inert, so the wrapped
    model itself stays deterministic; :meth:`restore` removes them.

    Parameters
    ----------
    model : torch.nn.Module
        A ``peft`` model (``get_peft_model``/``PeftModel``) with LoRA on ``nn.Linear`` targets,
        returning logits ``(n, C)`` (sequence classification) or ``(n, L, V)`` (causal LM; pass
        ``answer_token_ids``). It is used on the device it lives on.
    metric : {"nll", "accuracy"}, default="nll"
        Anchor loss ``l``: NLL of the pseudo-labels, or their accuracy (then the tolerance bounds
        the accuracy drop).
    epsilon : float, optional
        Relative tolerance ``ε``; default 0.003 for ``"nll"`` and 0.01 for ``"accuracy"``.
    sigma_range : tuple of float, default=(1e-3, 0.2)
        ``(σ_min, σ_max)`` searched by bisection.
    n_search_steps : int, default=10
        Bisection steps after the two end points.
    n_samples : int, default=10
        Weight samples ``N`` per candidate σ and per prediction.
    sigma : float, optional
        Use this σ and skip the search (``anchor_data`` then becomes optional).
    answer_token_ids : sequence of int, optional
        Causal-LM multiple choice: the vocabulary ids of the answer tokens (e.g. "A", "B", "C").
        Class probabilities are the softmax of the last non-padding position's logits restricted
        to these ids.
    samples_per_pass : int, optional
        How many weight samples are stacked along the batch dimension in one forward pass
        (default: all ``n_samples``); 1 runs the batch once per sample.
    random_state : int, RandomState, Generator or None
        Seeds local ``torch.Generator`` objects: one stream for the search, one for prediction.
    verbose : int, default=0
        Print each search step when positive.

    Attributes
    ----------
    sigma_ : float
        The chosen σ.
    search_trace_ : list of dict
        One entry per scored σ, in search order: ``sigma``, ``loss``, ``change`` (relative to
        ``anchor_loss_``) and ``feasible``.
    anchor_loss_ : float or None
        ``l(0)`` on the anchor set.
    lora_layers_ : list of str
        Names of the Bayesianized LoRA layers.
    classes_ : ndarray of shape (C,)
        Class indices (set when anchors were seen).
    random_state_ : int
        The resolved seed.

    Examples
    --------
    >>> import torch
    >>> from peft import LoraConfig, get_peft_model  # doctest: +SKIP
    >>> from transformers import BertConfig, BertForSequenceClassification  # doctest: +SKIP
    >>> config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
    ...                     num_attention_heads=2, intermediate_size=64)  # doctest: +SKIP
    >>> model = get_peft_model(BertForSequenceClassification(config),
    ...                        LoraConfig(r=4, target_modules=["query", "value"],
    ...                                   init_lora_weights=False))  # doctest: +SKIP
    >>> batch = {"input_ids": torch.randint(0, 50, (8, 6))}
    >>> tfb = BayesianLoRA(model, random_state=0).fit([batch])  # doctest: +SKIP
    >>> tfb.predict_uncertainty(batch).member_probs.shape  # doctest: +SKIP
    (10, 8, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        "model": "no_validation",
        "metric": [StrOptions({"nll", "accuracy"})],
        "epsilon": [Interval(Real, 0, None, closed="neither"), None],
        "sigma_range": [tuple, list],
        "n_search_steps": [Interval(Integral, 0, None, closed="left")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="left"), None],
        "answer_token_ids": ["array-like", None],
        "samples_per_pass": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        metric: str = "nll",
        epsilon: float | None = None,
        sigma_range: tuple[float, float] = (1e-3, 0.2),
        n_search_steps: int = 10,
        n_samples: int = 10,
        sigma: float | None = None,
        answer_token_ids: Sequence[int] | None = None,
        samples_per_pass: int | None = None,
        random_state=None,
        verbose: int = 0,
    ) -> None:
        self.model = model
        self.metric = metric
        self.epsilon = epsilon
        self.sigma_range = sigma_range
        self.n_search_steps = n_search_steps
        self.n_samples = n_samples
        self.sigma = sigma
        self.answer_token_ids = answer_token_ids
        self.samples_per_pass = samples_per_pass
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, anchor_data: Iterable[Mapping] | Mapping | None = None) -> BayesianLoRA:
        """Re-parameterise every LoRA layer, attach the noise hooks and search σ.

        Parameters
        ----------
        anchor_data : dict or iterable of dict, optional
            Model-input batches (as a ``DataLoader`` yields them; ``labels`` are ignored). Their
            targets are the deterministic model's own predictions. Required unless ``sigma`` is
            set. Materialised once, so a one-shot iterator is fine.

        Returns
        -------
        self : BayesianLoRA
        """
        self._check_params()
        low, high = self._check_sigma_range()
        self._answer_ids = self._check_answer_ids()
        if self.sigma is None and anchor_data is None:
            raise InvalidInputError(
                "anchor_data is required to search sigma: pass a list of model-input batches "
                "(a few hundred unlabelled examples suffice), or set sigma=... to skip the search."
            )
        anchors = None if anchor_data is None else _as_batches(anchor_data)
        if anchors is not None and sum(_batch_size(b) for b in anchors) == 0:
            raise InvalidInputError(
                "anchor_data is empty: pass at least one batch with at least one example."
            )
        self.restore()
        layers = _find_lora_layers(self.model)
        self._layers = layers
        self._handles = [layer.module.register_forward_hook(_make_hook(layer)) for layer in layers]
        self.lora_layers_ = [layer.name for layer in layers]
        seed = self._resolve_random_state()
        try:
            self._anchor_state = None
            self.anchor_loss_ = None
            if anchors is not None:
                self._anchor_state = self._prepare_anchors(anchors, seed)
                self.anchor_loss_ = self._anchor_state["loss0"]
                self.classes_ = np.arange(self._anchor_state["n_classes"])
            if self.sigma is not None:
                self.sigma_ = float(self.sigma)
                self.search_trace_ = [] if anchors is None else [self.score_sigma(self.sigma_)]
            else:
                self.sigma_, self.search_trace_ = _largest_feasible(
                    self._score_verbose, low, high, self.n_search_steps
                )
                if self.sigma_ == 0.0:
                    warnings.warn(
                        f"Even sigma_min={low:g} changes the anchor {self.metric} by more than "
                        f"epsilon={self._epsilon():g} (relative); using sigma=0 (the deterministic "
                        "adapter). Lower sigma_range[0] or raise epsilon.",
                        TFBWarning,
                        stacklevel=2,
                    )
        except BaseException:
            self.restore()
            raise
        return self

    def _check_sigma_range(self) -> tuple[float, float]:
        bounds = tuple(self.sigma_range)
        ok = len(bounds) == 2 and all(isinstance(b, Real) and np.isfinite(b) for b in bounds)
        if not ok or not 0 <= bounds[0] < bounds[1]:
            raise InvalidInputError(
                "The 'sigma_range' parameter of BayesianLoRA must be two finite floats "
                f"0 <= sigma_min < sigma_max. Got {self.sigma_range!r} instead."
            )
        return float(bounds[0]), float(bounds[1])

    def _check_answer_ids(self) -> list[int] | None:
        if self.answer_token_ids is None:
            return None
        ids = [int(i) for i in np.asarray(self.answer_token_ids).reshape(-1)]
        if len(ids) < 2 or len(set(ids)) != len(ids) or min(ids) < 0:
            raise InvalidInputError(
                "answer_token_ids must hold at least two distinct non-negative token ids; "
                f"got {self.answer_token_ids!r}."
            )
        return ids

    def _epsilon(self) -> float:
        return _DEFAULT_EPSILON[self.metric] if self.epsilon is None else float(self.epsilon)

    # ------------------------------------------------------------------ noise and forward passes
    def _device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return torch.device("cpu") if param is None else param.device

    def _standard_normals(self, n_draws: int, stream: int) -> list[torch.Tensor]:
        """One ``(n_draws, r, in)`` standard-normal tensor per layer, from a local generator."""
        generator = torch.Generator().manual_seed(derive_seed(self.random_state_, stream))
        return [
            torch.randn(n_draws, layer.rank, layer.in_features, generator=generator)
            for layer in self._layers
        ]

    def _class_probs(self, outputs, batch: Mapping) -> torch.Tensor:
        """Class probabilities ``(rows, C)``: float64 softmax of the model's (class) logits."""
        logits = getattr(outputs, "logits", None)
        if logits is None:
            logits = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
        if not isinstance(logits, torch.Tensor):
            raise InvalidInputError(
                f"Cannot find logits in the model output ({type(outputs).__name__})."
            )
        ids = self._answer_ids
        if ids is None:
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
            if logits.ndim != 2 or max(ids) >= logits.shape[-1]:
                raise InvalidInputError(
                    f"answer_token_ids {ids} do not index the model's logits of shape "
                    f"{tuple(logits.shape)}."
                )
            logits = logits[:, ids]
        return torch.softmax(logits.detach().to(torch.float64), dim=-1)

    def _member_probs(
        self, batches: list[Mapping], sigma: float, normals: list[torch.Tensor]
    ) -> np.ndarray:
        """Class probabilities ``(S, n, C)`` under ``S`` weight samples ``E = σ·Ω₁⊙normals``.

        The same ``S`` weight samples are used for every batch, so member ``k`` is one network.
        """
        n_draws = int(normals[0].shape[0]) if normals else 1
        device = self._device()
        per_pass = n_draws if self.samples_per_pass is None else min(self.samples_per_pass, n_draws)
        chunks = []
        if sigma > 0:
            for start in range(0, n_draws, per_pass):
                stop = min(start + per_pass, n_draws)
                chunks.append(
                    [
                        (sigma * eps[start:stop] * layer.inv_d.cpu()[None, :, None]).to(
                            device=device, dtype=layer.b_prime.dtype
                        )
                        for layer, eps in zip(self._layers, normals)
                    ]
                )
        was_training = self.model.training
        self.model.eval()
        out = []
        try:
            with torch.no_grad():
                for batch in batches:
                    if sigma == 0:  # q is a point mass: the deterministic adapter, bit for bit
                        inputs, n = _prepare(batch, 1, device)
                        probs = self._class_probs(self.model(**inputs), inputs)
                        out.append(probs.expand(n_draws, *probs.shape).cpu().numpy())
                        continue
                    parts = []
                    for noise in chunks:
                        k = int(noise[0].shape[0])
                        inputs, n = _prepare(batch, k, device)
                        for layer, e in zip(self._layers, noise):
                            layer.noise = e
                        probs = self._class_probs(self.model(**inputs), inputs)
                        parts.append(probs.reshape(k, n, -1).cpu().numpy())
                    out.append(np.concatenate(parts, axis=0))
        finally:
            for layer in self._layers:
                layer.noise = None
            self.model.train(was_training)
        return np.concatenate(out, axis=1)

    # ------------------------------------------------------------------ anchors and scoring
    def _prepare_anchors(self, anchors: list[Mapping], seed: int) -> dict:
        probs0 = self._member_probs(anchors, 0.0, [])[0]
        pseudo = np.argmax(probs0, axis=1)
        return {
            "batches": anchors,
            "pseudo": pseudo,
            "loss0": self._anchor_loss(probs0, pseudo),
            "n_classes": probs0.shape[1],
            "normals": self._standard_normals(self.n_samples, _SEARCH_STREAM),
        }

    def _anchor_loss(self, probs: np.ndarray, pseudo: np.ndarray) -> float:
        chosen = probs[np.arange(len(pseudo)), pseudo]
        if self.metric == "nll":
            return float(-np.mean(np.log(np.clip(chosen, 1e-300, None))))
        return float(np.mean(np.argmax(probs, axis=1) == pseudo))

    def score_sigma(self, sigma: float) -> dict:
        """Anchor loss of the ``N``-sample model average at ``sigma`` and whether it is feasible.

        Every candidate uses the same standard-normal draws (common random numbers) scaled by
        ``σ/d_i``, so the score is a deterministic function of ``σ`` and comparisons between
        candidates are not blurred by Monte Carlo noise.

        Parameters
        ----------
        sigma : float
            Candidate ``σ ≥ 0``.

        Returns
        -------
        dict
            ``sigma``, ``loss`` (``l(σ)``), ``change`` (``|l(σ) - l(0)| / l(0)``) and
            ``feasible`` (``change ≤ ε``).
        """
        self._check_attached()
        state = getattr(self, "_anchor_state", None)
        if state is None:
            raise InvalidInputError("score_sigma needs anchors: call fit(anchor_data) first.")
        sigma = float(sigma)
        if not (np.isfinite(sigma) and sigma >= 0):
            raise InvalidInputError(f"sigma must be a finite number >= 0; got {sigma!r}.")
        probs = self._member_probs(state["batches"], sigma, state["normals"]).mean(axis=0)
        loss = self._anchor_loss(probs, state["pseudo"])
        change = abs(loss - state["loss0"]) / max(state["loss0"], np.finfo(np.float64).tiny)
        return {
            "sigma": sigma,
            "loss": loss,
            "change": float(change),
            "feasible": bool(change <= self._epsilon()),
        }

    def _score_verbose(self, sigma: float) -> dict:
        result = self.score_sigma(sigma)
        if self.verbose:
            print(
                f"[TFB] sigma={result['sigma']:.6g} {self.metric}={result['loss']:.6g} "
                f"change={result['change']:.3%} feasible={result['feasible']}"
            )
        return result

    # ------------------------------------------------------------------ prediction
    def _check_attached(self) -> None:
        check_fitted(self, "lora_layers_")
        if not getattr(self, "_handles", None):
            raise NotFittedError(
                "This BayesianLoRA was restored to the deterministic adapter; call fit(...) again "
                "to Bayesianize it."
            )

    def predict_uncertainty(self, X: Mapping | Iterable[Mapping]) -> ClassificationPrediction:
        """Bayesian model average over ``n_samples`` weight draws (TFB prediction).

        Parameters
        ----------
        X : dict or iterable of dict
            One batch of model inputs, or an iterable of batches (rows are concatenated).

        Returns
        -------
        ClassificationPrediction
            ``member_probs`` of shape ``(n_samples, n, C)``: member ``k`` is the ``k``-th weight
            sample, the same for every batch. Repeated calls give the same draws.
        """
        self._check_attached()
        check_fitted(self, "sigma_")
        batches = _as_batches(X)
        if not batches:
            raise InvalidInputError("X holds no batch; pass at least one batch of model inputs.")
        normals = self._standard_normals(self.n_samples, _PREDICT_STREAM)
        return ClassificationPrediction.from_members(
            self._member_probs(batches, self.sigma_, normals)
        )

    def sample_weight_updates(self, n_samples: int | None = None) -> dict[str, np.ndarray]:
        """Sampled full updates ``s·B'(A' + E)`` of each layer, read off the hooked forward pass.

        Each layer is run on the identity input stacked ``n_samples`` times, so these are the
        exact updates that the forward hooks apply (in the ``y = ΔW x`` orientation, also for
        ``fan_in_fan_out`` layers). With ``n_samples = self.n_samples`` they are the weight samples
        of :meth:`predict_uncertainty`.

        Parameters
        ----------
        n_samples : int, optional
            Number of draws (default ``self.n_samples``).

        Returns
        -------
        dict of str to ndarray of shape (n_samples, out, in)
        """
        self._check_attached()
        n_draws = self.n_samples if n_samples is None else int(n_samples)
        if n_draws < 1:
            raise InvalidInputError(f"n_samples must be >= 1; got {n_samples!r}.")
        device = self._device()
        normals = self._standard_normals(n_draws, _PREDICT_STREAM)
        result = {}
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for layer, eps in zip(self._layers, normals):
                    if layer.module.merged:
                        raise InvalidInputError(
                            f"LoRA layer {layer.name!r} is merged into its base weight; call "
                            "unmerge_adapter() to read the sampled updates."
                        )
                    dtype = layer.b_prime.dtype
                    layer.noise = (self.sigma_ * eps * layer.inv_d.cpu()[None, :, None]).to(
                        device=device, dtype=dtype
                    )
                    eye = torch.eye(layer.in_features, device=device, dtype=dtype)
                    x = eye.repeat(n_draws, 1)
                    diff = layer.module(x) - layer.module.get_base_layer()(x)
                    layer.noise = None
                    updates = diff.reshape(n_draws, layer.in_features, -1).transpose(1, 2)
                    result[layer.name] = updates.to(torch.float64).cpu().numpy()
        finally:
            for layer in self._layers:
                layer.noise = None
            self.model.train(was_training)
        return result

    def factors(self) -> dict[str, dict[str, np.ndarray | float]]:
        """The re-parameterised factors of each layer: ``B'``, ``A'``, ``Ω`` and ``s``.

        Returns
        -------
        dict of str to dict
            Per layer name: ``"B_prime"`` (out, r), ``"A_prime"`` (r, in), ``"omega"`` (r, in)
            with ``Ω_ij = σ/d_i`` (0 for dropped directions) and ``"scaling"`` ``s``.
        """
        self._check_attached()
        sigma = getattr(self, "sigma_", 0.0)
        out = {}
        for layer in self._layers:
            omega = (sigma * layer.inv_d.to(torch.float64))[:, None].expand(-1, layer.in_features)
            out[layer.name] = {
                "B_prime": layer.b_prime.detach().to(torch.float64).cpu().numpy(),
                "A_prime": layer.a_prime.detach().to(torch.float64).cpu().numpy(),
                "omega": omega.cpu().numpy().copy(),
                "scaling": layer.scaling,
            }
        return out

    # ------------------------------------------------------------------ restoring
    def restore(self) -> torch.nn.Module:
        """Remove every hook: the model is again exactly the deterministic adapter.

        Returns
        -------
        torch.nn.Module
            The (untouched) model.
        """
        for handle in getattr(self, "_handles", None) or []:
            handle.remove()
        for layer in getattr(self, "_layers", None) or []:
            layer.noise = None
        self._handles = []
        return self.model

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        # scikit-learn's repr would print the whole network; name its class instead.
        defaults = BayesianLoRA(None).get_params(deep=False)
        changed = [
            f"{key}={value!r}"
            for key, value in self.get_params(deep=False).items()
            if key != "model" and repr(value) != repr(defaults[key])
        ]
        params = ", ".join([f"model=<{type(self.model).__name__}>", *changed])
        return f"BayesianLoRA({params})"

    def __enter__(self) -> BayesianLoRA:
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def save(self, path):
        """Not supported: save the adapter with ``peft`` and keep ``sigma_``.

        ``model.save_pretrained(...)`` stores the adapter; ``BayesianLoRA(model, sigma=s).fit()``
        rebuilds the posterior exactly (the SVD is recomputed).
        """
        raise NotImplementedError(
            "BayesianLoRA is not saved as a uqkit file: save the adapter with "
            "model.save_pretrained(...) and the value of sigma_, then rebuild it with "
            "BayesianLoRA(model, sigma=sigma_).fit()."
        )


def bayesianize_lora(
    peft_model: torch.nn.Module,
    anchor_data: Iterable[Mapping] | Mapping | None,
    *,
    metric: str = "nll",
    epsilon: float | None = None,
    sigma_range: tuple[float, float] = (1e-3, 0.2),
    n_search_steps: int = 10,
    n_samples: int = 10,
    sigma: float | None = None,
    answer_token_ids: Sequence[int] | None = None,
    samples_per_pass: int | None = None,
    random_state=None,
    verbose: int = 0,
) -> BayesianLoRA:
    """Turn a trained LoRA adapter into a Bayesian one without training (TFB).

    Shorthand for ``BayesianLoRA(peft_model, ...).fit(anchor_data)``; see :class:`BayesianLoRA`
    for the method (Shi, Wang et al., TFB, arXiv:2412.05723) and the parameters.

    Parameters
    ----------
    peft_model : torch.nn.Module
        Model with ``peft`` LoRA layers on ``nn.Linear`` targets.
    anchor_data : dict or iterable of dict or None
        Unlabelled model-input batches for the σ search (``None`` only with ``sigma`` set).
    metric, epsilon, sigma_range, n_search_steps, n_samples, sigma, answer_token_ids, \
samples_per_pass, random_state, verbose
        As in :class:`BayesianLoRA`.

    Returns
    -------
    BayesianLoRA
        Fitted: ``sigma_``, ``search_trace_``, ``predict_uncertainty``, ``restore``.

    Examples
    --------
    >>> tfb = bayesianize_lora(peft_model, anchor_batches, random_state=0)  # doctest: +SKIP
    >>> tfb.sigma_, tfb.search_trace_[-1]["change"]  # doctest: +SKIP
    >>> pred = tfb.predict_uncertainty(test_batches)  # doctest: +SKIP
    >>> model = tfb.restore()  # the deterministic adapter again  # doctest: +SKIP
    """
    return BayesianLoRA(
        peft_model,
        metric=metric,
        epsilon=epsilon,
        sigma_range=sigma_range,
        n_search_steps=n_search_steps,
        n_samples=n_samples,
        sigma=sigma,
        answer_token_ids=answer_token_ids,
        samples_per_pass=samples_per_pass,
        random_state=random_state,
        verbose=verbose,
    ).fit(anchor_data)
