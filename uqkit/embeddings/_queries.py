"""The statistics API of :class:`~uqkit.embeddings.GloVeV`: similarities, comparisons and any
statistic of word vectors, with standard errors, intervals and p-values.

Vallebueno, Handan-Nader, Manning & Ho, EMNLP 2024, Sec. 4. These methods turn words into the
distinct vectors and stored covariances that :mod:`uqkit.embeddings._statistics` propagates; the
estimator provides the look-ups (``_index``, ``_require_covariance``, ``_stored``, ``vectors_``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real

import numpy as np
import torch

from uqkit._random import derive_seed, resolve_entropy
from uqkit.base import check_fitted
from uqkit.embeddings._results import StatisticResult
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
        a: Word,
        b: Word,
        *,
        method: str = "delta",
        alpha: float = 0.05,
        null_value: float = 0.0,
        n_samples: int = 1000,
        random_state=None,
    ) -> StatisticResult:
        """Cosine similarity of two words with its standard error, interval and p-value.

        Parameters
        ----------
        a, b : str or int
            The two words.
        method, alpha, null_value, n_samples, random_state
            As in :meth:`statistic`.

        Returns
        -------
        StatisticResult
        """
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
        if method not in ("delta", "sampling"):
            raise InvalidInputError(f"method must be 'delta' or 'sampling'; got {method!r}.")
        if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 < alpha < 1:
            raise InvalidInputError(
                f"alpha is the miscoverage level of the interval and must be in (0, 1) (0.05 for "
                f"a 95% interval); got {alpha!r}."
            )
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
