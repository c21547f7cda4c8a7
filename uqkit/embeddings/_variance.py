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
A word with more contexts than ``batch_size`` is processed alone, its contexts in blocks whose
Gram matrices and residual sums are added up, so the working memory never depends on
:math:`|K_i|`.
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


def _batches(
    order: np.ndarray, n_contexts: np.ndarray, budget: int, max_words: int
) -> Iterator[np.ndarray]:
    """Consecutive groups of ``order`` (sorted by ``n_contexts``) with ``B * max K <= budget``
    and ``B <= max_words``; a word with more contexts than ``budget`` forms a group alone."""
    start = 0
    while start < len(order):
        k_max = int(n_contexts[order[start]])
        stop = start + 1
        while stop < len(order) and stop - start < max_words:
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
    max_words: int | None = None,
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
        Largest number of (word, context) pairs, padding included, gathered at once. A word with
        more contexts is processed alone, its contexts in blocks of ``batch_size`` (the sums over
        contexts are accumulated), so the working memory never depends on ``|K_i|``.
    device : torch.device
        Where to compute (float64 throughout).
    rows : ndarray, optional
        Only these words (default: all words with ``|K_i| > D``).
    max_words : int, optional
        Largest number of words in one batch (bounds the ``(B, D, D)`` results).
    """
    dim = V.shape[1]
    n_contexts = np.diff(matrix.indptr)
    if rows is None:
        rows = np.flatnonzero(n_contexts > dim)
    order = rows[np.argsort(n_contexts[rows], kind="stable")]
    V_t = torch.as_tensor(np.asarray(V, dtype=np.float64), device=device)
    c = np.asarray(c, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    budget = max(int(batch_size), 1)
    cap = len(order) if max_words is None else max(int(max_words), 1)
    # one gather buffer reused by every batch (fresh allocations page-fault on every batch)
    workspace = None
    if V_t.device.type == "cpu" and len(order):
        pad = min(budget, max(int(n_contexts[order[-1]]), 1) * max(len(order), 1))
        workspace = np.empty(pad * dim + dim)
    for batch in _batches(order, n_contexts, budget, cap):
        k = n_contexts[batch]
        k_max = int(k.max())
        # contexts in blocks of at most `budget` (word, context) pairs; one block but for the
        # words too common to fit the budget alone
        step = max(budget // len(batch), 1)
        blocks = [(lo, min(lo + step, k_max)) for lo in range(0, k_max, step)]
        gram = rhs = kept = None
        for lo, hi in blocks:
            scaled, targets = _block(matrix, batch, k, lo, hi, V_t, b, c, x_max, weight_exponent,
                                     workspace)
            block_gram = _gram(scaled)  # sum_j f(X_ij) v_j v_j^T over the block
            gram = block_gram if gram is None else gram.add_(block_gram)
            if refit:
                block_rhs = _matmul(scaled.transpose(1, 2), targets[:, :, None])
                rhs = block_rhs if rhs is None else rhs.add_(block_rhs)
            if len(blocks) == 1:
                kept = (scaled, targets)
        chol, info = torch.linalg.cholesky_ex(gram)
        ok = info == 0
        if refit:
            safe_chol = torch.where(ok[:, None, None], chol, _eye(dim, chol))
            vectors = torch.cholesky_solve(rhs, safe_chol)[:, :, 0]
        else:
            vectors = torch.as_tensor(np.asarray(W, dtype=np.float64)[batch], device=device)
        # weighted residuals sqrt(f) (log X - b - c - w.v); padded entries are exactly zero
        rss = torch.zeros(len(batch), dtype=torch.float64, device=device)
        for lo, hi in blocks:
            scaled, targets = kept if kept is not None else _block(
                matrix, batch, k, lo, hi, V_t, b, c, x_max, weight_exponent, workspace
            )
            residuals = targets - _matmul(scaled, vectors[:, :, None])[:, :, 0]
            rss += (residuals * residuals).sum(dim=1)
        del kept
        dof = torch.as_tensor(k - dim, dtype=torch.float64, device=device)
        sigma2 = rss / dof
        ok_np = ok.cpu().numpy()
        if ok_np.all():  # the usual case: no copies of the (B, D, D) factors
            rows_ok, vectors_ok, sigma2_ok, chol_ok = batch, vectors, sigma2, chol
        else:
            rows_ok, vectors_ok = batch[ok_np], vectors[ok]
            sigma2_ok, chol_ok = sigma2[ok], chol[ok]
        del gram
        # cholesky_inverse returns an exactly symmetric matrix (LAPACK potri, mirrored)
        covariances = torch.cholesky_inverse(chol_ok).mul_(sigma2_ok[:, None, None])
        yield WordCovariances(
            rows=rows_ok,
            vectors=vectors_ok,
            sigma2=sigma2_ok,
            covariances=covariances,
            singular=batch[~ok_np],
        )


def _block(matrix, batch, k, lo, hi, V_t, b, c, x_max, weight_exponent, workspace=None):
    """Contexts ``lo:hi`` of each word of ``batch``, zero-padded: ``sqrt(f) v_j`` ``(B, h, D)``
    and ``sqrt(f) (log X - b - c)`` ``(B, h)``. Padded entries get weight 0, so they add nothing
    to any sum over contexts."""
    device = V_t.device
    offsets = np.arange(lo, hi)
    mask = offsets[None, :] < k[:, None]
    positions = np.where(mask, matrix.indptr[batch][:, None] + offsets[None, :], 0)
    counts = np.where(mask, matrix.data[positions], 1.0)
    contexts = np.where(mask, matrix.indices[positions], 0)
    root_w = np.where(mask, np.sqrt(glove_weight(counts, x_max, weight_exponent)), 0.0)
    targets = root_w * (np.log(counts) - c[contexts] - b[batch][:, None])
    if workspace is not None and contexts.size * V_t.shape[1] <= workspace.size:
        out = workspace[: contexts.size * V_t.shape[1]].reshape(*contexts.shape, V_t.shape[1])
        np.take(V_t.numpy(), contexts, axis=0, out=out, mode="clip")  # unbuffered
        gathered = torch.from_numpy(out)
    else:
        gathered = _gather_rows(V_t, torch.as_tensor(contexts, device=device))
    scaled = gathered.mul_(torch.as_tensor(root_w, device=device)[:, :, None])
    return scaled, torch.as_tensor(targets, device=device)


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
