"""The statistics API of :class:`~uqkit.embeddings.GloVeV`: similarities, comparisons and any
statistic of word vectors, with standard errors, intervals and p-values.

Vallebueno, Handan-Nader, Manning & Ho, EMNLP 2024, Sec. 4. These methods turn words into the
distinct vectors and stored covariances that :mod:`uqkit.embeddings._statistics` propagates; the
estimator provides the look-ups (``_index``, ``_require_covariance``, ``_stored``, ``vectors_``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real

import numpy as np
import torch
from scipy import stats

from uqkit._random import derive_seed, resolve_entropy
from uqkit.base import check_fitted
from uqkit.embeddings._results import Neighbours, StatisticResult
from uqkit.embeddings._statistics import cosine_similarity, delta_method, method_of_composition
from uqkit.embeddings._storage import StoredCovariance
from uqkit.exceptions import InvalidInputError

__all__ = ["Word", "WordStatisticsMixin"]

Word = str | int


class WordStatisticsMixin:
    """Statistics of word vectors for an estimator that stores one covariance per word.

    The estimator provides ``vectors_`` and the look-ups ``_index(word) -> int`` (which raises
    :class:`~uqkit.exceptions.NotFittedError` before ``fit``), ``_require_covariance(indices)``
    and ``_stored(index) -> StoredCovariance``.

    Examples
    --------
    >>> from uqkit.embeddings import GloVeV
    >>> issubclass(GloVeV, WordStatisticsMixin)
    True
    """

    vectors_: np.ndarray

    def _index(self, word: Word) -> int:  # pragma: no cover - provided by the estimator
        raise NotImplementedError

    def _require_covariance(self, indices) -> None:  # pragma: no cover - idem
        raise NotImplementedError

    def _stored(self, index: int) -> StoredCovariance:  # pragma: no cover - idem
        raise NotImplementedError

    def similarity(
        self,
        a: Word | Sequence[Word],
        b: Word | Sequence[Word],
        *,
        method: str = "delta",
        alpha: float = 0.05,
        null_value: float = 0.0,
        n_samples: int = 1000,
        random_state=None,
    ) -> StatisticResult:
        """Cosine similarity of two words with its standard error, interval and p-value.

        Vallebueno et al. (EMNLP 2024), Sec. 4: the delta method with the analytic gradient of the
        cosine, or the method of composition.

        Parameters
        ----------
        a, b : str or int, or sequences of them of equal length
            The two words, or ``m`` pairs ``(a[k], b[k])`` answered in one call: every distinct
            word's covariance is read once, the delta method is vectorised and sampling draws
            each distinct word ``n_samples`` times for all pairs.
        method, alpha, null_value, n_samples, random_state
            As in :meth:`statistic`.

        Returns
        -------
        StatisticResult
            For sequences, every field but ``method``, ``alpha`` and ``null_value`` is an array of
            shape ``(m,)`` (``samples``: ``(n_samples, m)``).
        """
        if not _is_word(a) or not _is_word(b):
            return self._pair_similarities(
                a, b, method=method, alpha=alpha, null_value=null_value, n_samples=n_samples,
                random_state=random_state,
            )
        return self.statistic(
            lambda w: cosine_similarity(w[0], w[1]),
            [a, b],
            method=method,
            alpha=alpha,
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
        alpha: float = 0.05,
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
        method, alpha, null_value, n_samples, random_state
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
            alpha=alpha,
            null_value=null_value,
            n_samples=n_samples,
            random_state=random_state,
        )

    def _pair_similarities(
        self, a, b, *, method, alpha, null_value, n_samples, random_state
    ) -> StatisticResult:
        _check_method(method, alpha)
        if _is_word(a) or _is_word(b) or len(a) != len(b):
            raise InvalidInputError(
                "similarity of several pairs needs two sequences of words of the same length "
                f"(a[k], b[k]); got {type(a).__name__} and {type(b).__name__}."
            )
        left = np.array([self._index(w) for w in a], dtype=np.int64)
        right = np.array([self._index(w) for w in b], dtype=np.int64)
        unique, inverse = np.unique(np.concatenate([left, right]), return_inverse=True)
        self._require_covariance(unique)
        ia, ib = inverse[: len(left)], inverse[len(left) :]
        stored = [self._stored(int(i)) for i in unique]
        base = np.asarray(self.vectors_[unique], dtype=np.float64)
        u, v = base[ia], base[ib]
        nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
        cos = np.einsum("md,md->m", u, v) / (nu * nv)
        if method == "delta":
            # d cos / du = v / (|u||v|) - cos u / |u|^2, and symmetrically for v
            grad_u = v / (nu * nv)[:, None] - cos[:, None] * u / (nu**2)[:, None]
            grad_v = u / (nu * nv)[:, None] - cos[:, None] * v / (nv**2)[:, None]
            variance = np.empty(len(cos))
            for k in range(len(cos)):
                if ia[k] == ib[k]:  # one random vector: the gradients add (cos is then 1)
                    variance[k] = stored[ia[k]].quadratic_form(grad_u[k] + grad_v[k])
                else:
                    variance[k] = stored[ia[k]].quadratic_form(grad_u[k]) + stored[
                        ib[k]
                    ].quadratic_form(grad_v[k])
            se = np.sqrt(np.clip(variance, 0.0, None))
            z = float(stats.norm.ppf(1 - alpha / 2))
            with np.errstate(divide="ignore", invalid="ignore"):
                p_value = np.where(
                    se > 0,
                    2 * stats.norm.sf(np.abs(cos - null_value) / np.where(se > 0, se, 1.0)),
                    (cos == null_value).astype(float),
                )
            return StatisticResult(cos, se, cos - z * se, cos + z * se, p_value, "delta", alpha,
                                   null_value)
        draws = self._draw(base, stored, n_samples, random_state)  # (S, u, D)
        du, dv = draws[:, ia], draws[:, ib]
        sampled = np.einsum("smd,smd->sm", du, dv) / (
            np.linalg.norm(du, axis=2) * np.linalg.norm(dv, axis=2)
        )
        lower, upper = np.quantile(sampled, [alpha / 2, 1 - alpha / 2], axis=0)
        below = np.count_nonzero(sampled <= null_value, axis=0)
        above = np.count_nonzero(sampled >= null_value, axis=0)
        p_value = np.minimum(1.0, 2 * (np.minimum(below, above) + 1) / (len(sampled) + 1))
        return StatisticResult(cos, sampled.std(axis=0, ddof=1), lower, upper, p_value,
                               "sampling", alpha, null_value, samples=sampled)

    @staticmethod
    def _draw(base: np.ndarray, stored, n_samples, random_state) -> np.ndarray:
        """``n_samples`` draws of every row of ``base`` from its stored covariance, (S, u, D)."""
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 2:
            raise InvalidInputError(f"n_samples must be an integer >= 2; got {n_samples!r}.")
        generator = torch.Generator().manual_seed(derive_seed(resolve_entropy(random_state), 0))
        draws = np.empty((int(n_samples), *base.shape))
        for k, cov in enumerate(stored):
            factor = cov.square_factor()
            noise = torch.randn(int(n_samples), factor.shape[1], generator=generator,
                                dtype=torch.float64).numpy()
            draws[:, k] = base[k] + noise @ factor.T
        return draws

    def most_similar(
        self,
        word: Word,
        k: int = 10,
        *,
        alpha: float = 0.05,
        n_samples: int = 1000,
        n_candidates: int | None = None,
        random_state=None,
    ) -> Neighbours:
        """The ``k`` nearest neighbours of ``word`` by cosine, with their uncertainty.

        The search is exact (all words with a covariance, by the estimated vectors). Each
        neighbour gets its delta-method standard error and interval (Vallebueno et al., EMNLP
        2024, Sec. 4); the stability of the ranking comes from the method of composition: the
        query word and the ``n_candidates`` nearest words are drawn ``n_samples`` times from
        their distributions and ranked again in each draw.

        Parameters
        ----------
        word : str or int
            The query word (it needs a covariance).
        k : int, default=10
            Number of neighbours.
        alpha : float, default=0.05
            Miscoverage level of the intervals.
        n_samples : int, default=1000
            Draws for the rank stability.
        n_candidates : int, optional
            Words re-ranked in each draw (default ``2 k + 10``, at most all words); words beyond
            them are taken to stay beyond the ``k`` nearest.
        random_state : int, RandomState, Generator or None
            Seed of the draws.

        Returns
        -------
        Neighbours
            ``words``, ``similarity``, ``std_error``, ``lower``, ``upper``, ``rank_stability``
            (probability that the neighbour keeps its rank) and ``top_k_probability``
            (probability that it stays among the ``k`` nearest).
        """
        query = self._index(word)
        self._require_covariance(query)
        candidates = np.flatnonzero(np.asarray(self.has_covariance_, dtype=bool))
        candidates = candidates[candidates != query]
        if isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= len(candidates):
            raise InvalidInputError(
                f"k must be an integer from 1 to {len(candidates)} (the words with a covariance "
                f"other than the query); got {k!r}."
            )
        m = 2 * int(k) + 10 if n_candidates is None else int(n_candidates)
        m = min(max(m, int(k)), len(candidates))
        vectors = np.asarray(self.vectors_, dtype=np.float64)
        q = vectors[query]
        other = vectors[candidates]
        cos = other @ q / (np.linalg.norm(other, axis=1) * np.linalg.norm(q))
        order = np.argsort(-cos, kind="stable")[:m]
        pool = candidates[order]  # the m nearest, nearest first
        top = self._pair_similarities(
            [query] * int(k), list(pool[: int(k)]), method="delta", alpha=alpha,
            null_value=0.0, n_samples=n_samples, random_state=None,
        )
        stored = [self._stored(int(i)) for i in [query, *pool]]
        draws = self._draw(vectors[[query, *pool]], stored, n_samples, random_state)
        dq, dp = draws[:, :1], draws[:, 1:]
        sampled = np.einsum("sqd,smd->sm", dq, dp) / (
            np.linalg.norm(dq, axis=2) * np.linalg.norm(dp, axis=2)
        )
        ranks = np.argsort(np.argsort(-sampled, axis=1, kind="stable"), axis=1)[:, : int(k)]
        return Neighbours(
            query=word,
            words=[self._word_name(int(i)) for i in pool[: int(k)]],
            similarity=top.estimate,
            std_error=top.std_error,
            lower=top.lower,
            upper=top.upper,
            rank_stability=(ranks == np.arange(int(k))[None, :]).mean(axis=0),
            top_k_probability=(ranks < int(k)).mean(axis=0),
            alpha=alpha,
        )

    def bias_score(
        self,
        targets: Sequence[Word],
        group_a: Sequence[Word],
        group_b: Sequence[Word],
        *,
        other_targets: Sequence[Word] | None = None,
        kind: str = "weat",
        method: str = "delta",
        alpha: float = 0.05,
        null_value: float = 0.0,
        n_samples: int = 1000,
        random_state=None,
    ) -> StatisticResult:
        """A bias score of word lists with its standard error (Vallebueno et al., Sec. 4-5).

        ``kind="weat"``: the association :math:`s(t) = \\operatorname{mean}_{a}\\cos(t, a) -
        \\operatorname{mean}_{b}\\cos(t, b)` (Caliskan et al., Science 2017, the WEAT test
        statistic per word) averaged over ``targets``; with ``other_targets`` the difference of
        the two averages. ``kind="projection"``: the mean cosine of the targets with the
        direction :math:`\\bar a - \\bar b` of the two groups' mean vectors (Bolukbasi et
        al., NeurIPS 2016), minus the same for ``other_targets`` when given. All words enter as
        random vectors (a word in several lists is one vector); the whole score is one call of
        :meth:`statistic`, vectorised over the lists.

        Parameters
        ----------
        targets, group_a, group_b : sequences of words
        other_targets : sequence of words, optional
        kind : {"weat", "projection"}, default="weat"
        method, alpha, null_value, n_samples, random_state
            As in :meth:`statistic`.

        Returns
        -------
        StatisticResult
        """
        if kind not in ("weat", "projection"):
            raise InvalidInputError(f"kind must be 'weat' or 'projection'; got {kind!r}.")
        lists = [list(targets), list(group_a), list(group_b), list(other_targets or [])]
        if not lists[0] or not lists[1] or not lists[2]:
            raise InvalidInputError(
                "targets, group_a and group_b must each name at least one word."
            )
        n_t, n_a, n_b, n_o = (len(x) for x in lists)
        bounds = np.cumsum([0, n_t, n_a, n_b, n_o])

        def unit(x: torch.Tensor) -> torch.Tensor:
            return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)

        def score_of(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            if kind == "weat":
                ut = unit(t)
                return ((ut @ unit(a).T).mean(dim=1) - (ut @ unit(b).T).mean(dim=1)).mean()
            direction = unit(a.mean(dim=0) - b.mean(dim=0))
            return (unit(t) @ direction).mean()

        def fn(w: torch.Tensor) -> torch.Tensor:
            t, a, b, o = (w[bounds[k] : bounds[k + 1]] for k in range(4))
            value = score_of(t, a, b)
            return value - score_of(o, a, b) if n_o else value

        return self.statistic(fn, [w for x in lists for w in x], method=method, alpha=alpha,
                              null_value=null_value, n_samples=n_samples,
                              random_state=random_state)

    def statistic(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        words: Sequence[Word],
        *,
        method: str = "delta",
        alpha: float = 0.05,
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
        alpha : float, default=0.05
            Miscoverage level of the central interval ``[lower, upper]``: 0.05 gives a 95%
            interval (uqkit spells every interval by its miscoverage, as ``predict_interval``).
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
        _check_method(method, alpha)
        if isinstance(words, (str, int, np.integer)):
            words = [words]
        indices = np.array([self._index(w) for w in words], dtype=np.int64)
        unique, inverse = np.unique(indices, return_inverse=True)
        self._require_covariance(unique)
        base = torch.as_tensor(self.vectors_[unique], dtype=torch.float64)
        inverse_t = torch.as_tensor(inverse.reshape(-1))
        stored = [self._stored(int(i)) for i in unique]
        if method == "delta":
            return delta_method(fn, base, inverse_t, stored, alpha=alpha, null_value=null_value)
        generator = torch.Generator().manual_seed(derive_seed(resolve_entropy(random_state), 0))
        return method_of_composition(
            fn,
            base,
            inverse_t,
            stored,
            n_samples=n_samples,
            generator=generator,
            alpha=alpha,
            null_value=null_value,
        )


def _is_word(value) -> bool:
    return isinstance(value, (str, int, np.integer)) and not isinstance(value, bool)


def _check_method(method, alpha) -> None:
    if method not in ("delta", "sampling"):
        raise InvalidInputError(f"method must be 'delta' or 'sampling'; got {method!r}.")
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 < alpha < 1:
        raise InvalidInputError(
            f"alpha is the miscoverage level of the interval and must be in (0, 1) (0.05 for "
            f"a 95% interval); got {alpha!r}."
        )
