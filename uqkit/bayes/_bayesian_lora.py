"""The TFB estimator: :class:`BayesianLoRA`.

The method (Shi, Wang et al., arXiv:2412.05723) is described in :mod:`uqkit.bayes.tfb`; the
layers and hooks are in :mod:`uqkit.bayes._tfb_layers`, the forward passes under noise in
:mod:`uqkit.bayes._tfb_sampling`, the variance search in :mod:`uqkit.bayes._tfb_search`. One
estimator, kept whole (a little over 400 lines, half of them docstrings).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._random import derive_seed
from uqkit.base import UQClassifierMixin, UQEstimator, check_fitted
from uqkit.bayes._tfb_batches import as_batches, n_rows
from uqkit.bayes._tfb_layers import find_lora_layers, make_hook
from uqkit.bayes._tfb_sampling import (
    check_answer_ids,
    member_probs,
    standard_normals,
    weight_updates,
)
from uqkit.bayes._tfb_search import (
    DEFAULT_EPSILON,
    anchor_loss,
    check_sigma_range,
    largest_feasible,
    range_end_message,
)
from uqkit.bayes._tfb_warning import TFBWarning
from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.prediction import ClassificationPrediction
from uqkit.training import log_verbose

__all__ = ["BayesianLoRA"]

logger = logging.getLogger(__name__)

_SEARCH_STREAM = 0  # derive_seed key of the (common) noise used to score candidate sigmas
_PREDICT_STREAM = 1  # derive_seed key of the noise used by predict_uncertainty


class BayesianLoRA(UQClassifierMixin, UQEstimator):
    """Training-free Bayesian LoRA: a Gaussian posterior on a trained adapter, σ found by search.

    Implements TFB (Shi, Wang et al., "Training-Free Bayesianization for Low-Rank Adapters of
    Large Language Models"): per LoRA layer ``B = U diag(d) Vᵀ``, ``B' = U diag(d)``,
    ``A' = VᵀA`` and ``q(A') = N(A', Ω²)`` with ``Ω_ij = σ/d_i``; one ``σ`` for all layers, the
    largest with ``|l(σ) - l(0)| ≤ ε·l(0)`` on an anchor set labelled by the deterministic model
    (the variance search); predictions average ``n_samples`` weight draws. See
    :mod:`uqkit.bayes.tfb` for the derivation. Noise enters through forward hooks on the ``peft``
    LoRA layers; weights are never modified. Between uqkit calls the hooks are inert, so the wrapped
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
        ``(σ_min, σ_max)`` searched by bisection. A search that ends at either end warns
        (:class:`TFBWarning`): the answer is then the range's, not the search's.
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
        0: nothing is written; 1 or more: each step of the sigma search as an INFO line on the
        ``uqkit`` logger (to stderr when logging is not configured).

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
        low, high = check_sigma_range(self.sigma_range)
        self._answer_ids = check_answer_ids(self.answer_token_ids)
        if self.sigma is None and anchor_data is None:
            raise InvalidInputError(
                "anchor_data is required to search sigma: pass a list of model-input batches "
                "(a few hundred unlabelled examples suffice), or set sigma=... to skip the search."
            )
        anchors = None if anchor_data is None else as_batches(anchor_data)
        if anchors is not None and sum(n_rows(b) for b in anchors) == 0:
            raise InvalidInputError(
                "anchor_data is empty: pass at least one batch with at least one example."
            )
        self.restore()
        layers = find_lora_layers(self.model)
        self._layers = layers
        self._handles = [layer.module.register_forward_hook(make_hook(layer)) for layer in layers]
        self.lora_layers_ = [layer.name for layer in layers]
        self._resolve_random_state()
        try:
            self._anchor_state = None
            self.anchor_loss_ = None
            if anchors is not None:
                self._anchor_state = self._prepare_anchors(anchors)
                self.anchor_loss_ = self._anchor_state["loss0"]
                self.classes_ = np.arange(self._anchor_state["n_classes"])
            if self.sigma is not None:
                self.sigma_ = float(self.sigma)
                self.search_trace_ = [] if anchors is None else [self.score_sigma(self.sigma_)]
            else:
                self.sigma_, self.search_trace_ = largest_feasible(
                    self._score_verbose, low, high, self.n_search_steps
                )
                # an end of the range is the range's answer, not the search's: say so
                message = range_end_message(self.sigma_, low, high, self.metric, self._epsilon())
                if message is not None:
                    warnings.warn(message, TFBWarning, stacklevel=2)
        except BaseException:
            self.restore()
            raise
        return self

    def _epsilon(self) -> float:
        return DEFAULT_EPSILON[self.metric] if self.epsilon is None else float(self.epsilon)

    # ------------------------------------------------------------------ noise and forward passes
    def _standard_normals(self, n_draws: int, stream: int) -> list[torch.Tensor]:
        """One ``(n_draws, r, in)`` standard-normal tensor per layer, from a local generator."""
        return standard_normals(self._layers, n_draws, derive_seed(self.random_state_, stream))

    def _member_probs(
        self, batches: list[Mapping], sigma: float, normals: list[torch.Tensor]
    ) -> np.ndarray:
        """Class probabilities ``(S, n, C)`` under ``S`` weight samples (:func:`member_probs`)."""
        return member_probs(
            self.model,
            self._layers,
            batches,
            sigma,
            normals,
            samples_per_pass=self.samples_per_pass,
            answer_ids=self._answer_ids,
        )

    # ------------------------------------------------------------------ anchors and scoring
    def _prepare_anchors(self, anchors: list[Mapping]) -> dict:
        probs0 = self._member_probs(anchors, 0.0, [])[0]
        pseudo = np.argmax(probs0, axis=1)
        return {
            "batches": anchors,
            "pseudo": pseudo,
            "loss0": anchor_loss(probs0, pseudo, self.metric),
            "n_classes": probs0.shape[1],
            "normals": self._standard_normals(self.n_samples, _SEARCH_STREAM),
        }

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
        loss = anchor_loss(probs, state["pseudo"], self.metric)
        change = abs(loss - state["loss0"]) / max(state["loss0"], np.finfo(np.float64).tiny)
        return {
            "sigma": sigma,
            "loss": loss,
            "change": float(change),
            "feasible": bool(change <= self._epsilon()),
        }

    def _score_verbose(self, sigma: float) -> dict:
        result = self.score_sigma(sigma)
        log_verbose(
            logger, self.verbose,
            f"[TFB] sigma={result['sigma']:.6g} {self.metric}={result['loss']:.6g} "
            f"change={result['change']:.3%} feasible={result['feasible']}",
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
        batches = as_batches(X)
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
        normals = self._standard_normals(n_draws, _PREDICT_STREAM)
        return weight_updates(self.model, self._layers, self.sigma_, normals)

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
