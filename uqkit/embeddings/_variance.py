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
    alpha: float,
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
    x_max, alpha : float
        Parameters of the weighting function.
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
    c_t = torch.as_tensor(np.asarray(c, dtype=np.float64), device=device)
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for batch in _batches(order, n_contexts, max(int(batch_size), 1)):
        k = n_contexts[batch]
        k_max = int(k.max())
        offsets = np.arange(k_max)
        mask_np = offsets[None, :] < k[:, None]
        positions = np.where(mask_np, indptr[batch][:, None] + offsets[None, :], 0)
        ctx = torch.as_tensor(np.where(mask_np, indices[positions], 0), device=device)
        counts = torch.as_tensor(np.where(mask_np, data[positions], 1.0), device=device)
        mask = torch.as_tensor(mask_np, device=device)
        weights = torch.where(mask, torch.clamp((counts / x_max) ** alpha, max=1.0), 0.0)
        b_batch = torch.as_tensor(np.asarray(b, dtype=np.float64)[batch], device=device)
        root_w = weights.sqrt()
        # weighted targets sqrt(f) (log X - b - c) and weighted contexts sqrt(f) v_j, (B, K[, D])
        targets = root_w * (torch.log(counts) - b_batch[:, None] - c_t[ctx])
        scaled = _gather_rows(V_t, ctx).mul_(root_w[:, :, None])
        gram = _gram(scaled)  # (B, D, D) = sum_j f(X_ij) v_j v_j^T
        chol, info = torch.linalg.cholesky_ex(gram)
        ok = info == 0
        if refit:
            rhs = torch.bmm(scaled.transpose(1, 2), targets[:, :, None])
            safe_chol = torch.where(ok[:, None, None], chol, _eye(dim, chol))
            vectors = torch.cholesky_solve(rhs, safe_chol)[:, :, 0]
        else:
            vectors = torch.as_tensor(np.asarray(W, dtype=np.float64)[batch], device=device)
        # weighted residuals sqrt(f) (log X - b - c - w.v); padded entries are exactly zero
        residuals = targets - torch.bmm(scaled, vectors[:, :, None])[:, :, 0]
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


def _gram(scaled: torch.Tensor) -> torch.Tensor:
    """Batched ``G^T G`` in float64; on the CPU numpy's stacked matmul, faster than ``torch.bmm``
    for these tall-thin shapes (``K`` up to the vocabulary size, ``D`` ~ 50-300)."""
    if scaled.device.type == "cpu":
        array = scaled.numpy()
        return torch.from_numpy(np.matmul(array.transpose(0, 2, 1), array))
    return torch.bmm(scaled.transpose(1, 2), scaled)


def _eye(dim: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(dim, dtype=like.dtype, device=like.device).expand_as(like)
