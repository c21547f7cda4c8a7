"""The one-call form of TFB: :func:`bayesianize_lora` (``BayesianLoRA(...).fit(anchor_data)``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

from uqkit.bayes._bayesian_lora import BayesianLoRA

__all__ = ["bayesianize_lora"]


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
