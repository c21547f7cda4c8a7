"""Compact storage of the GloVe-V covariances: diagonal or low-rank, by Frobenius share.

Vallebueno et al. (EMNLP 2024) store, for each word, a diagonal or a truncated-SVD
approximation of :math:`\\Sigma_i` that keeps at least a given share (90% in the paper) of its
Frobenius norm. For a symmetric positive semi-definite :math:`\\Sigma = Q\\Lambda Q^\\top` the best
rank-``k`` approximation in Frobenius norm (Eckart–Young) keeps the ``k`` largest eigenvalues, and

.. math::

    \\text{share}_k = \\frac{\\lVert \\Sigma_k \\rVert_F}{\\lVert \\Sigma \\rVert_F}
        = \\sqrt{\\frac{\\sum_{l\\le k}\\lambda_l^2}{\\sum_l \\lambda_l^2}},
    \\qquad
    \\text{share}_{\\mathrm{diag}} = \\frac{\\lVert \\operatorname{diag}\\Sigma \\rVert_F}
        {\\lVert \\Sigma \\rVert_F}.

``share`` is a ratio of norms (not of squared norms). The rank kept is the smallest that reaches the
requested share; the low-rank factor is stored as :math:`L = Q_k\\Lambda_k^{1/2}` so that
:math:`\\Sigma_k = LL^\\top`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DIAGONAL", "FULL", "LOW_RANK", "NONE", "approximate"]

NONE, FULL, DIAGONAL, LOW_RANK = 0, 1, 2, 3


@dataclass
class Approximation:
    """Per-word storage choice for one batch of covariances."""

    kind: torch.Tensor  # (B,) int: DIAGONAL or LOW_RANK
    share: torch.Tensor  # (B,) Frobenius share kept
    diagonal: torch.Tensor  # (B, D) exact diagonals
    ranks: torch.Tensor  # (B,) columns of L_i stored (0 for a diagonal)
    factors: torch.Tensor  # (sum ranks, D): the columns of L_1, then of L_2, ...


def approximate(covariances: torch.Tensor, mode: str, share: float) -> Approximation:
    """Choose the diagonal or the smallest-rank eigen-truncation of each covariance.

    Parameters
    ----------
    covariances : Tensor of shape (B, D, D)
        Symmetric positive semi-definite matrices.
    mode : {"diagonal", "low_rank", "auto"}
        ``"diagonal"``: always the diagonal; ``"low_rank"``: always the smallest rank reaching
        ``share``; ``"auto"``: the diagonal when it reaches ``share``, otherwise low rank.
    share : float
        Frobenius share to keep, in (0, 1].
    """
    batch, dim, _ = covariances.shape
    norm = torch.linalg.matrix_norm(covariances)  # Frobenius
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    diagonal = torch.diagonal(covariances, dim1=1, dim2=2).clone()
    diag_share = torch.where(norm > 0, diagonal.norm(dim=1) / safe, torch.ones_like(norm))
    if mode == "diagonal":
        kind = torch.full((batch,), DIAGONAL, dtype=torch.int8, device=covariances.device)
        ranks = torch.zeros(batch, dtype=torch.long, device=covariances.device)
        return Approximation(kind, diag_share, diagonal, ranks, covariances.new_zeros(0, dim))

    eigvals, eigvecs = torch.linalg.eigh(covariances)  # ascending
    eigvals = eigvals.flip(-1).clamp(min=0.0)
    eigvecs = eigvecs.flip(-1)
    cumulative = torch.sqrt(torch.cumsum(eigvals**2, dim=1)) / safe[:, None]
    cumulative = torch.where(norm[:, None] > 0, cumulative, torch.ones_like(cumulative))
    # smallest k with share_k >= share (tolerance for rounding when share == 1)
    reached = cumulative >= share - 1e-12
    reached[:, -1] = True
    ranks = torch.argmax(reached.to(torch.int8), dim=1) + 1
    rank_share = cumulative.gather(1, (ranks - 1)[:, None])[:, 0]
    if mode == "auto":
        use_diag = diag_share >= share - 1e-12
    else:
        use_diag = torch.zeros_like(diag_share, dtype=torch.bool)
    kind = torch.where(use_diag, DIAGONAL, LOW_RANK).to(torch.int8)
    kept_share = torch.where(use_diag, diag_share, rank_share)
    ranks = torch.where(use_diag, 0, ranks)
    # columns q_l sqrt(lambda_l), l < rank, of every word, in word order: (sum ranks, D)
    columns = (eigvecs * eigvals.sqrt()[:, None, :]).transpose(1, 2)
    keep = torch.arange(dim, device=covariances.device)[None, :] < ranks[:, None]
    return Approximation(kind, kept_share, diagonal, ranks, columns[keep])
