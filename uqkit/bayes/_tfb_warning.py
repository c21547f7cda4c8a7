"""The warning of training-free Bayesian LoRA: :class:`TFBWarning`."""

from __future__ import annotations

from uqkit.exceptions import UQKitWarning

__all__ = ["TFBWarning"]


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
