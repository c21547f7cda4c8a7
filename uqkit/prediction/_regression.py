"""The prediction of every uqkit regressor: a predictive distribution and its variance split.

One idea that reads better whole (close to 500 lines, most of them docstrings): the
:class:`RegressionPrediction` type with its constructors, views and distribution methods. The
distribution math itself lives in the family modules (``_normal``, ``_mixture``, ``_student_t``,
``_ggd``, ``_recalibrated``); this class only dispatches to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from uqkit.exceptions import InvalidInputError
from uqkit.prediction._arrays import (
    align_targets,
    as_float_array,
    check_finite,
    check_miscoverages,
    check_positive,
    check_row_labels,
    check_variance,
    check_weights,
    reduce_values,
)
from uqkit.prediction._ggd import GeneralizedGaussian, variance_ratio
from uqkit.prediction._mixture import GaussianMixture, check_members, total_variance_split
from uqkit.prediction._normal import Normal
from uqkit.prediction._recalibrated import Recalibrated, check_map
from uqkit.prediction._student_t import StudentT

__all__ = ["RegressionPrediction"]

Distribution = Literal["normal", "student_t", "mixture", "ggd", "recalibrated"]
#: The predictive families a :class:`RegressionPrediction` can carry.
DISTRIBUTIONS = ("normal", "student_t", "mixture", "ggd", "recalibrated")
# What each family needs besides the mean and the variance split.
_REQUIRED = {
    "mixture": ("member_means", "member_vars", "weights"),
    "student_t": ("df", "scale"),
    "ggd": ("scale", "shape"),
    "recalibrated": ("base", "pit_knots", "level_knots"),
}


@dataclass(frozen=True, eq=False)
class RegressionPrediction:
    """Predictive distribution of a regressor, with its aleatoric/epistemic variance split.

    Build one with the constructors :meth:`normal`, :meth:`mixture`, :meth:`student_t`,
    :meth:`ggd` or :meth:`recalibrated`; estimators return it from ``predict_uncertainty``. Every
    method (:meth:`cdf`, :meth:`quantile`, :meth:`interval`, :meth:`log_prob`, :meth:`nll`,
    :meth:`crps`) evaluates the distribution named by ``distribution``, exactly where a closed
    form exists.

    Parameters
    ----------
    mean : ndarray of shape (n,) or (n, d)
        Predictive mean.
    aleatoric : ndarray, same shape as ``mean``
        Aleatoric (data noise) **variance**.
    epistemic : ndarray, same shape as ``mean``
        Epistemic (model) **variance**.
    distribution : {"normal", "student_t", "mixture", "ggd", "recalibrated"}
        Family of the predictive distribution.
    member_means, member_vars : ndarray of shape (k, n) or (k, n, d), optional
        Component means and variances of a Gaussian mixture (``distribution="mixture"``).
    weights : ndarray of shape (k,), optional
        Mixture weights, non-negative and summing to one.
    df : ndarray, optional
        Degrees of freedom of a Student-t predictive.
    scale : ndarray, optional
        Scale of a Student-t predictive, or the scale :math:`\\alpha` of the generalized Gaussian
        predictive (widened to the total variance when there is an epistemic part).
    shape : ndarray, optional
        Shape :math:`\\beta` of a generalized Gaussian predictive (2: Gaussian, 1: Laplace). Not
        the array shape, which is ``np.shape(pred.mean)``.
    base : RegressionPrediction, optional
        The prediction a ``"recalibrated"`` one was made from.
    pit_knots, level_knots : ndarray of shape (m,), optional
        The recalibration map :math:`R` of a ``"recalibrated"`` prediction: piecewise linear and
        strictly increasing through these points, from (0, 0) to (1, 1).
    index : pandas.Index of length n, optional
        Row labels of the features predicted on (a DataFrame's index): estimators set it, and
        :meth:`to_frame` uses it. Not part of the distribution; ``None`` for array input.

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
    shape: np.ndarray | None = None
    base: RegressionPrediction | None = None
    pit_knots: np.ndarray | None = None
    level_knots: np.ndarray | None = None
    index: Any = None
    _per_sample_fields = ("mean", "aleatoric", "epistemic", "df", "scale", "shape")
    _member_fields = ("member_means", "member_vars")

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {DISTRIBUTIONS}; got {self.distribution!r}."
            )
        self._check_values()
        expected = np.shape(self.mean)
        check_row_labels(self.index, expected[0] if expected else 0, "RegressionPrediction")
        for name in self._per_sample_fields[1:]:
            value = getattr(self, name)
            if value is not None and np.shape(value) != expected:
                raise InvalidInputError(
                    f"{name} has shape {np.shape(value)} but mean has shape {expected}."
                )
        self._check_spread("RegressionPrediction")
        missing = [n for n in _REQUIRED.get(self.distribution, ()) if getattr(self, n) is None]
        if missing:
            needs = ", ".join(_REQUIRED[self.distribution])
            raise ValueError(
                f"a {self.distribution!r} prediction needs {needs}; {', '.join(missing)} missing."
            )
        if self.distribution == "recalibrated":
            if not isinstance(self.base, RegressionPrediction):
                raise ValueError("base must be a RegressionPrediction.")
            if np.shape(self.base.mean) != expected:
                raise ValueError("mean and base.mean must have the same shape.")
            check_map(self.pit_knots, self.level_knots)

    def _check_values(self) -> None:
        """Refuse what would give NaN intervals: non-finite means, negative variances, ...

        A variance a few ulps below zero (``VARIANCE_RTOL`` of the largest) is float rounding
        and is read as 0; the stored array is replaced only then, so good input is kept as is.
        """
        owner = "RegressionPrediction"
        check_finite(self.mean, "mean", owner)
        variances = ("aleatoric", "epistemic", "member_vars")
        for name in variances:
            value = getattr(self, name)
            if value is None:
                continue
            checked = check_variance(value, name, owner)
            if np.any(checked != value):
                object.__setattr__(self, name, checked)
        for name in ("df", "scale", "shape"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name, owner)
        if self.distribution == "student_t" and np.any(np.asarray(self.df) <= 1):
            # for df <= 1 the Student-t has no mean (the prediction's ``mean``) and an infinite
            # CRPS; scipy's quantiles are also wrong for df below ~0.01
            raise InvalidInputError(
                f"{owner}: a Student-t predictive needs df > 1 (its mean must exist); got "
                f"df = {float(np.min(self.df)):g}. Evidential models give df = 2 alpha > 2."
            )
        if self.member_means is not None:
            check_finite(self.member_means, "member_means", owner)
        if self.weights is not None and self.member_means is not None:
            k = np.shape(self.member_means)[0]
            weights = check_weights(self.weights, k, owner)
            if not np.allclose(weights, self.weights, rtol=1e-9, atol=0.0):
                object.__setattr__(self, "weights", weights)

    def _check_spread(self, owner: str) -> None:
        """Refuse a total variance that overflows float64 (any family), and a Gaussian (or
        mixture component) of zero variance.

        A zero variance is a point mass: its NLL is infinite and its CDF a step, so every
        density-based metric would come out NaN. A total that overflows float64 is no variance.
        """
        with np.errstate(over="ignore"):
            total = np.add(self.aleatoric, self.epistemic)
        if not np.all(np.isfinite(total)):  # every family reports the total variance
            spread, name = total, "aleatoric + epistemic"
        elif self.distribution == "normal":
            spread, name = total, "aleatoric + epistemic"
        elif self.distribution == "mixture" and self.member_vars is not None:
            spread, name = np.asarray(self.member_vars), "member_vars"
        else:
            return
        bad = ~(spread > 0) | ~np.isfinite(spread)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            value = float(spread[index])
            what = "overflows float64" if np.isinf(value) else f"is {value:g}"
            raise InvalidInputError(
                f"{owner}: the variance {name} {what} at {index}. A Gaussian needs a positive, "
                "finite variance: a zero variance is a point mass, whose NLL and CDF are "
                "undefined. Pass positive variances (rescale y if they overflow); a model "
                "without uncertainty gets intervals from uqkit.calibration.ConformalRegressor."
            )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def normal(cls, mean, aleatoric, epistemic=None) -> RegressionPrediction:
        """Gaussian predictive ``N(mean, aleatoric + epistemic)``.

        Examples
        --------
        >>> RegressionPrediction.normal([1.0], [0.5], [0.5]).total
        array([1.])
        """
        mean = as_float_array(mean)
        aleatoric = as_float_array(aleatoric)
        epistemic = np.zeros_like(mean) if epistemic is None else as_float_array(epistemic)
        return cls(mean=mean, aleatoric=aleatoric, epistemic=epistemic, distribution="normal")

    @classmethod
    def mixture(cls, member_means, member_vars, weights=None) -> RegressionPrediction:
        """Weighted mixture of member Gaussians, split by the law of total variance.

        For weights :math:`w_i`, means :math:`\\mu_i` and variances :math:`\\sigma_i^2`
        (Lakshminarayanan et al., NeurIPS 2017, Sec. 2.4; Egele et al., ICPR 2022, Eq. 3):
        :math:`\\mu = \\sum_i w_i \\mu_i`, aleatoric :math:`= \\sum_i w_i \\sigma_i^2`, epistemic
        :math:`= \\sum_i w_i (\\mu_i - \\mu)^2`.

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
        member_means, member_vars, weights = check_members(
            as_float_array(member_means),
            as_float_array(member_vars),
            None if weights is None else as_float_array(weights),
        )
        mean, aleatoric, epistemic = total_variance_split(member_means, member_vars, weights)
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
        loc, scale, df, aleatoric, epistemic = map(
            as_float_array, (loc, scale, df, aleatoric, epistemic)
        )
        return cls(
            mean=loc,
            aleatoric=aleatoric,
            epistemic=epistemic,
            distribution="student_t",
            df=df,
            scale=scale,
        )

    @classmethod
    def ggd(cls, loc, scale, shape, epistemic=None) -> RegressionPrediction:
        """Generalized Gaussian predictive ``GGD(loc, scale, shape)``.

        The aleatoric variance is :math:`\\alpha^2\\Gamma(3/\\beta)/\\Gamma(1/\\beta)` for the scale
        :math:`\\alpha` and the shape :math:`\\beta`. When an epistemic variance is given, the
        scale of the predictive density is widened so that its variance equals
        ``aleatoric + epistemic`` (the shape is kept).

        Examples
        --------
        >>> pred = RegressionPrediction.ggd([0.0], [1.0], [2.0])
        >>> round(float(pred.aleatoric[0]), 12)  # scale**2 * Gamma(3/2) / Gamma(1/2)
        0.5
        """
        loc = as_float_array(loc)
        scale = check_positive(scale, "scale", "RegressionPrediction.ggd")
        shape = check_positive(shape, "shape", "RegressionPrediction.ggd")
        ratio = variance_ratio(shape)
        aleatoric = scale**2 * ratio
        epistemic = np.zeros_like(loc) if epistemic is None else as_float_array(epistemic)
        return cls(
            mean=loc,
            aleatoric=aleatoric,
            epistemic=epistemic,
            distribution="ggd",
            scale=np.sqrt((aleatoric + epistemic) / ratio),
            shape=shape,
        )

    @classmethod
    def recalibrated(cls, base, pit_knots, level_knots) -> RegressionPrediction:
        """The distribution :math:`R \\circ F`: ``base`` under a monotone map :math:`R` of its CDF.

        :math:`R` is piecewise linear through ``(pit_knots, level_knots)``, strictly increasing
        from (0, 0) to (1, 1) (isotonic recalibration; Kuleshov, Fenner & Ermon, ICML 2018). CDF,
        quantiles :math:`F^{-1}(R^{-1}(q))`, intervals and log-density
        :math:`\\log R'(F(y)) + \\log f(y)` are exact; the CRPS is integrated numerically.
        ``mean``, ``aleatoric`` and ``epistemic`` are its moments, integrated on a grid of about
        770 points per sample and corrected by the same integral of ``base`` (an identity map
        returns ``base``'s moments exactly); the variance is split in the proportions of ``base``.

        Parameters
        ----------
        base : RegressionPrediction
        pit_knots, level_knots : array-like of shape (m,)

        Examples
        --------
        >>> import numpy as np
        >>> base = RegressionPrediction.normal(np.zeros(2), np.ones(2))
        >>> same = RegressionPrediction.recalibrated(base, [0.0, 1.0], [0.0, 1.0])
        >>> same.distribution, np.allclose(same.cdf([0.3, -1.0]), base.cdf([0.3, -1.0]))
        ('recalibrated', True)
        """
        if not isinstance(base, RegressionPrediction):
            raise ValueError(f"base must be a RegressionPrediction; got {type(base).__name__}.")
        x, r = check_map(pit_knots, level_knots)
        law = Recalibrated(base._law(), base.mean, base.std(), x, r)
        shift, ratio = law.moment_correction()
        return cls(
            mean=np.asarray(base.mean) + shift,
            aleatoric=np.asarray(base.aleatoric) * ratio,
            epistemic=np.asarray(base.epistemic) * ratio,
            distribution="recalibrated",
            base=base,
            pit_knots=x,
            level_knots=r,
        )

    # ------------------------------------------------------------------ basic views
    @property
    def total(self) -> np.ndarray:
        """Total predictive variance, ``aleatoric + epistemic``."""
        return self.aleatoric + self.epistemic

    @property
    def n_members(self) -> int:
        """Number of mixture components (1 when the prediction is not a mixture)."""
        if self.base is not None:
            return self.base.n_members
        return 1 if self.member_means is None else int(self.member_means.shape[0])

    def std(self) -> np.ndarray:
        """Total predictive standard deviation."""
        return np.sqrt(self.total)

    def __len__(self) -> int:
        return int(np.shape(self.mean)[0])

    def _select(
        self, per_sample: Callable, per_member: Callable, labels: Any = None
    ) -> RegressionPrediction:
        """Apply ``per_sample`` to the per-row fields and ``per_member`` to the member fields;
        ``labels`` replaces :attr:`index` (None: rows were selected and have no labels given)."""
        changes = {"index": labels}
        for name in self._per_sample_fields:
            value = getattr(self, name)
            if value is not None:
                changes[name] = per_sample(np.asarray(value))
        for name in self._member_fields:
            value = getattr(self, name)
            if value is not None:
                changes[name] = per_member(value)
        if self.base is not None:
            changes["base"] = self.base._select(per_sample, per_member, labels)
        return replace(self, **changes)

    def __getitem__(self, index) -> RegressionPrediction:
        """Rows ``index`` of the prediction (the member axis is kept)."""
        labels = _rows_of_labels(self.index, index, np.shape(np.asarray(self.mean)[index]))
        return self._select(lambda v: v[index], lambda v: v[:, index], labels)

    def output(self, index: int) -> RegressionPrediction:
        """The single-output prediction of output column ``index`` of an (n, d) prediction.

        Examples
        --------
        >>> import numpy as np
        >>> pred = RegressionPrediction.normal(np.zeros((4, 2)), np.ones((4, 2)))
        >>> pred.output(1).mean.shape
        (4,)
        """
        if np.ndim(self.mean) != 2:
            raise ValueError(f"output() needs an (n, d) prediction; got {np.shape(self.mean)}.")
        return self._select(lambda v: v[:, index], lambda v: v[:, :, index], self.index)

    def rescale(self, scale, shift) -> RegressionPrediction:
        """The prediction of ``shift + scale * Y``: used to return to the user's units.

        Parameters
        ----------
        scale, shift : float or ndarray of shape (d,)
            Positive scale and shift, per output column for multi-output predictions.

        Examples
        --------
        >>> pred = RegressionPrediction.normal([0.0], [1.0]).rescale(2.0, 5.0)
        >>> pred.mean, pred.total
        (array([5.]), array([4.]))
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
        if self.base is not None:  # an increasing affine map keeps the recalibration map
            changes["base"] = self.base.rescale(scale, shift)
        return replace(self, **changes)

    def as_normal(self) -> RegressionPrediction:
        """Moment-matched Gaussian ``N(mean, total)`` with the same variance split.

        Deep ensembles report the NLL of this Gaussian (Lakshminarayanan et al., 2017, Sec. 2.4).
        """
        normal = RegressionPrediction.normal(self.mean, self.aleatoric, self.epistemic)
        return replace(normal, index=self.index)

    # ------------------------------------------------------------------ distribution
    def _law(self):
        """The distribution object of ``distribution`` (see the family modules)."""
        if self.distribution == "normal":
            return Normal(self.mean, self.total)
        if self.distribution == "mixture":
            return GaussianMixture(self.member_means, self.member_vars, self.weights)
        if self.distribution == "student_t":
            return StudentT(self.mean, self.scale, self.df)
        if self.distribution == "ggd":
            return GeneralizedGaussian(self.mean, self.scale, self.shape)
        base = self.base
        return Recalibrated(base._law(), base.mean, base.std(), self.pit_knots, self.level_knots)

    def check_targets(self, y) -> np.ndarray:
        """``y`` as a float array shaped like ``mean``, or an ``InvalidInputError``.

        A column vector ``(n, 1)`` is accepted for a ``(n,)`` prediction and the other way round;
        NaN and infinite values are rejected.

        Examples
        --------
        >>> RegressionPrediction.normal([0.0, 1.0], [1.0, 1.0]).check_targets([[2.0], [3.0]])
        array([2., 3.])
        """
        return align_targets(y, np.shape(self.mean))

    def cdf(self, y) -> np.ndarray:
        """Predictive CDF evaluated at ``y`` (same shape as ``mean``)."""
        return self._law().cdf(self.check_targets(y))

    def log_prob(self, y) -> np.ndarray:
        """Log predictive density of ``y``, elementwise."""
        return self._law().log_prob(self.check_targets(y))

    def nll(self, y, reduction: str = "mean"):
        """Negative log-likelihood of ``y`` under the predictive distribution.

        Parameters
        ----------
        y : array-like, same shape as ``mean``
            Observed targets.
        reduction : {"mean", "sum", "none"}
            How to reduce the elementwise values.
        """
        values = self.log_prob(y)
        return reduce_values(np.negative(values, out=values), reduction)

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

        Examples
        --------
        >>> RegressionPrediction.normal([0.0], [1.0]).quantile([0.5, 0.975]).round(3)
        array([[0.  ],
               [1.96]])
        """
        q_arr = np.asarray(q, dtype=np.float64)
        if np.any((q_arr <= 0) | (q_arr >= 1)):
            raise InvalidInputError(f"quantile levels must lie in (0, 1); got {q}.")
        values = self._law().quantile(q_arr.reshape(-1))
        return values[0] if q_arr.ndim == 0 else values

    def interval(
        self, alpha=0.1, *, coverage=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``1 - alpha`` interval(s) of the predictive distribution: ``(lower, upper)``.

        Parameters
        ----------
        alpha : float or sequence of float in (0, 0.5], default 0.1
            Miscoverage: 0.1 gives a 90% interval. A value above 0.5 raises
            ``InvalidInputError`` (``interval(0.9)`` is almost always a 90% interval misread).
            A sequence asks for several levels at once; every one is checked.
        coverage : float or sequence of float in (0, 1), optional
            The nominal coverage(s) instead of ``alpha``; the way to ask for intervals below 50%.

        Returns
        -------
        lower, upper : ndarray
            The shape of ``mean`` for one level; ``(n, k)`` (``(n, d, k)`` for an (n, d)
            prediction) for ``k`` levels, the last axis in the order the levels were given.
            Each column equals the interval of that level asked for alone.

        Examples
        --------
        >>> pred = RegressionPrediction.normal([0.0], [1.0])
        >>> lower, upper = pred.interval([0.2, 0.1])
        >>> upper.round(3), upper.shape
        (array([[1.282, 1.645]]), (1, 2))
        """
        alpha = check_miscoverages(alpha, coverage)
        levels = np.atleast_1d(alpha)
        k = len(levels)
        # one quantile call for every bound: lower bounds first, then upper bounds
        values = self._law().quantile(np.concatenate([levels / 2.0, 1.0 - levels / 2.0]))
        lower, upper = values[:k], values[k:]
        if np.ndim(alpha) == 0:
            return lower[0], upper[0]
        return np.moveaxis(lower, 0, -1), np.moveaxis(upper, 0, -1)

    def crps(self, y, reduction: str = "mean"):
        """Continuous ranked probability score of ``y`` (lower is better).

        Closed forms for the Gaussian (Gneiting & Raftery, JASA 2007), the Gaussian mixture
        (Grimit et al., QJRMS 2006) and the Student-t; quantile quadrature for the generalized
        Gaussian; the trapezoidal rule on a fine grid for a recalibrated prediction.
        """
        return reduce_values(self._law().crps(self.check_targets(y)), reduction)

    def to_frame(self, alpha=0.1, *, coverage=None, output_names=None):
        """A pandas DataFrame: mean, aleatoric, epistemic, total, std and the interval(s).

        The rows carry :attr:`index` (the index of the DataFrame predicted on) when there is
        one. Each level adds ``lower_<pct>``/``upper_<pct>`` columns (``lower_90`` for
        ``alpha=0.1``; ``lower_97.5`` for a level that is not a whole percent). Multi-output
        predictions get one group of columns per output, suffixed by ``output_names`` (the
        names of the target columns) or by the output number (``mean_0``, ...).

        Parameters
        ----------
        alpha : float or sequence of float in (0, 0.5], default 0.1
            Miscoverage(s) of the interval columns.
        coverage : float or sequence of float in (0, 1), optional
            Nominal coverage(s) instead of ``alpha``.
        output_names : sequence of str of length d, optional
            Names of the output columns of an (n, d) prediction.

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> pred = RegressionPrediction.normal([0.0, 1.0], [1.0, 1.0])
        >>> frame = pred.to_frame([0.2, 0.1])
        >>> list(frame.columns)[-4:]
        ['lower_80', 'upper_80', 'lower_90', 'upper_90']
        >>> from dataclasses import replace
        >>> replace(pred, index=pd.Index(["a", "b"], name="id")).to_frame().index.tolist()
        ['a', 'b']
        """
        import pandas as pd

        levels = np.atleast_1d(check_miscoverages(alpha, coverage))
        lower, upper = self.interval(levels)
        columns = {
            "mean": self.mean,
            "aleatoric": self.aleatoric,
            "epistemic": self.epistemic,
            "total": self.total,
            "std": self.std(),
        }
        for j, level in enumerate(levels):
            tag = f"{100 * (1 - level):.10g}"
            tag = str(round(float(tag))) if float(tag).is_integer() else tag
            columns[f"lower_{tag}"] = lower[..., j]
            columns[f"upper_{tag}"] = upper[..., j]
        index = self.index
        if np.ndim(self.mean) == 1:
            return pd.DataFrame(columns, index=index)
        d = np.shape(self.mean)[1]
        names = list(range(d)) if output_names is None else [str(n) for n in output_names]
        if len(names) != d:
            raise InvalidInputError(
                f"output_names has {len(names)} names for a prediction with {d} outputs."
            )
        data = {}
        for j, output in enumerate(names):
            for name, value in columns.items():
                data[f"{name}_{output}"] = value[:, j]
        return pd.DataFrame(data, index=index)

    def __repr__(self) -> str:
        base = "" if self.base is None else f", base={self.base.distribution!r}"
        return (
            f"RegressionPrediction(distribution={self.distribution!r}{base}, "
            f"shape={np.shape(self.mean)}, n_members={self.n_members}, "
            f"mean_aleatoric={_mean_or_none(self.aleatoric)}, "
            f"mean_epistemic={_mean_or_none(self.epistemic)})"
        )


def _mean_or_none(values: np.ndarray) -> str:
    """The mean for ``repr``, or "none" for an empty prediction (no NaN in a repr)."""
    return f"{np.mean(values):.4g}" if np.size(values) else "none"


def _rows_of_labels(labels, rows, shape) -> Any:
    """The row labels of ``prediction[rows]``; None when there are none or one row is taken."""
    if labels is None or len(shape) == 0:
        return None
    taken = labels[rows]
    return taken if np.ndim(taken) == 1 and len(taken) == shape[0] else None
