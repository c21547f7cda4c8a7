"""Typed predictions with uncertainty, shared by every uqkit estimator.

A regressor returns a :class:`RegressionPrediction`, a classifier a
:class:`ClassificationPrediction`. Both keep the member axis explicit
(``(n_members, n_samples, ...)``) when the prediction comes from several models, and both split the
predictive uncertainty into an aleatoric part (noise in the data) and an epistemic part
(disagreement between plausible models).

For an ensemble of Gaussians with weights :math:`w_i`, means :math:`\\mu_i` and variances
:math:`\\sigma_i^2` (Lakshminarayanan et al., NeurIPS 2017, Sec. 2.4; the weighted form is the
AutoDEUQ split of Egele et al., ICPR 2022, Eq. 3) the law of total variance gives

.. math::

    \\mu = \\sum_i w_i \\mu_i, \\qquad
    \\text{aleatoric} = \\sum_i w_i \\sigma_i^2, \\qquad
    \\text{epistemic} = \\sum_i w_i (\\mu_i - \\mu)^2 .

Examples
--------
>>> import numpy as np
>>> pred = RegressionPrediction.mixture(
...     member_means=np.array([[0.0], [2.0]]), member_vars=np.array([[1.0], [1.0]]))
>>> pred.mean, pred.aleatoric, pred.epistemic
(array([1.]), array([1.]), array([1.]))
>>> lower, upper = pred.interval(0.1)
>>> bool(lower[0] < 1.0 < upper[0])
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

import numpy as np
from scipy import special, stats

from uqkit.exceptions import InvalidInputError

__all__ = ["ClassificationPrediction", "RegressionPrediction"]

Distribution = Literal["normal", "student_t", "mixture", "ggd"]
_DISTRIBUTIONS = ("normal", "student_t", "mixture", "ggd")
_SQRT_PI = np.sqrt(np.pi)


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray | float:
    if reduction == "mean":
        return float(np.mean(values))
    if reduction == "sum":
        return float(np.sum(values))
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}.")


def _as_float_array(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def _gaussian_crps_term(diff: np.ndarray, var: np.ndarray) -> np.ndarray:
    """E|X| for X ~ N(diff, var): the building block of closed-form Gaussian (mixture) CRPS."""
    sd = np.sqrt(var)
    z = diff / sd
    return 2.0 * sd * stats.norm.pdf(z) + diff * (2.0 * stats.norm.cdf(z) - 1.0)


@dataclass(frozen=True, eq=False)
class RegressionPrediction:
    """Predictive distribution of a regressor, with its aleatoric/epistemic variance split.

    Build one with the constructors :meth:`normal`, :meth:`mixture`, :meth:`student_t` or
    :meth:`ggd`; estimators return it from ``predict_uncertainty``.

    Parameters
    ----------
    mean : ndarray of shape (n,) or (n, d)
        Predictive mean.
    aleatoric : ndarray, same shape as ``mean``
        Aleatoric (data noise) **variance**.
    epistemic : ndarray, same shape as ``mean``
        Epistemic (model) **variance**.
    distribution : {"normal", "student_t", "mixture", "ggd"}
        Family of the predictive distribution.
    member_means, member_vars : ndarray of shape (k, n) or (k, n, d), optional
        Component means and variances of a Gaussian mixture (``distribution="mixture"``).
    weights : ndarray of shape (k,), optional
        Mixture weights, non-negative and summing to one.
    df : ndarray, optional
        Degrees of freedom of a Student-t predictive.
    scale : ndarray, optional
        Scale of a Student-t predictive, or the scale :math:`\\alpha` of a generalized Gaussian.
    beta : ndarray, optional
        Shape :math:`\\beta` of a generalized Gaussian predictive (2: Gaussian, 1: Laplace).

    Examples
    --------
    >>> import numpy as np
    >>> pred = RegressionPrediction.normal(np.zeros(3), aleatoric=np.ones(3))
    >>> pred.std()
    array([1., 1., 1.])
    >>> round(pred.nll(np.zeros(3)), 4)
    0.9189
    """

    mean: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    distribution: Distribution = "normal"
    member_means: np.ndarray | None = None
    member_vars: np.ndarray | None = None
    weights: np.ndarray | None = None
    df: np.ndarray | None = None
    scale: np.ndarray | None = None
    beta: np.ndarray | None = None
    _member_fields = ("member_means", "member_vars")
    _per_sample_fields = ("mean", "aleatoric", "epistemic", "df", "scale", "beta")

    def __post_init__(self) -> None:
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {_DISTRIBUTIONS}; got {self.distribution!r}."
            )
        shape = np.shape(self.mean)
        for name in ("aleatoric", "epistemic", "df", "scale", "beta"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != shape:
                raise ValueError(
                    f"{name} has shape {np.shape(value)} but mean has shape {shape}."
                )
        if self.distribution == "mixture" and (self.member_means is None or self.weights is None):
            raise ValueError("a mixture prediction needs member_means, member_vars and weights.")
        if self.distribution == "student_t" and (self.df is None or self.scale is None):
            raise ValueError("a Student-t prediction needs df and scale.")
        if self.distribution == "ggd" and (self.scale is None or self.beta is None):
            raise ValueError("a generalized Gaussian prediction needs scale and beta.")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def normal(cls, mean, aleatoric, epistemic=None) -> RegressionPrediction:
        """Gaussian predictive ``N(mean, aleatoric + epistemic)``.

        Examples
        --------
        >>> RegressionPrediction.normal([1.0], [0.5], [0.5]).total
        array([1.])
        """
        mean = _as_float_array(mean)
        aleatoric = _as_float_array(aleatoric)
        epistemic = np.zeros_like(mean) if epistemic is None else _as_float_array(epistemic)
        return cls(mean=mean, aleatoric=aleatoric, epistemic=epistemic, distribution="normal")

    @classmethod
    def mixture(cls, member_means, member_vars, weights=None) -> RegressionPrediction:
        """Weighted mixture of member Gaussians, split by the law of total variance.

        Parameters
        ----------
        member_means, member_vars : array-like of shape (k, n) or (k, n, d)
            Each member's predictive mean and (aleatoric) variance.
        weights : array-like of shape (k,), optional
            Member weights; equal weights when omitted. Normalised to sum to one.

        Examples
        --------
        >>> import numpy as np
        >>> pred = RegressionPrediction.mixture(np.ones((4, 2)), np.full((4, 2), 0.3))
        >>> pred.epistemic
        array([0., 0.])
        """
        member_means = _as_float_array(member_means)
        member_vars = _as_float_array(member_vars)
        if member_means.ndim < 2 or member_means.shape != member_vars.shape:
            raise ValueError(
                "member_means and member_vars must have the same shape (k, n) or (k, n, d); "
                f"got {member_means.shape} and {member_vars.shape}."
            )
        k = member_means.shape[0]
        if weights is None:
            weights = np.full(k, 1.0 / k)
        weights = _as_float_array(weights).reshape(-1)
        if weights.shape != (k,) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"weights must be {k} non-negative numbers with a positive sum.")
        weights = weights / weights.sum()
        w = weights.reshape((k,) + (1,) * (member_means.ndim - 1))
        # Mean as an offset from the first member: members that agree give exactly that
        # member's mean, hence exactly zero epistemic variance.
        offsets = member_means - member_means[0]
        mean = member_means[0] + np.sum(w * offsets, axis=0)
        aleatoric = np.sum(w * member_vars, axis=0)
        epistemic = np.sum(w * (member_means - mean) ** 2, axis=0)
        return cls(
            mean=mean,
            aleatoric=aleatoric,
            epistemic=epistemic,
            distribution="mixture",
            member_means=member_means,
            member_vars=member_vars,
            weights=weights,
        )

    @classmethod
    def student_t(cls, loc, scale, df, aleatoric, epistemic) -> RegressionPrediction:
        """Student-t predictive ``t_df(loc, scale)`` with a given variance split.

        Examples
        --------
        >>> pred = RegressionPrediction.student_t([0.0], [1.0], [4.0], [1.0], [1.0])
        >>> pred.distribution
        'student_t'
        """
        arrays = [_as_float_array(v) for v in (loc, scale, df, aleatoric, epistemic)]
        loc, scale, df, aleatoric, epistemic = arrays
        return cls(
            mean=loc,
            aleatoric=aleatoric,
            epistemic=epistemic,
            distribution="student_t",
            df=df,
            scale=scale,
        )

    @classmethod
    def ggd(cls, loc, alpha, beta, epistemic=None) -> RegressionPrediction:
        """Generalized Gaussian predictive ``GGD(loc, alpha, beta)``.

        The aleatoric variance is :math:`\\alpha^2\\Gamma(3/\\beta)/\\Gamma(1/\\beta)`. When an
        epistemic variance is given, the scale of the predictive density is widened so that its
        variance equals ``aleatoric + epistemic`` (the shape ``beta`` is kept).

        Examples
        --------
        >>> pred = RegressionPrediction.ggd([0.0], [1.0], [2.0])
        >>> round(float(pred.aleatoric[0]), 12)  # alpha**2 * Gamma(3/2) / Gamma(1/2)
        0.5
        """
        loc = _as_float_array(loc)
        alpha = _as_float_array(alpha)
        beta = _as_float_array(beta)
        ratio = np.exp(special.gammaln(3.0 / beta) - special.gammaln(1.0 / beta))
        aleatoric = alpha**2 * ratio
        epistemic = np.zeros_like(loc) if epistemic is None else _as_float_array(epistemic)
        scale = np.sqrt((aleatoric + epistemic) / ratio)
        return cls(
            mean=loc,
            aleatoric=aleatoric,
            epistemic=epistemic,
            distribution="ggd",
            scale=scale,
            beta=beta,
        )

    # ------------------------------------------------------------------ basic views
    @property
    def total(self) -> np.ndarray:
        """Total predictive variance, ``aleatoric + epistemic``."""
        return self.aleatoric + self.epistemic

    @property
    def n_members(self) -> int:
        """Number of mixture components (1 when the prediction is not a mixture)."""
        return 1 if self.member_means is None else int(self.member_means.shape[0])

    def std(self) -> np.ndarray:
        """Total predictive standard deviation."""
        return np.sqrt(self.total)

    def __len__(self) -> int:
        return int(np.shape(self.mean)[0])

    def __getitem__(self, index) -> RegressionPrediction:
        """Rows ``index`` of the prediction (the member axis is kept)."""
        changes = {}
        for name in self._per_sample_fields:
            value = getattr(self, name)
            if value is not None:
                changes[name] = np.asarray(value)[index]
        for name in self._member_fields:
            value = getattr(self, name)
            if value is not None:
                changes[name] = value[:, index]
        return replace(self, **changes)

    def rescale(self, scale, shift) -> RegressionPrediction:
        """The prediction of ``shift + scale * Y``: used to return to the user's units.

        Parameters
        ----------
        scale, shift : float or ndarray of shape (d,)
            Positive scale and shift, per output column for multi-output predictions.
        """
        scale = np.asarray(scale, dtype=np.float64)
        shift = np.asarray(shift, dtype=np.float64)
        changes = {
            "mean": self.mean * scale + shift,
            "aleatoric": self.aleatoric * scale**2,
            "epistemic": self.epistemic * scale**2,
        }
        if self.member_means is not None:
            changes["member_means"] = self.member_means * scale + shift
            changes["member_vars"] = self.member_vars * scale**2
        if self.scale is not None:
            changes["scale"] = self.scale * scale
        return replace(self, **changes)

    def as_normal(self) -> RegressionPrediction:
        """Moment-matched Gaussian ``N(mean, total)`` with the same variance split.

        Deep ensembles report the NLL of this Gaussian (Lakshminarayanan et al., 2017, Sec. 2.4).
        """
        return RegressionPrediction.normal(self.mean, self.aleatoric, self.epistemic)

    # ------------------------------------------------------------------ distribution
    def _check_y(self, y) -> np.ndarray:
        y = _as_float_array(y)
        if y.shape != np.shape(self.mean):
            if y.ndim == 1 and np.ndim(self.mean) == 2 and np.shape(self.mean)[1] == 1:
                y = y[:, None]
            elif y.ndim == 2 and y.shape[1] == 1 and np.ndim(self.mean) == 1:
                y = y[:, 0]
            else:
                raise InvalidInputError(
                    f"y has shape {y.shape} but the prediction has shape {np.shape(self.mean)}."
                )
        if not np.all(np.isfinite(y)):
            raise InvalidInputError("y contains NaN or infinite values.")
        return y

    def _member_axis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.weights.reshape((-1,) + (1,) * np.ndim(self.mean))
        return self.member_means, np.sqrt(self.member_vars), w

    def cdf(self, y) -> np.ndarray:
        """Predictive CDF evaluated at ``y`` (same shape as ``mean``)."""
        y = self._check_y(y)
        return self._cdf(y)

    def _cdf(self, y: np.ndarray) -> np.ndarray:
        # special.ndtr is the standard normal CDF without scipy.stats' per-call overhead
        if self.distribution == "normal":
            return special.ndtr((y - self.mean) / self.std())
        if self.distribution == "student_t":
            return stats.t.cdf(y, self.df, self.mean, self.scale)
        if self.distribution == "ggd":
            return stats.gennorm.cdf(y, self.beta, self.mean, self.scale)
        mu, sd, w = self._member_axis()
        return np.sum(w * special.ndtr((y - mu) / sd), axis=0)

    def log_prob(self, y) -> np.ndarray:
        """Log predictive density of ``y``, elementwise."""
        y = self._check_y(y)
        if self.distribution == "normal":
            return stats.norm.logpdf(y, self.mean, self.std())
        if self.distribution == "student_t":
            return stats.t.logpdf(y, self.df, self.mean, self.scale)
        if self.distribution == "ggd":
            return stats.gennorm.logpdf(y, self.beta, self.mean, self.scale)
        mu, sd, w = self._member_axis()
        with np.errstate(divide="ignore"):
            log_w = np.log(w)
        return special.logsumexp(log_w + stats.norm.logpdf(y, mu, sd), axis=0)

    def nll(self, y, reduction: str = "mean"):
        """Negative log-likelihood of ``y`` under the predictive distribution.

        Parameters
        ----------
        y : array-like, same shape as ``mean``
            Observed targets.
        reduction : {"mean", "sum", "none"}
            How to reduce the elementwise values.
        """
        return _reduce(-self.log_prob(y), reduction)

    def quantile(self, q) -> np.ndarray:
        """Predictive quantile(s).

        Parameters
        ----------
        q : float or array-like of shape (m,)
            Levels in (0, 1).

        Returns
        -------
        ndarray
            Shape of ``mean`` for a scalar ``q``, else ``(m, *mean.shape)``.
        """
        q_arr = np.asarray(q, dtype=np.float64)
        if np.any((q_arr <= 0) | (q_arr >= 1)):
            raise ValueError(f"quantile levels must lie in (0, 1); got {q}.")
        if q_arr.ndim == 0:
            return self._quantile(float(q_arr))
        return np.stack([self._quantile(float(level)) for level in q_arr.reshape(-1)])

    def _quantile(self, q: float) -> np.ndarray:
        if self.distribution == "normal":
            return stats.norm.ppf(q, self.mean, self.std())
        if self.distribution == "student_t":
            return stats.t.ppf(q, self.df, self.mean, self.scale)
        if self.distribution == "ggd":
            return stats.gennorm.ppf(q, self.beta, self.mean, self.scale)
        return self._mixture_quantile(q)

    def _mixture_quantile(self, q: float, iterations: int = 80) -> np.ndarray:
        # Vectorized bisection on the mixture CDF; the bracket holds every component's
        # 1e-12 tail, so it always contains the root. 80 halvings reach float64 resolution.
        mu, sd, _ = self._member_axis()
        z = stats.norm.ppf(1e-12)
        lower = np.min(mu + z * sd, axis=0)
        upper = np.max(mu - z * sd, axis=0)
        for _ in range(iterations):
            middle = 0.5 * (lower + upper)
            below = self._cdf(middle) < q
            lower = np.where(below, middle, lower)
            upper = np.where(below, upper, middle)
        return 0.5 * (lower + upper)

    def interval(self, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Central ``1 - alpha`` interval of the predictive distribution: ``(lower, upper)``."""
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha}.")
        return self._quantile(alpha / 2.0), self._quantile(1.0 - alpha / 2.0)

    def crps(self, y, reduction: str = "mean"):
        """Continuous ranked probability score of ``y`` (lower is better).

        Closed forms for the Gaussian (Gneiting & Raftery, 2007), the Gaussian mixture
        (Grimit et al., 2006) and the Student-t; quantile quadrature for the generalized Gaussian.
        """
        y = self._check_y(y)
        if self.distribution == "normal":
            values = _gaussian_crps_term(y - self.mean, self.total) - self.std() / _SQRT_PI
        elif self.distribution == "mixture":
            mu, _, w = self._member_axis()
            var = self.member_vars
            first = np.sum(w * _gaussian_crps_term(y - mu, var), axis=0)
            w_pair = w[:, None] * w[None, :]
            pair = _gaussian_crps_term(mu[:, None] - mu[None, :], var[:, None] + var[None, :])
            values = first - 0.5 * np.sum(w_pair * pair, axis=(0, 1))
        elif self.distribution == "student_t":
            values = self._student_t_crps(y)
        else:
            values = self._quadrature_crps(y)
        return _reduce(values, reduction)

    def _student_t_crps(self, y: np.ndarray) -> np.ndarray:
        nu = self.df
        if np.any(nu <= 1):
            return self._quadrature_crps(y)
        z = (y - self.mean) / self.scale
        term = z * (2 * stats.t.cdf(z, nu) - 1) + 2 * stats.t.pdf(z, nu) * (nu + z**2) / (nu - 1)
        log_const = (
            np.log(2 * np.sqrt(nu) / (nu - 1))
            + special.betaln(0.5, nu - 0.5)
            - 2 * special.betaln(0.5, nu / 2)
        )
        return self.scale * (term - np.exp(log_const))

    def _quadrature_crps(self, y: np.ndarray, n_levels: int = 400) -> np.ndarray:
        # CRPS = 2 ∫_0^1 pinball_q(y, F^{-1}(q)) dq, midpoint rule on the quantile levels.
        levels = (np.arange(n_levels) + 0.5) / n_levels
        total = np.zeros_like(y)
        for q in levels:
            diff = y - self._quantile(float(q))
            total += np.where(diff >= 0, q * diff, (q - 1) * diff)
        return 2.0 * total / n_levels

    def to_frame(self, alpha: float = 0.1):
        """A pandas DataFrame: mean, aleatoric, epistemic, total, std and the ``1-alpha`` interval.

        Multi-output predictions get one group of columns per output (``mean_0``, ...).
        """
        import pandas as pd

        lower, upper = self.interval(alpha)
        level = round(100 * (1 - alpha))
        columns = {
            "mean": self.mean,
            "aleatoric": self.aleatoric,
            "epistemic": self.epistemic,
            "total": self.total,
            "std": self.std(),
            f"lower_{level}": lower,
            f"upper_{level}": upper,
        }
        if np.ndim(self.mean) == 1:
            return pd.DataFrame(columns)
        data = {}
        for j in range(np.shape(self.mean)[1]):
            for name, value in columns.items():
                data[f"{name}_{j}"] = value[:, j]
        return pd.DataFrame(data)

    def __repr__(self) -> str:
        return (
            f"RegressionPrediction(distribution={self.distribution!r}, shape={np.shape(self.mean)},"
            f" n_members={self.n_members}, mean_aleatoric={np.mean(self.aleatoric):.4g},"
            f" mean_epistemic={np.mean(self.epistemic):.4g})"
        )


def _entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    return -np.sum(special.xlogy(probs, probs), axis=axis)


@dataclass(frozen=True, eq=False)
class ClassificationPrediction:
    """Predictive class probabilities with the entropy split of their uncertainty.

    ``total`` is the entropy of ``probs``. With members, ``aleatoric`` is the expected entropy of
    the members and ``epistemic`` the mutual information (Depeweg et al., ICML 2018, Eq. 4). With
    a Dirichlet ``alpha`` (evidential models) the closed forms of Malinin & Gales (NeurIPS 2018)
    are used: aleatoric :math:`= -\\sum_k p_k(\\psi(\\alpha_k+1)-\\psi(S+1))`.

    Parameters
    ----------
    probs : ndarray of shape (n, C)
        Predictive probabilities; rows sum to one.
    member_probs : ndarray of shape (k, n, C), optional
        Each member's (or sample's) probabilities.
    weights : ndarray of shape (k,), optional
        Member weights summing to one (equal when omitted).
    alpha : ndarray of shape (n, C), optional
        Dirichlet concentration parameters.
    classes : ndarray of shape (C,), optional
        Class labels; defaults to ``0..C-1``.

    Examples
    --------
    >>> import numpy as np
    >>> pred = ClassificationPrediction.from_members(
    ...     np.array([[[1.0, 0.0]], [[0.0, 1.0]]]))
    >>> pred.probs
    array([[0.5, 0.5]])
    >>> round(float(pred.epistemic[0]), 4)  # two confident members that disagree
    0.6931
    """

    probs: np.ndarray
    member_probs: np.ndarray | None = None
    weights: np.ndarray | None = None
    alpha: np.ndarray | None = None
    classes: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        probs = np.asarray(self.probs)
        if probs.ndim != 2:
            raise ValueError(f"probs must have shape (n, C); got {probs.shape}.")
        if self.classes is None:
            object.__setattr__(self, "classes", np.arange(probs.shape[1]))
        if len(self.classes) != probs.shape[1]:
            raise ValueError(f"{len(self.classes)} classes but probs has {probs.shape[1]} columns.")

    @classmethod
    def from_members(cls, member_probs, weights=None, classes=None) -> ClassificationPrediction:
        """Average member probabilities (optionally weighted) into one prediction."""
        member_probs = _as_float_array(member_probs)
        if member_probs.ndim != 3:
            raise ValueError(f"member_probs must have shape (k, n, C); got {member_probs.shape}.")
        k = member_probs.shape[0]
        weights = np.full(k, 1.0 / k) if weights is None else _as_float_array(weights)
        weights = weights / weights.sum()
        probs = np.einsum("k,knc->nc", weights, member_probs)
        return cls(probs=probs, member_probs=member_probs, weights=weights, classes=classes)

    @classmethod
    def from_dirichlet(cls, alpha, classes=None) -> ClassificationPrediction:
        """Prediction of a Dirichlet ``Dir(alpha)``: ``probs = alpha / sum(alpha)``."""
        alpha = _as_float_array(alpha)
        probs = alpha / alpha.sum(axis=-1, keepdims=True)
        return cls(probs=probs, alpha=alpha, classes=classes)

    @property
    def n_members(self) -> int:
        """Number of members (1 when there is no member axis)."""
        return 1 if self.member_probs is None else int(self.member_probs.shape[0])

    @property
    def total(self) -> np.ndarray:
        """Entropy of the predictive probabilities (nats)."""
        return _entropy(self.probs)

    @property
    def aleatoric(self) -> np.ndarray:
        """Expected entropy (members or Dirichlet closed form); equals ``total`` otherwise."""
        if self.alpha is not None:
            strength = self.alpha.sum(axis=-1, keepdims=True)
            digamma_gap = special.digamma(self.alpha + 1) - special.digamma(strength + 1)
            return -np.sum(self.probs * digamma_gap, axis=-1)
        if self.member_probs is not None:
            return np.einsum("k,kn->n", self.weights, _entropy(self.member_probs))
        return self.total

    @property
    def epistemic(self) -> np.ndarray:
        """Mutual information between the label and the model: ``total - aleatoric`` (≥ 0)."""
        return np.maximum(self.total - self.aleatoric, 0.0)

    @property
    def vacuity(self) -> np.ndarray | None:
        """Dirichlet vacuity ``C / sum(alpha)`` (Sensoy et al., 2018); ``None`` without alpha."""
        if self.alpha is None:
            return None
        return self.alpha.shape[-1] / self.alpha.sum(axis=-1)

    @property
    def differential_entropy(self) -> np.ndarray | None:
        """Differential entropy of ``Dir(alpha)``; ``None`` without alpha."""
        if self.alpha is None:
            return None
        a = self.alpha
        s = a.sum(axis=-1)
        log_beta = special.gammaln(a).sum(axis=-1) - special.gammaln(s)
        k = a.shape[-1]
        return (
            log_beta + (s - k) * special.digamma(s) - np.sum((a - 1) * special.digamma(a), axis=-1)
        )

    @property
    def label(self) -> np.ndarray:
        """Most probable class label per sample."""
        return np.asarray(self.classes)[np.argmax(self.probs, axis=-1)]

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the most probable class."""
        return np.max(self.probs, axis=-1)

    def __len__(self) -> int:
        return int(self.probs.shape[0])

    def __getitem__(self, index) -> ClassificationPrediction:
        """Rows ``index`` of the prediction (the member axis is kept)."""
        changes = {"probs": self.probs[index]}
        if self.alpha is not None:
            changes["alpha"] = self.alpha[index]
        if self.member_probs is not None:
            changes["member_probs"] = self.member_probs[:, index]
        return replace(self, **changes)

    def class_index(self, y) -> np.ndarray:
        """Column index of each label in ``y``; raises for labels outside ``classes``."""
        y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y).reshape(-1)
        if len(y) != len(self):
            raise InvalidInputError(
                f"y has {len(y)} labels but the prediction has {len(self)} rows."
            )
        classes = np.asarray(self.classes)
        order = np.argsort(classes)
        position = np.searchsorted(classes[order], y)
        position = np.clip(position, 0, len(classes) - 1)
        index = order[position]
        unknown = classes[index] != y
        if np.any(unknown):
            raise InvalidInputError(
                f"y contains labels that are not among the classes {classes.tolist()}: "
                f"{np.unique(y[unknown]).tolist()[:10]}."
            )
        return index

    def log_prob(self, y) -> np.ndarray:
        """Log predictive probability of each label in ``y``."""
        index = self.class_index(y)
        p = self.probs[np.arange(len(index)), index]
        with np.errstate(divide="ignore"):
            return np.log(np.clip(p, 1e-300, None))

    def nll(self, y, reduction: str = "mean"):
        """Negative log-likelihood (cross-entropy) of the labels ``y``."""
        return _reduce(-self.log_prob(y), reduction)

    def to_frame(self):
        """A pandas DataFrame: label, confidence, uncertainties and one column per class."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "label": self.label,
                "confidence": self.confidence,
                "total": self.total,
                "aleatoric": self.aleatoric,
                "epistemic": self.epistemic,
            }
        )
        for j, name in enumerate(np.asarray(self.classes).tolist()):
            frame[f"p_{name}"] = self.probs[:, j]
        return frame

    def __repr__(self) -> str:
        names = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        return (
            f"ClassificationPrediction(n={len(self)}, classes={len(self.classes)}, "
            f"n_members={self.n_members}, fields={names})"
        )
