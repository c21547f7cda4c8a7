"""Typed predictions with uncertainty, shared by every uqkit estimator.

A regressor returns a :class:`RegressionPrediction`, a classifier a
:class:`ClassificationPrediction`. Both keep the member axis explicit
(``(n_members, n_samples, ...)``) when the prediction comes from several models, and both split the
predictive uncertainty into an aleatoric part (noise in the data) and an epistemic part
(disagreement between plausible models).

The predictive families of a regression prediction live in their own modules: the Gaussian
(``_normal``), the Gaussian mixture of an ensemble (``_mixture``, with the one quantile bisection),
the Student-t (``_student_t``), the generalized Gaussian (``_ggd``) and a distribution recalibrated
by a monotone map of its CDF (``_recalibrated``).

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

from uqkit.prediction._arrays import check_miscoverage, check_miscoverages, reduce_values
from uqkit.prediction._classification import ClassificationPrediction
from uqkit.prediction._regression import RegressionPrediction

__all__ = [
    "ClassificationPrediction",
    "RegressionPrediction",
    "check_miscoverage",
    "check_miscoverages",
    "reduce_values",
]
