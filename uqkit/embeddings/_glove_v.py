"""GloVe-V: sampling covariances of GloVe word vectors and uncertainty of their statistics.

Vallebueno, Handan-Nader, Manning & Ho, "Statistical Uncertainty in Word Embeddings: GloVe-V",
EMNLP 2024. Holding the context vectors and biases at the GloVe optimum, each word vector is a
weighted least-squares estimate with covariance :math:`\\Sigma_i` (Sec. 3, see
:mod:`uqkit.embeddings._variance`). Words are independent, :math:`w_i \\sim N(\\hat w_i,
\\Sigma_i)`, so a statistic :math:`\\varphi(w)` of several words gets

* the delta method (Sec. 4): :math:`\\operatorname{Var}\\varphi \\approx \\sum_i
  \\nabla_i\\varphi^\\top \\Sigma_i \\nabla_i\\varphi`, with the gradient from torch autograd;
* the method of composition (Sec. 4; Tanner, 1996): draw :math:`w_i` from their distributions,
  recompute :math:`\\varphi`, and read the spread and percentiles of the draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from scipy import stats
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import resolve_device
from uqkit._random import derive_seed, resolve_entropy
from uqkit.base import UQEstimator, check_fitted
from uqkit.embeddings._approximation import DIAGONAL, FULL, NONE, approximate
from uqkit.embeddings._glove import check_cooccurrence
from uqkit.embeddings._results import EmbeddingPrediction, StatisticResult, _psd_factor
from uqkit.embeddings._variance import batched_covariances
from uqkit.exceptions import InvalidInputError

__all__ = ["GloVeV", "cosine_similarity"]

Word = str | int
_STORAGE = (
    "covariances_",
    "covariance_kind_",
    "diagonals_",
    "frobenius_share_",
    "factors_",
    "factor_offsets_",
)


def cosine_similarity(u, v):
    """Cosine similarity of two vectors (torch tensors keep their autograd graph).

    Parameters
    ----------
    u, v : Tensor or ndarray of shape (D,)

    Returns
    -------
    Tensor or float

    Examples
    --------
    >>> import torch
    >>> float(cosine_similarity(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])))
    0.7071067811865475
    """
    if isinstance(u, torch.Tensor) or isinstance(v, torch.Tensor):
        u, v = torch.as_tensor(u, dtype=torch.float64), torch.as_tensor(v, dtype=torch.float64)
        return torch.dot(u, v) / (torch.linalg.vector_norm(u) * torch.linalg.vector_norm(v))
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


class GloVeV(UQEstimator):
    """Per-word covariances of GloVe vectors and confidence intervals for their statistics.

    Implements GloVe-V (Vallebueno, Handan-Nader, Manning & Ho, EMNLP 2024): each word vector
    :math:`w_i` is a weighted least-squares estimate over its observed contexts given the context
    vectors and biases, with covariance
    :math:`\\Sigma_i = \\hat\\sigma_i^2 (\\sum_{j\\in K_i} f(X_{ij}) v_j v_j^\\top)^{-1}` (Sec. 3,
    Eqs. 4-6). Words with :math:`|K_i| \\le D` observed contexts have no defined variance; they
    are listed in ``insufficient_words_`` and asking for them raises an error.

    Parameters
    ----------
    x_max : float, default=100
        Cut-off of the GloVe weighting function :math:`f(x) = \\min\\{(x/x_{\\max})^\\alpha, 1\\}`;
        use the value the vectors were trained with.
    alpha : float, default=0.75
        Exponent of the weighting function.
    approximation : {None, "diagonal", "low_rank", "auto"}, default=None
        Storage of each :math:`\\Sigma_i`: full (None); its diagonal; its smallest-rank
        eigen-truncation keeping ``frobenius_share`` of the Frobenius norm; or ``"auto"``, the
        diagonal where it keeps that share and the low-rank truncation elsewhere (the paper's
        storage scheme).
    frobenius_share : float, default=0.9
        Share of :math:`\\lVert\\Sigma_i\\rVert_F` an approximation keeps (``"low_rank"`` and
        ``"auto"`` guarantee it; ``"diagonal"`` records what it keeps in ``frobenius_share_``).
    refit_vectors : bool, default=False
        Replace the given word vectors by the exact weighted least-squares solution given
        ``V, b, c`` (they agree at the GloVe optimum). Default: use the given vectors, as the paper.
    batch_size : int, default=65536
        Largest number of (word, context) pairs, padding included, in one batched solve; bounds
        the working memory (about ``16 * D * batch_size`` bytes).
    device : str or torch.device, default="auto"
        Where the covariances are computed (float64).
    verbose : int, default=0
        Print progress when positive.

    Attributes
    ----------
    vocab_ : list of str or None
        The words, in the row order of the co-occurrence matrix.
    vectors_ : ndarray of shape (n_words, D)
        The word vectors :math:`\\hat w_i` (float64).
    n_contexts_ : ndarray of shape (n_words,)
        :math:`|K_i|`, the number of observed contexts.
    sigma2_ : ndarray of shape (n_words,)
        :math:`\\hat\\sigma_i^2`; NaN where undefined.
    has_covariance_ : ndarray of shape (n_words,) of bool
        Whether :math:`\\Sigma_i` is defined.
    insufficient_words_ : list
        Words (or indices without ``vocab``) with no covariance: :math:`|K_i| \\le D`, or a
        singular :math:`\\sum_j f v_j v_j^\\top`.
    covariances_ : ndarray of shape (n_words, D, D)
        Full covariances (``approximation=None``); NaN rows where undefined.
    covariance_kind_ : ndarray of shape (n_words,)
        With an approximation: 0 none, 2 diagonal, 3 low rank.
    diagonals_ : ndarray of shape (n_words, D)
        With an approximation: the exact diagonal of every :math:`\\Sigma_i`.
    factors_, factor_offsets_ : ndarray
        With an approximation: rows ``factor_offsets_[i]:factor_offsets_[i+1]`` of ``factors_``
        are the columns of :math:`L_i` with :math:`\\Sigma_i \\approx L_iL_i^\\top`.
    frobenius_share_ : ndarray of shape (n_words,)
        With an approximation: share of :math:`\\lVert\\Sigma_i\\rVert_F` kept.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n, D = 40, 2
    >>> W, V = rng.normal(size=(n, D)), rng.normal(size=(n, D))
    >>> b, c = np.full(n, 2.0), np.full(n, 2.0)
    >>> X = np.exp(W @ V.T + b[:, None] + c[None, :] + 0.1 * rng.normal(size=(n, n)))
    >>> model = GloVeV(refit_vectors=True).fit(X, W, V, b, c)
    >>> model.covariance(0).shape
    (2, 2)
    >>> result = model.similarity(0, 1)
    >>> bool(result.lower < result.estimate < result.upper)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "x_max": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "approximation": [StrOptions({"diagonal", "low_rank", "auto"}), None],
        "frobenius_share": [Interval(Real, 0, 1, closed="right")],
        "refit_vectors": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        x_max: float = 100.0,
        alpha: float = 0.75,
        approximation: str | None = None,
        frobenius_share: float = 0.9,
        refit_vectors: bool = False,
        batch_size: int = 65536,
        device: str | torch.device = "auto",
        verbose: int = 0,
    ) -> None:
        self.x_max = x_max
        self.alpha = alpha
        self.approximation = approximation
        self.frobenius_share = frobenius_share
        self.refit_vectors = refit_vectors
        self.batch_size = batch_size
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, cooccurrence, W, V, b, c, vocab: Sequence[str] | None = None) -> GloVeV:
        """Compute :math:`\\hat\\sigma_i^2` and :math:`\\Sigma_i` for every word, batched.

        Parameters
        ----------
        cooccurrence : scipy.sparse matrix, ndarray or Cooccurrences, shape (n_words, n_contexts)
            The counts the vectors were trained on.
        W : array-like of shape (n_words, D)
            Word vectors (the GloVe tool's ``W``, not ``W + V``).
        V : array-like of shape (n_contexts, D)
            Context vectors.
        b : array-like of shape (n_words,)
            Word biases.
        c : array-like of shape (n_contexts,)
            Context biases.
        vocab : sequence of str, optional
            Words in row order; without it words are addressed by index. Taken from
            ``cooccurrence.vocab`` when a :class:`Cooccurrences` is passed.

        Returns
        -------
        GloVeV
            The fitted estimator.
        """
        self._check_params()
        if vocab is None and hasattr(cooccurrence, "vocab"):
            vocab = cooccurrence.vocab
        matrix = check_cooccurrence(cooccurrence)
        n_words, n_ctx = matrix.shape
        W = _check_array(W, "W", 2)
        V = _check_array(V, "V", 2)
        b = _check_array(b, "b", 1)
        c = _check_array(c, "c", 1)
        dim = W.shape[1]
        for name, got, want in (
            ("W", W.shape, (n_words, dim)),
            ("V", V.shape, (n_ctx, dim)),
            ("b", b.shape, (n_words,)),
            ("c", c.shape, (n_ctx,)),
        ):
            if got != want:
                raise InvalidInputError(
                    f"{name} has shape {got} but the co-occurrence matrix of shape "
                    f"{matrix.shape} and W of dimension {dim} need {want}."
                )
        if vocab is not None:
            vocab = [str(word) for word in vocab]
            if len(vocab) != n_words or len(set(vocab)) != n_words:
                raise InvalidInputError(
                    f"vocab must list {n_words} distinct words (one per row of the co-occurrence "
                    f"matrix); got {len(vocab)} entries, {len(set(vocab))} distinct."
                )
        for name in _STORAGE:  # a previous fit may have used another storage
            if name in vars(self):
                delattr(self, name)
        self.device_ = resolve_device(self.device)
        self.vocab_ = vocab
        self._index_cache = None
        self.n_components_ = dim
        self.n_contexts_ = np.diff(matrix.indptr).astype(np.int64)
        self.vectors_ = W.copy()
        self.sigma2_ = np.full(n_words, np.nan)
        self.has_covariance_ = np.zeros(n_words, dtype=bool)
        if self.approximation is None:
            self.covariances_ = np.empty((n_words, dim, dim))  # NaN-filled below where undefined
        else:
            self.covariance_kind_ = np.full(n_words, NONE, dtype=np.int8)
            self.diagonals_ = np.full((n_words, dim), np.nan)
            self.frobenius_share_ = np.full(n_words, np.nan)
            pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

        done = 0
        for part in batched_covariances(
            matrix,
            W,
            V,
            b,
            c,
            x_max=float(self.x_max),
            alpha=float(self.alpha),
            refit=bool(self.refit_vectors),
            batch_size=int(self.batch_size),
            device=self.device_,
        ):
            rows = part.rows
            self.vectors_[rows] = part.vectors.cpu().numpy()
            self.sigma2_[rows] = part.sigma2.cpu().numpy()
            self.has_covariance_[rows] = True
            cov = 0.5 * (part.covariances + part.covariances.transpose(1, 2))
            if self.approximation is None:
                self.covariances_[rows] = cov.cpu().numpy()
            elif len(rows):
                approx = approximate(cov, self.approximation, float(self.frobenius_share))
                self.covariance_kind_[rows] = approx.kind.cpu().numpy()
                self.diagonals_[rows] = approx.diagonal.cpu().numpy()
                self.frobenius_share_[rows] = approx.share.cpu().numpy()
                pieces.append((rows, approx.ranks.cpu().numpy(), approx.factors.cpu().numpy()))
            done += len(rows) + len(part.singular)
            if self.verbose:
                print(f"GloVe-V: covariances of {done} words computed")

        if self.approximation is not None:
            self.factor_offsets_, self.factors_ = _pack_factors(pieces, n_words, dim)
        missing = np.flatnonzero(~self.has_covariance_)
        if self.approximation is None:
            self.covariances_[missing] = np.nan
        self.insufficient_words_ = [self._word_name(i) for i in missing]
        return self

    # ------------------------------------------------------------------ look-ups
    def _word_name(self, index: int) -> Word:
        return self.vocab_[index] if self.vocab_ is not None else int(index)

    def _index(self, word: Word) -> int:
        check_fitted(self, "vectors_")
        n_words = len(self.vectors_)
        if isinstance(word, (int, np.integer)) and not isinstance(word, bool):
            if not 0 <= int(word) < n_words:
                raise InvalidInputError(
                    f"word index {int(word)} is out of range for a vocabulary of {n_words} words."
                )
            return int(word)
        if isinstance(word, str):
            if self.vocab_ is None:
                raise InvalidInputError(
                    f"GloVeV was fitted without a vocabulary, so {word!r} cannot be looked up; "
                    "pass vocab=... to fit or use integer indices."
                )
            if getattr(self, "_index_cache", None) is None:
                self._index_cache = {w: i for i, w in enumerate(self.vocab_)}
            if word not in self._index_cache:
                raise InvalidInputError(f"{word!r} is not in the vocabulary.")
            return self._index_cache[word]
        raise InvalidInputError(f"a word must be a string or an integer index; got {word!r}.")

    def _require_covariance(self, indices) -> None:
        for i in np.atleast_1d(indices):
            if not self.has_covariance_[i]:
                k, dim = int(self.n_contexts_[i]), self.n_components_
                reason = (
                    f"has only {k} observed contexts, not more than D = {dim}"
                    if k <= dim
                    else f"has {k} contexts whose weighted context vectors are linearly dependent"
                )
                raise InvalidInputError(
                    f"word {self._word_name(int(i))!r} {reason}, so GloVe-V defines no covariance "
                    "for it (see insufficient_words_). Use words with more co-occurrence data, a "
                    "larger corpus or fewer dimensions."
                )

    def _storage_kind(self, index: int) -> int:
        if not self.has_covariance_[index]:
            return NONE
        if self.approximation is None:
            return FULL
        return int(self.covariance_kind_[index])

    def _factor(self, index: int) -> np.ndarray:
        return self.factors_[self.factor_offsets_[index] : self.factor_offsets_[index + 1]].T

    def covariance(self, word: Word) -> np.ndarray:
        """The covariance matrix :math:`\\Sigma_i` of one word vector (as stored).

        Parameters
        ----------
        word : str or int
            A word of the vocabulary or its index.

        Returns
        -------
        ndarray of shape (D, D)

        Raises
        ------
        InvalidInputError
            If the word has no defined covariance (listed in ``insufficient_words_``).
        """
        index = self._index(word)
        self._require_covariance(index)
        kind = self._storage_kind(index)
        if kind == FULL:
            return self.covariances_[index].copy()
        if kind == DIAGONAL:
            return np.diag(self.diagonals_[index])
        factor = self._factor(index)
        return factor @ factor.T

    def predict_uncertainty(self, words: Sequence[Word]) -> EmbeddingPrediction:
        """The vectors of ``words`` with their covariances.

        Parameters
        ----------
        words : sequence of str or int
            Words or vocabulary indices.

        Returns
        -------
        EmbeddingPrediction
            ``mean`` (m, D) and ``covariance`` (m, D, D).
        """
        if isinstance(words, (str, int, np.integer)):
            words = [words]
        indices = [self._index(w) for w in words]
        self._require_covariance(indices)
        return EmbeddingPrediction(
            words=list(words),
            mean=self.vectors_[indices].copy(),
            covariance=np.stack([self.covariance(i) for i in indices]),
        )

    # ------------------------------------------------------------------ statistics
    def similarity(
        self,
        a: Word,
        b: Word,
        *,
        method: str = "delta",
        confidence: float = 0.95,
        null_value: float = 0.0,
        n_samples: int = 1000,
        random_state=None,
    ) -> StatisticResult:
        """Cosine similarity of two words with its standard error, interval and p-value.

        Parameters
        ----------
        a, b : str or int
            The two words.
        method, confidence, null_value, n_samples, random_state
            As in :meth:`statistic`.

        Returns
        -------
        StatisticResult
        """
        return self.statistic(
            lambda w: cosine_similarity(w[0], w[1]),
            [a, b],
            method=method,
            confidence=confidence,
            null_value=null_value,
            n_samples=n_samples,
            random_state=random_state,
        )

    def compare(
        self,
        pair1: tuple[Word, Word],
        pair2: tuple[Word, Word],
        *,
        method: str = "delta",
        confidence: float = 0.95,
        null_value: float = 0.0,
        n_samples: int = 1000,
        random_state=None,
    ) -> StatisticResult:
        """Difference of two cosine similarities, ``cos(pair1) - cos(pair2)``.

        Shared words (e.g. ``("doctor", "he")`` vs ``("doctor", "she")``) are handled exactly: the
        same random vector enters both similarities.

        Parameters
        ----------
        pair1, pair2 : tuple of two words
        method, confidence, null_value, n_samples, random_state
            As in :meth:`statistic`.

        Returns
        -------
        StatisticResult
        """
        pairs = [tuple(pair1), tuple(pair2)]
        if any(len(pair) != 2 for pair in pairs):
            raise InvalidInputError(f"compare needs two pairs of words; got {pair1!r}, {pair2!r}.")
        return self.statistic(
            lambda w: cosine_similarity(w[0], w[1]) - cosine_similarity(w[2], w[3]),
            [*pairs[0], *pairs[1]],
            method=method,
            confidence=confidence,
            null_value=null_value,
            n_samples=n_samples,
            random_state=random_state,
        )

    def statistic(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        words: Sequence[Word],
        *,
        method: str = "delta",
        confidence: float = 0.95,
        null_value: float = 0.0,
        n_samples: int = 1000,
        random_state=None,
    ) -> StatisticResult:
        """Uncertainty of any scalar statistic of word vectors.

        Parameters
        ----------
        fn : callable
            ``fn(vectors) -> scalar tensor`` where ``vectors`` is a float64 tensor of shape
            ``(len(words), D)`` holding the vectors of ``words`` in order. Use torch operations
            so that autograd can differentiate it (delta method).
        words : sequence of str or int
            The words ``fn`` reads; a word may appear several times (it is one random vector).
        method : {"delta", "sampling"}, default="delta"
            ``"delta"``: :math:`\\operatorname{Var}\\varphi = \\sum_i \\nabla_i\\varphi^\\top
            \\Sigma_i \\nabla_i\\varphi`, Wald interval and p-value. ``"sampling"`` (method of
            composition): ``n_samples`` draws of the vectors; standard deviation, percentile
            interval and two-sided Monte Carlo p-value of the draws.
        confidence : float, default=0.95
            Level of the interval.
        null_value : float, default=0
            Value of :math:`\\varphi` under the null hypothesis.
        n_samples : int, default=1000
            Draws for ``method="sampling"``.
        random_state : int, RandomState, Generator or None
            Seed of the local generator used for sampling.

        Returns
        -------
        StatisticResult
        """
        check_fitted(self, "vectors_")
        if method not in ("delta", "sampling"):
            raise InvalidInputError(f"method must be 'delta' or 'sampling'; got {method!r}.")
        if not 0 < confidence < 1:
            raise InvalidInputError(f"confidence must be in (0, 1); got {confidence!r}.")
        if isinstance(words, (str, int, np.integer)):
            words = [words]
        indices = np.array([self._index(w) for w in words], dtype=np.int64)
        unique, inverse = np.unique(indices, return_inverse=True)
        self._require_covariance(unique)
        base = torch.as_tensor(self.vectors_[unique], dtype=torch.float64)
        inverse_t = torch.as_tensor(inverse.reshape(-1))
        z = float(stats.norm.ppf(0.5 + confidence / 2))

        leaf = base.clone().requires_grad_(True)
        value = _scalar(fn(leaf[inverse_t]))
        estimate = float(value.detach())
        if method == "delta":
            if value.requires_grad:
                (grad,) = torch.autograd.grad(value, leaf, allow_unused=True)
            else:
                grad = None
            grad = torch.zeros_like(base) if grad is None else grad
            variance = sum(
                self._quadratic_form(int(i), grad[k].numpy()) for k, i in enumerate(unique)
            )
            se = float(np.sqrt(max(variance, 0.0)))
            lower, upper = estimate - z * se, estimate + z * se
            if se > 0:
                p_value = float(2 * stats.norm.sf(abs(estimate - null_value) / se))
            else:
                p_value = float(estimate == null_value)
            return StatisticResult(
                estimate, se, lower, upper, p_value, "delta", confidence, null_value
            )

        if not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
            raise InvalidInputError(f"n_samples must be an integer >= 2; got {n_samples!r}.")
        generator = torch.Generator().manual_seed(derive_seed(resolve_entropy(random_state), 0))
        factors = [torch.as_tensor(self._square_factor(int(i))) for i in unique]
        noise = [
            torch.randn(int(n_samples), f.shape[1], generator=generator, dtype=torch.float64)
            for f in factors
        ]
        sampled = torch.stack([base[k] + noise[k] @ f.T for k, f in enumerate(factors)], dim=1)
        draws_np = _evaluate_draws(fn, sampled[:, inverse_t]).numpy()
        if not np.all(np.isfinite(draws_np)):
            raise InvalidInputError("fn returned NaN or infinite values for sampled vectors.")
        tail = (1 - confidence) / 2
        lower, upper = (float(q) for q in np.quantile(draws_np, [tail, 1 - tail]))
        below = np.count_nonzero(draws_np <= null_value)
        above = np.count_nonzero(draws_np >= null_value)
        p_value = min(1.0, 2 * (min(below, above) + 1) / (len(draws_np) + 1))
        return StatisticResult(
            estimate,
            float(np.std(draws_np, ddof=1)),
            lower,
            upper,
            float(p_value),
            "sampling",
            confidence,
            null_value,
            samples=draws_np,
        )

    def _quadratic_form(self, index: int, grad: np.ndarray) -> float:
        """:math:`g^\\top \\Sigma_i g` from the stored (possibly approximated) covariance."""
        kind = self._storage_kind(index)
        if kind == FULL:
            return float(grad @ self.covariances_[index] @ grad)
        if kind == DIAGONAL:
            return float(np.sum(self.diagonals_[index] * grad**2))
        projected = self._factor(index).T @ grad
        return float(projected @ projected)

    def _square_factor(self, index: int) -> np.ndarray:
        """``F`` with ``F F^T`` equal to the stored covariance (D x r)."""
        kind = self._storage_kind(index)
        if kind == FULL:
            return _psd_factor(torch.as_tensor(self.covariances_[index])).numpy()
        if kind == DIAGONAL:
            return np.diag(np.sqrt(np.clip(self.diagonals_[index], 0.0, None)))
        return self._factor(index)


def _pack_factors(
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_words: int, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lay the per-batch low-rank factors out in word order: ``(offsets (n+1,), rows (R, D))``."""
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


def _evaluate_draws(fn: Callable, draws: torch.Tensor, chunk_size: int = 4096) -> torch.Tensor:
    """``fn`` on each draw ``(m, D)`` of ``draws`` ``(S, m, D)``.

    Vectorised with ``torch.func.vmap`` when ``fn`` allows it, otherwise one draw at a time (the
    values are the same either way).
    """
    with torch.no_grad():
        try:
            values = torch.func.vmap(fn, chunk_size=chunk_size)(draws)
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            values = None  # fn is not vmappable (data-dependent Python control flow, .item())
        if values is None or values.shape != (draws.shape[0],):
            values = torch.stack([_scalar(fn(draw)) for draw in draws])
    return values.to(torch.float64).reshape(-1)


def _scalar(value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, dtype=torch.float64)
    if value.numel() != 1:
        raise InvalidInputError(
            f"fn must return a scalar; got a tensor of shape {tuple(value.shape)}. Reduce it "
            "(e.g. a mean) or call statistic once per output."
        )
    return value.reshape(())


def _check_array(values, name: str, ndim: int) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.array(values, dtype=np.float64)
    if array.ndim != ndim:
        raise InvalidInputError(f"{name} must be a {ndim}-D array; got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    return array
