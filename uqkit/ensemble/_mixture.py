"""From the members' raw outputs to the ensemble's prediction, shared by every ensemble.

Deep ensembles (uniform weights) and AutoDEUQ (selection weights) predict the same way: each
member's Gaussian (or categorical) is read off its raw output, and the ensemble predicts their
weighted mixture (Lakshminarayanan et al., 2017, Sec. 2.4; Egele et al., 2022, Eq. 4), in the
user's units.
"""

from __future__ import annotations

import numpy as np
import torch

from uqkit.nn import gaussian_head
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.training import check_prediction

__all__ = ["CategoricalMixtureMixin", "GaussianMixtureMixin"]


class GaussianMixtureMixin:
    """For regressors with :class:`~uqkit.training.RegressionTargets`: member outputs
    ``(k, n, 2d)`` (means, then raw variances) become the mixture of the member Gaussians.

    Examples
    --------
    A one-member "ensemble" whose targets were standardised with mean 10 and scale 2:

    >>> from uqkit.training import RegressionTargets
    >>> class Demo(GaussianMixtureMixin, RegressionTargets):
    ...     pass
    >>> demo = Demo()
    >>> demo.y_mean_, demo.y_scale_, demo.single_output_ = np.array([10.0]), np.array([2.0]), True
    >>> raw = torch.tensor([[[0.5, 20.0]]], dtype=torch.float64)  # mean 0.5, variance ~20
    >>> pred = demo._mixture_prediction(raw, min_variance=0.0)
    >>> pred.distribution, pred.mean.tolist(), pred.epistemic.tolist()
    ('mixture', [11.0], [0.0])
    """

    def _mixture_prediction(self, raw: torch.Tensor, min_variance: float,
                            weights: np.ndarray | None = None) -> RegressionPrediction:
        """The (weighted) mixture of the members' Gaussians, in y's units.

        Parameters
        ----------
        raw : Tensor of shape (n_members, n_samples, 2 * n_targets)
            Raw member outputs on standardised targets (float64, CPU).
        min_variance : float
            Variance floor of the Gaussian head (standardised units).
        weights : ndarray of shape (n_members,), optional
            Mixture weights; equal weights when omitted.

        Returns
        -------
        RegressionPrediction
            ``distribution="mixture"`` with ``member_means``/``member_vars`` of shape
            ``(n_members, n_samples)`` (``(..., n_targets)`` for multi-output y).
        """
        mean, var = gaussian_head(raw, min_variance)
        mean, var, scale, shift = self._target_units(mean.numpy(), var.numpy())
        prediction = RegressionPrediction.mixture(mean, var, weights).rescale(scale, shift)
        return check_prediction(prediction, type(self).__name__)


class CategoricalMixtureMixin:
    """For classifiers with :class:`~uqkit.training.ClassificationTargets`: member logits
    ``(k, n, C)`` become the mixture of the member categoricals, ``p = sum_i w_i p_i``."""

    def _mixture_prediction(self, raw: torch.Tensor,
                            weights: np.ndarray | None = None) -> ClassificationPrediction:
        """The (weighted) mixture of the members' softmax probabilities.

        Returns
        -------
        ClassificationPrediction
            ``probs`` (n, C) and ``member_probs`` (n_members, n, C), columns as ``classes_``.
        """
        member_probs = torch.softmax(raw, dim=-1).numpy()
        prediction = ClassificationPrediction.from_members(member_probs, weights=weights,
                                                           classes=self.classes_)
        return check_prediction(prediction, type(self).__name__)
