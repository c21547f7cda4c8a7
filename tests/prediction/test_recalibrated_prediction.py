"""The recalibrated predictive distribution R(F(y)) of RegressionPrediction.recalibrated."""

import numpy as np
import pytest
from scipy import integrate, stats

from uqkit.prediction import RegressionPrediction


def test_the_identity_map_gives_the_base_prediction():
    rng = np.random.default_rng(0)
    base = RegressionPrediction.mixture(rng.normal(size=(3, 20)), rng.uniform(0.2, 1, (3, 20)))
    same = RegressionPrediction.recalibrated(base, [0.0, 1.0], [0.0, 1.0])
    y = rng.normal(size=20)
    np.testing.assert_allclose(same.cdf(y), base.cdf(y), atol=1e-12)
    np.testing.assert_allclose(same.log_prob(y), base.log_prob(y), atol=1e-12)
    np.testing.assert_allclose(same.quantile(0.3), base.quantile(0.3), atol=1e-12)
    np.testing.assert_allclose(same.mean, base.mean, atol=1e-12)
    np.testing.assert_allclose(same.total, base.total, rtol=1e-12)
    np.testing.assert_allclose(same.crps(y, "none"), base.crps(y, "none"), rtol=1e-3)


def test_recalibrated_distribution_is_consistent():
    base = RegressionPrediction.normal(np.array([0.5, -1.0]), np.array([1.0, 4.0]))
    knots, levels = np.array([0.0, 0.2, 0.7, 1.0]), np.array([0.0, 0.05, 0.9, 1.0])
    pred = RegressionPrediction.recalibrated(base, knots, levels)
    sd = np.sqrt(base.total)

    def quantile_function(v, i):
        return stats.norm.ppf(v, base.mean[i], sd[i])

    slopes = np.diff(levels) / np.diff(knots)
    for i in range(2):
        # moments: integrals of F^{-1}(v) R'(v) over each linear piece of R
        mean = sum(
            s * integrate.quad(quantile_function, a, b, args=(i,))[0]
            for s, a, b in zip(slopes, knots[:-1], knots[1:])
        )
        second = sum(
            s * integrate.quad(lambda v, i=i: quantile_function(v, i) ** 2, a, b)[0]
            for s, a, b in zip(slopes, knots[:-1], knots[1:])
        )
        assert pred.mean[i] == pytest.approx(mean, abs=2e-3)
        assert pred.total[i] == pytest.approx(second - mean**2, rel=5e-3)
        # the density integrates to one and is the derivative of the CDF
        row = pred[i : i + 1]
        density = integrate.quad(
            lambda t, row=row: np.exp(row.log_prob([t])[0]),
            -40,
            40,
            points=[quantile_function(v, i) for v in knots[1:-1]],
        )[0]
        assert density == pytest.approx(1.0, abs=1e-6)
    y = np.array([0.1, 0.3])
    eps = 1e-6
    numeric = (pred.cdf(y + eps) - pred.cdf(y - eps)) / (2 * eps)
    np.testing.assert_allclose(np.exp(pred.log_prob(y)), numeric, rtol=1e-5)
    np.testing.assert_allclose(pred.cdf(pred.quantile(0.42)), 0.42, atol=1e-12)
    # slicing and rescaling carry the base along
    np.testing.assert_allclose(pred[1:].cdf(y[1:]), pred.cdf(y)[1:])
    scaled = pred.rescale(2.0, 3.0)
    np.testing.assert_allclose(scaled.cdf(3.0 + 2.0 * y), pred.cdf(y), atol=1e-12)
    np.testing.assert_allclose(scaled.total, 4.0 * pred.total)


def test_recalibrated_mixture_keeps_its_members_through_views():
    rng = np.random.default_rng(4)
    base = RegressionPrediction.mixture(rng.normal(size=(3, 8)), rng.uniform(0.3, 1.0, (3, 8)))
    pred = RegressionPrediction.recalibrated(base, [0.0, 0.5, 1.0], [0.0, 0.3, 1.0])
    assert pred.distribution == "recalibrated" and pred.n_members == 3
    y = rng.normal(size=8)
    expected = np.interp(base.cdf(y), [0.0, 0.5, 1.0], [0.0, 0.3, 1.0])
    np.testing.assert_allclose(pred.cdf(y), expected, atol=1e-15)
    rows = pred[2:5]
    assert rows.base.member_means.shape == (3, 3)
    np.testing.assert_allclose(rows.cdf(y[2:5]), expected[2:5], atol=1e-15)
    q = pred.quantile([0.1, 0.3, 0.9])
    assert q.shape == (3, 8)
    np.testing.assert_allclose(pred.cdf(q[1]), 0.3, atol=1e-10)


def test_a_column_of_a_multi_output_recalibration():
    base = RegressionPrediction.normal(np.zeros((4, 2)), np.ones((4, 2)))
    pred = RegressionPrediction.recalibrated(base, [0.0, 0.5, 1.0], [0.0, 0.2, 1.0])
    column = pred.output(1)
    assert column.mean.shape == column.base.mean.shape == (4,)
    np.testing.assert_allclose(column.cdf(np.full(4, 0.3)), pred.cdf(np.full((4, 2), 0.3))[:, 1])


@pytest.mark.parametrize(
    ("knots", "levels", "message"),
    [
        ([0.0, 1.0], [0.0, 0.9], "from \\(0, 0\\) to \\(1, 1\\)"),
        ([0.0, 0.5, 0.5, 1.0], [0.0, 0.2, 0.4, 1.0], "strictly increasing"),
        ([0.0, 1.0], [0.0, 0.5, 1.0], "one length"),
    ],
)
def test_a_bad_map_is_rejected(knots, levels, message):
    base = RegressionPrediction.normal(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match=message):
        RegressionPrediction.recalibrated(base, knots, levels)
