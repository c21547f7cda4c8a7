"""How GloVe-V stores each covariance: full, diagonal or low-rank by Frobenius share.

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

:func:`approximate` chooses the storage of a batch of covariances, :func:`pack_factors` lays the
low-rank factors of all words out in word order, and :class:`StoredCovariance` reads one word's
stored covariance back (the matrix, a quadratic form, a square root for sampling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "DIAGONAL",
    "FULL",
    "LOW_RANK",
    "NONE",
    "Approximation",
    "StoredCovariance",
    "approximate",
    "pack_factors",
    "psd_factor",
]

# Storage kind of one word's covariance (``GloVeV.covariance_kind_``).
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


def pack_factors(
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_words: int, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lay the per-batch low-rank factors out in word order.

    Parameters
    ----------
    pieces : list of (rows, ranks, factors)
        Per batch: the word indices, the rank kept for each and the stacked columns of their
        factors (``Approximation.ranks`` and ``.factors`` on the CPU).
    n_words, dim : int
        Vocabulary size and dimension ``D``.

    Returns
    -------
    offsets : ndarray of shape (n_words + 1,)
        Rows ``offsets[i]:offsets[i + 1]`` of ``factors`` are the columns of :math:`L_i`.
    factors : ndarray of shape (sum of ranks, D)

    Examples
    --------
    >>> rows, ranks = np.array([1, 0]), np.array([1, 2])
    >>> offsets, factors = pack_factors([(rows, ranks, np.arange(6.0).reshape(3, 2))], 2, 2)
    >>> offsets.tolist(), factors[:, 0].tolist()  # word 0 first: its two columns, then word 1's
    ([0, 2, 3], [2.0, 4.0, 0.0])
    """
    ranks = np.zeros(n_words, dtype=np.int64)
    for rows, batch_ranks, _ in pieces:
        ranks[rows] = batch_ranks
    offsets = np.concatenate([[0], np.cumsum(ranks)]).astype(np.int64)
    factors = np.zeros((int(offsets[-1]), dim))
    for rows, batch_ranks, flat in pieces:
        # destination of the l-th column of the word rows[k]: offsets[rows[k]] + l
        starts = np.repeat(offsets[rows], batch_ranks)
        within = np.arange(len(flat)) - np.repeat(np.cumsum(batch_ranks) - batch_ranks, batch_ranks)
        factors[starts + within] = flat
    return offsets, factors


def psd_factor(covariance: torch.Tensor) -> torch.Tensor:
    """A square ``F`` with ``F F^T = covariance`` (Cholesky; eigen-decomposition if singular).

    Examples
    --------
    >>> F = psd_factor(torch.tensor([[4.0, 0.0], [0.0, 0.0]]))  # singular: no Cholesky
    >>> (F @ F.T).tolist()
    [[4.0, 0.0], [0.0, 0.0]]
    """
    chol, info = torch.linalg.cholesky_ex(covariance.to(torch.float64))
    if int(info) == 0:
        return chol
    eigvals, eigvecs = torch.linalg.eigh(covariance.to(torch.float64))
    return eigvecs * eigvals.clamp(min=0.0).sqrt()


@dataclass(frozen=True, eq=False)
class StoredCovariance:
    """One word's covariance as stored: the full matrix, its diagonal or a low-rank factor.

    Parameters
    ----------
    kind : int
        ``FULL``, ``DIAGONAL`` or ``LOW_RANK``.
    values : ndarray
        ``(D, D)`` for ``FULL``, the diagonal ``(D,)`` for ``DIAGONAL``, the factor
        :math:`L` ``(D, r)`` with :math:`\\Sigma \\approx LL^\\top` for ``LOW_RANK``.

    Examples
    --------
    >>> stored = StoredCovariance(DIAGONAL, np.array([4.0, 1.0]))
    >>> stored.matrix().tolist(), stored.quadratic_form(np.array([1.0, 1.0]))
    ([[4.0, 0.0], [0.0, 1.0]], 5.0)
    """

    kind: int
    values: np.ndarray

    def matrix(self) -> np.ndarray:
        """The stored covariance as a ``(D, D)`` array (a copy)."""
        if self.kind == FULL:
            return self.values.copy()
        if self.kind == DIAGONAL:
            return np.diag(self.values)
        return self.values @ self.values.T

    def quadratic_form(self, grad: np.ndarray) -> float:
        """:math:`g^\\top \\Sigma g` without forming a low-rank or diagonal matrix."""
        if self.kind == FULL:
            return float(grad @ self.values @ grad)
        if self.kind == DIAGONAL:
            return float(np.sum(self.values * grad**2))
        projected = self.values.T @ grad
        return float(projected @ projected)

    def square_factor(self) -> np.ndarray:
        """``F`` (D x r) with ``F F^T`` equal to the stored covariance, for sampling."""
        if self.kind == FULL:
            return psd_factor(torch.as_tensor(self.values)).numpy()
        if self.kind == DIAGONAL:
            return np.diag(np.sqrt(np.clip(self.values, 0.0, None)))
        return self.values
