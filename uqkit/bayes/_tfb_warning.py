"""The warning of training-free Bayesian LoRA: :class:`TFBWarning`."""

from __future__ import annotations

from uqkit.exceptions import UQKitWarning

__all__ = ["TFBWarning"]


class TFBWarning(UQKitWarning):
    """Something about the adapter or the σ search that the user should know about.

    Raised, for example, when every ``lora_B`` is zero (an untrained adapter gets no noise), or
    when the σ search ends at either end of ``sigma_range``: even ``sigma_range[0]`` violates the
    tolerance (``sigma_`` is then 0), or ``sigma_range[1]`` still meets it (``sigma_`` is then the
    range limit, and the largest feasible σ may be larger).

    Examples
    --------
    >>> import warnings
    >>> from uqkit.exceptions import UQKitWarning
    >>> issubclass(TFBWarning, UQKitWarning)
    True
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", TFBWarning)  # silence TFB notices only
    """
