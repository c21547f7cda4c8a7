"""The consistency-enforcing loss of DCA (Shen & Cremers, NeurIPS 2022, Sec. 4).

The data term of a proposal's prediction is complemented by the KL divergence from the prediction
of the previous proposal (the reference, held without gradient) to the current one, so that
different proposals are pushed to agree and the combinations of instances stay compatible:

.. math::

    \\ell_t = \\mathcal{L}(f_t(x), y) + \\mathrm{KL}\\big(p(\\cdot \\mid f_{t-1}(x)) \\,\\|\\,
    p(\\cdot \\mid f_t(x))\\big).

For classification :math:`\\mathcal{L}` is the cross-entropy and :math:`p` the softmax; for
regression :math:`\\mathcal{L}` is the Gaussian negative log-likelihood and :math:`p` the Gaussian
of the mean/variance head.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from uqkit.losses import gaussian_nll
from uqkit.nn import gaussian_head

__all__ = [
    "categorical_kl",
    "classification_consistency_loss",
    "gaussian_consistency_loss",
    "gaussian_kl",
]


def _row_mean(values: torch.Tensor, sample_weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-row values ``(b, ...)``; with row weights ``(b,)`` normalised to average 1
    over the data set, ``mean(w * values)`` (weights of ones multiply by exactly 1, so the
    result and its gradient are bit for bit the unweighted mean)."""
    if sample_weight is not None:
        values = values * sample_weight.reshape(-1, *([1] * (values.dim() - 1)))
    return values.mean()


def _categorical_kl_rows(reference_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    log_p = F.log_softmax(reference_logits, dim=-1)
    log_q = F.log_softmax(logits, dim=-1)
    return torch.sum(log_p.exp() * (log_p - log_q), dim=-1)


def categorical_kl(reference_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``KL(softmax(reference) || softmax(logits))`` summed over classes, averaged over rows.

    Parameters
    ----------
    reference_logits, logits : Tensor of shape (b, C)

    Returns
    -------
    Tensor
        Scalar.

    Examples
    --------
    >>> z = torch.tensor([[1.0, 2.0, 0.5]])
    >>> float(categorical_kl(z, z))
    0.0
    """
    return _categorical_kl_rows(reference_logits, logits).mean()


def gaussian_kl(
    reference_mean: torch.Tensor,
    reference_var: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
) -> torch.Tensor:
    """Elementwise ``KL(N(reference_mean, reference_var) || N(mean, var))``.

    .. math::

        \\tfrac12\\left(\\log\\frac{\\sigma^2}{\\sigma_r^2} + \\frac{\\sigma_r^2 + (\\mu_r -
        \\mu)^2}{\\sigma^2} - 1\\right)

    Examples
    --------
    >>> one = torch.ones(1)
    >>> round(float(gaussian_kl(one * 0, one, one, one)), 4)  # KL(N(0,1) || N(1,1)) = 1/2
    0.5
    """
    squared_gap = (reference_mean - mean) ** 2
    return 0.5 * (torch.log(var / reference_var) + (reference_var + squared_gap) / var - 1.0)


def classification_consistency_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    reference: torch.Tensor,
    weight: float = 1.0,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy plus ``weight`` × KL from the reference proposal's softmax (Sec. 4).

    Parameters
    ----------
    logits : Tensor of shape (b, C)
        Output of the current proposal.
    target : Tensor of shape (b,)
        Class indices.
    reference : Tensor of shape (b, C)
        Logits of the previous proposal; detached here (no gradient flows into it).
    weight : float, default=1.0
        Weight of the consistency term (1 in the paper; 0 gives plain cross-entropy).
    sample_weight : Tensor of shape (b,), optional
        Row weights normalised to average 1 over the data set (``fit``'s ``sample_weight``):
        both terms become row-weighted means.

    Returns
    -------
    Tensor
        Scalar ``CE(logits, y) + weight * KL(softmax(reference) || softmax(logits))``.

    Examples
    --------
    >>> z = torch.tensor([[2.0, 0.0]])
    >>> y = torch.tensor([0])
    >>> bool(torch.isclose(classification_consistency_loss(z, y, z), F.cross_entropy(z, y)))
    True
    """
    loss = _row_mean(F.cross_entropy(logits, target, reduction="none"), sample_weight)
    if weight:
        kl = _categorical_kl_rows(reference.detach(), logits)
        loss = loss + weight * _row_mean(kl, sample_weight)
    return loss


def gaussian_consistency_loss(
    raw: torch.Tensor,
    target: torch.Tensor,
    reference: torch.Tensor,
    weight: float = 1.0,
    min_variance: float = 1e-6,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Gaussian NLL plus ``weight`` × KL from the reference proposal's Gaussian (Sec. 4).

    Parameters
    ----------
    raw : Tensor of shape (b, 2d)
        Raw output of the current proposal: means, then raw variances (see
        :func:`uqkit.nn.gaussian_head`).
    target : Tensor of shape (b, d)
    reference : Tensor of shape (b, 2d)
        Raw output of the previous proposal; detached here.
    weight : float, default=1.0
        Weight of the consistency term.
    min_variance : float, default=1e-6
        Variance floor of the head.
    sample_weight : Tensor of shape (b,), optional
        Row weights normalised to average 1 over the data set (``fit``'s ``sample_weight``):
        both terms become row-weighted means.

    Returns
    -------
    Tensor
        Scalar: mean Gaussian NLL + ``weight`` × mean elementwise
        ``KL(N(mu_ref, var_ref) || N(mu, var))`` (both averaged over rows and outputs).

    Examples
    --------
    >>> raw = torch.tensor([[0.0, 0.5]])
    >>> y = torch.tensor([[0.3]])
    >>> mean, var = gaussian_head(raw)
    >>> bool(torch.isclose(gaussian_consistency_loss(raw, y, raw), gaussian_nll(mean, var, y)))
    True
    """
    mean, var = gaussian_head(raw, min_variance)
    loss = _row_mean(gaussian_nll(mean, var, target, reduction="none"), sample_weight)
    if weight:
        ref_mean, ref_var = gaussian_head(reference.detach(), min_variance)
        loss = loss + weight * _row_mean(gaussian_kl(ref_mean, ref_var, mean, var), sample_weight)
    return loss
