"""Batched GloVe-V covariances: one weighted least-squares fit per word, many words per solve.

Vallebueno, Handan-Nader, Manning & Ho, "Statistical Uncertainty in Word Embeddings: GloVe-V",
EMNLP 2024, Sec. 3. With the context vectors :math:`v_j` and the biases held at the GloVe
optimum, the word vector :math:`w_i` solves the weighted least-squares problem over its observed
contexts :math:`K_i = \\{j : X_{ij} > 0\\}`

.. math::

    \\log X_{ij} - b_i - c_j = w_i^\\top v_j + \\varepsilon_{ij},\\qquad
    \\operatorname{Var}\\varepsilon_{ij} = \\sigma_i^2 / f(X_{ij}),

so that (their Eqs. 4-6)

.. math::

    \\hat\\Sigma_i = \\hat\\sigma_i^2 \\Big(\\sum_{j\\in K_i} f(X_{ij})\\, v_j v_j^\\top\\Big)^{-1},
    \\qquad
    \\hat\\sigma_i^2 = \\frac{1}{|K_i| - D}\\sum_{j\\in K_i} f(X_{ij})
        \\big(\\log X_{ij} - b_i - c_j - \\hat w_i^\\top v_j\\big)^2 .

Words are sorted by :math:`|K_i|` and packed into batches of at most ``batch_size`` (word, context)
pairs; each batch gathers :math:`\\sqrt{f}\\,v_j` into a zero-padded ``(B, K, D)`` tensor, forms all
Gram matrices with one batched product in float64, factors them with one batched Cholesky and
computes residuals, :math:`\\hat\\sigma_i^2` and :math:`\\hat\\Sigma_i` for the whole batch at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse

from uqkit.embeddings._weighting import glove_weight

__all__ = ["WordCovariances", "batched_covariances"]


@dataclass
class WordCovariances:
    """Result of one batch: covariances of the words ``rows`` (those with a defined variance)."""

    rows: np.ndarray  # (B,) word indices with a covariance
    vectors: torch.Tensor  # (B, D) the vectors the residuals use (given or refitted)
    sigma2: torch.Tensor  # (B,)
    covariances: torch.Tensor  # (B, D, D)
    singular: np.ndarray  # word indices whose Gram matrix is not positive definite


def _batches(order: np.ndarray, n_contexts: np.ndarray, budget: int) -> Iterator[np.ndarray]:
    """Consecutive groups of ``order`` (sorted by ``n_contexts``) with ``B * max K <= budget``."""
    start = 0
    while start < len(order):
        k_max = int(n_contexts[order[start]])
        stop = start + 1
        while stop < len(order):
            k_max = max(k_max, int(n_contexts[order[stop]]))
            if (stop - start + 1) * k_max > budget:
                break
            stop += 1
        yield order[start:stop]
        start = stop


def batched_covariances(
    matrix: sparse.csr_matrix,
    W: np.ndarray,
    V: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    *,
    x_max: float,
    weight_exponent: float,
    refit: bool,
    batch_size: int,
    device: torch.device,
    rows: np.ndarray | None = None,
) -> Iterator[WordCovariances]:
    """Yield the GloVe-V covariances of every word with ``|K_i| > D``, a batch at a time.

    Parameters
    ----------
    matrix : csr_matrix of shape (n_words, n_contexts)
        Positive co-occurrence counts, sorted indices, no explicit zeros.
    W, V : ndarray of shape (n_words, D) and (n_contexts, D)
        Word and context vectors.
    b, c : ndarray of shape (n_words,) and (n_contexts,)
        Word and context biases.
    x_max, weight_exponent : float
        Parameters of the weighting function (:func:`~uqkit.embeddings.glove_weight`).
    refit : bool
        Use the exact weighted least-squares solution instead of ``W`` for the residuals.
    batch_size : int
        Largest number of (word, context) pairs, padding included, in one batched solve.
    device : torch.device
        Where to compute (float64 throughout).
    rows : ndarray, optional
        Only these words (default: all words with ``|K_i| > D``).
    """
    dim = V.shape[1]
    n_contexts = np.diff(matrix.indptr)
    if rows is None:
        rows = np.flatnonzero(n_contexts > dim)
    order = rows[np.argsort(n_contexts[rows], kind="stable")]
    V_t = torch.as_tensor(np.asarray(V, dtype=np.float64), device=device)
    indptr, indices = matrix.indptr, matrix.indices
    # per non-zero, once: sqrt(f(X_ij)) and log X_ij - c_j (b_i is added per batch)
    root_f_all = np.sqrt(glove_weight(matrix.data, x_max, weight_exponent))
    target_all = np.log(matrix.data) - np.asarray(c, dtype=np.float64)[indices]
    b = np.asarray(b, dtype=np.float64)
    for batch in _batches(order, n_contexts, max(int(batch_size), 1)):
        k = n_contexts[batch]
        offsets = np.arange(int(k.max()))
        mask = offsets[None, :] < k[:, None]
        positions = np.where(mask, indptr[batch][:, None] + offsets[None, :], 0)
        # padded entries get weight 0, so they add nothing to any sum below
        root_w = np.where(mask, root_f_all[positions], 0.0)
        # weighted targets sqrt(f) (log X - b - c) and weighted contexts sqrt(f) v_j, (B, K[, D])
        targets = torch.as_tensor(root_w * (target_all[positions] - b[batch][:, None]))
        targets = targets.to(device)
        ctx = torch.as_tensor(np.where(mask, indices[positions], 0), device=device)
        root_w_t = torch.as_tensor(root_w, device=device)
        scaled = _gather_rows(V_t, ctx).mul_(root_w_t[:, :, None])
        gram = _gram(scaled)  # (B, D, D) = sum_j f(X_ij) v_j v_j^T
        chol, info = torch.linalg.cholesky_ex(gram)
        ok = info == 0
        if refit:
            rhs = _matmul(scaled.transpose(1, 2), targets[:, :, None])
            safe_chol = torch.where(ok[:, None, None], chol, _eye(dim, chol))
            vectors = torch.cholesky_solve(rhs, safe_chol)[:, :, 0]
        else:
            vectors = torch.as_tensor(np.asarray(W, dtype=np.float64)[batch], device=device)
        # weighted residuals sqrt(f) (log X - b - c - w.v); padded entries are exactly zero
        residuals = targets - _matmul(scaled, vectors[:, :, None])[:, :, 0]
        dof = torch.as_tensor(k - dim, dtype=torch.float64, device=device)
        sigma2 = (residuals * residuals).sum(dim=1) / dof
        ok_np = ok.cpu().numpy()
        inverse = torch.cholesky_inverse(chol[ok])
        yield WordCovariances(
            rows=batch[ok_np],
            vectors=vectors[ok],
            sigma2=sigma2[ok],
            covariances=sigma2[ok][:, None, None] * inverse,
            singular=batch[~ok_np],
        )


def _gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]``; on the CPU through ``np.take`` (several times faster than torch)."""
    if table.device.type == "cpu":
        return torch.from_numpy(np.take(table.numpy(), index.numpy(), axis=0))
    return table[index]


def _matmul(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Batched matrix product in float64; on the CPU numpy's stacked matmul, which is faster
    than ``torch.bmm`` for these shapes (``K`` up to the vocabulary size, ``D`` ~ 50-300)."""
    if left.device.type == "cpu":
        return torch.from_numpy(np.matmul(left.numpy(), right.numpy()))
    return torch.bmm(left, right)


def _gram(scaled: torch.Tensor) -> torch.Tensor:
    """``G^T G`` for every ``G`` of a ``(B, K, D)`` batch."""
    return _matmul(scaled.transpose(1, 2), scaled)


def _eye(dim: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(dim, dtype=like.dtype, device=like.device).expand_as(like)
