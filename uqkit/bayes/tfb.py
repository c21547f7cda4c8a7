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

uqkit implements the method with forward hooks on the ``peft`` LoRA layers: the user's weights
are never edited, and :meth:`BayesianLoRA.restore` removes every hook. Importing this module needs
only torch; ``transformers``/``peft`` are imported when a model is Bayesianized
(``pip install 'uqkit[llm]'``).

This public module holds the TFB names (also reachable as ``uqkit.bayes.BayesianLoRA``); the code
is in ``_bayesian_lora.py`` (the estimator), ``_bayesianize.py`` (the one-call form),
``_tfb_layers.py`` (layers and hooks), ``_tfb_batches.py`` (model inputs), ``_tfb_sampling.py``
(forward passes under noise) and ``_tfb_search.py`` (the σ search).

Examples
--------
>>> from uqkit.bayes.tfb import BayesianLoRA, bayesianize_lora
>>> BayesianLoRA(model=None).get_params()["n_samples"]
10
"""

from uqkit.bayes._bayesian_lora import BayesianLoRA
from uqkit.bayes._bayesianize import bayesianize_lora
from uqkit.bayes._tfb_warning import TFBWarning

__all__ = ["BayesianLoRA", "TFBWarning", "bayesianize_lora"]
