"""Typed results of GloVe-V: word vectors with covariances, and statistics with their errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from uqkit._random import derive_seed, resolve_entropy
from uqkit.embeddings._storage import psd_factor

__all__ = ["EmbeddingPrediction", "Neighbours", "StatisticResult"]


@dataclass(frozen=True, eq=False)
class EmbeddingPrediction:
    """Word vectors with their sampling distribution :math:`w_i \\sim N(\\hat w_i, \\Sigma_i)`.

    Returned by :meth:`GloVeV.predict_uncertainty`. Words are independent (Vallebueno et al.,
    EMNLP 2024, Sec. 3), so the joint covariance is block diagonal with blocks ``covariance[i]``.

    Parameters
    ----------
    words : list
        The words asked for (strings or vocabulary indices), in order.
    mean : ndarray of shape (m, D)
        Estimated word vectors :math:`\\hat w_i`.
    covariance : ndarray of shape (m, D, D)
        Covariance :math:`\\Sigma_i` of each vector (as stored: full or approximated).

    Examples
    --------
    >>> import numpy as np
    >>> pred = EmbeddingPrediction(["a"], np.zeros((1, 2)), np.eye(2)[None] * 4.0)
    >>> pred.std()
    array([[2., 2.]])
    >>> pred.sample(5, random_state=0).shape
    (5, 1, 2)
    """

    words: list
    mean: np.ndarray
    covariance: np.ndarray

    def __post_init__(self) -> None:
        m, dim = np.shape(self.mean)
        if np.shape(self.covariance) != (m, dim, dim) or len(self.words) != m:
            raise ValueError(
                f"words ({len(self.words)}), mean {np.shape(self.mean)} and covariance "
                f"{np.shape(self.covariance)} do not describe the same (m, D) vectors."
            )

    @property
    def variance(self) -> np.ndarray:
        """Per-coordinate variances, shape (m, D): the diagonals of ``covariance``."""
        return np.diagonal(self.covariance, axis1=1, axis2=2).copy()

    def std(self) -> np.ndarray:
        """Per-coordinate standard deviations, shape (m, D)."""
        return np.sqrt(np.clip(self.variance, 0.0, None))

    def sample(self, n_samples: int, random_state=None) -> np.ndarray:
        """Draw vectors from :math:`N(\\hat w_i, \\Sigma_i)`, independently across words.

        Parameters
        ----------
        n_samples : int
            Number of draws.
        random_state : int, RandomState, Generator or None
            Seed of a local torch generator.

        Returns
        -------
        ndarray of shape (n_samples, m, D)
        """
        generator = torch.Generator().manual_seed(derive_seed(resolve_entropy(random_state), 0))
        mean = torch.as_tensor(self.mean, dtype=torch.float64)
        factors = torch.stack([psd_factor(torch.as_tensor(c)) for c in self.covariance])
        noise = torch.randn(n_samples, *mean.shape, generator=generator, dtype=torch.float64)
        return (mean + torch.einsum("mde,sme->smd", factors, noise)).numpy()


@dataclass(frozen=True, eq=False)
class StatisticResult:
    """A statistic of word vectors with its standard error, interval and p-value.

    Parameters
    ----------
    estimate : float
        The statistic at the estimated vectors, :math:`\\varphi(\\hat w)`.
    std_error : float
        Its standard error: delta method or the spread of the sampled statistic.
    lower, upper : float
        The central ``1 - alpha`` interval: :math:`\\hat\\varphi \\pm z_{1-\\alpha/2}\\,
        \\mathrm{se}` for the delta method, the percentile interval of the draws for sampling.
    p_value : float
        Two-sided p-value of :math:`H_0: \\varphi = ` ``null_value``.
    method : {"delta", "sampling"}
        How the uncertainty was propagated.
    alpha : float
        Miscoverage level of the interval (0.05 for a 95% interval).
    null_value : float
        Value tested by ``p_value``.
    samples : ndarray of shape (n_samples,), optional
        The sampled statistic (``method="sampling"``).

    Examples
    --------
    >>> r = StatisticResult(0.5, 0.1, 0.3, 0.7, 0.0, "delta", 0.05, 0.0)
    >>> r.interval
    (0.3, 0.7)
    """

    estimate: float
    std_error: float
    lower: float
    upper: float
    p_value: float
    method: str
    alpha: float
    null_value: float
    samples: np.ndarray | None = field(default=None, repr=False)

    @property
    def interval(self) -> tuple[float, float]:
        """``(lower, upper)``."""
        return (self.lower, self.upper)

    def to_dict(self) -> dict[str, float | str]:
        """The scalar fields as a dict (for tables)."""
        return {
            "estimate": self.estimate,
            "std_error": self.std_error,
            "lower": self.lower,
            "upper": self.upper,
            "p_value": self.p_value,
            "method": self.method,
            "alpha": self.alpha,
            "null_value": self.null_value,
        }


@dataclass(frozen=True, eq=False)
class Neighbours:
    """The nearest neighbours of a word with their uncertainty (``GloVeV.most_similar``).

    Parameters
    ----------
    query : str or int
        The query word.
    words : list
        The ``k`` nearest words by estimated cosine, nearest first.
    similarity, std_error, lower, upper : ndarray of shape (k,)
        Cosine with the query, its delta-method standard error and central ``1 - alpha``
        interval (Vallebueno et al., EMNLP 2024, Sec. 4).
    rank_stability : ndarray of shape (k,)
        Share of sampled draws in which the neighbour keeps its rank.
    top_k_probability : ndarray of shape (k,)
        Share of draws in which it stays among the ``k`` nearest.
    alpha : float
        Miscoverage level of the intervals.

    Examples
    --------
    >>> n = Neighbours("a", ["b"], np.array([0.9]), np.array([0.01]), np.array([0.88]),
    ...                np.array([0.92]), np.array([1.0]), np.array([1.0]), 0.05)
    >>> n.to_rows()[0]["word"]
    'b'
    """

    query: object
    words: list
    similarity: np.ndarray
    std_error: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank_stability: np.ndarray
    top_k_probability: np.ndarray
    alpha: float

    def to_rows(self) -> list[dict]:
        """One dict per neighbour (for a table or ``pandas.DataFrame``)."""
        return [
            {
                "word": word,
                "similarity": float(self.similarity[r]),
                "std_error": float(self.std_error[r]),
                "lower": float(self.lower[r]),
                "upper": float(self.upper[r]),
                "rank_stability": float(self.rank_stability[r]),
                "top_k_probability": float(self.top_k_probability[r]),
            }
            for r, word in enumerate(self.words)
        ]
