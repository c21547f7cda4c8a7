"""Metrics of an isotonic-recalibrated prediction use the recalibrated distribution, exactly.

Regression test for a bug: the recalibrated prediction carried ``distribution="normal"``, so
``regression_nll``, ``coverage``, ``pit`` and the QCE took the closed-form Gaussian shortcut of its
moments (on this Student-t(3) example the NLL read 1.92 instead of the exact 2.29). Every value
below is recomputed from the map ``R`` and the base Gaussian ``F`` alone, without uqkit.
"""

import numpy as np
import pytest
from scipy import stats

from uqkit.calibration import IsotonicCalibration
from uqkit.metrics import (
    coverage,
    crps,
    miscalibration_area,
    pit,
    quantile_calibration_error,
    regression_metrics,
    regression_nll,
)
from uqkit.prediction import RegressionPrediction

LEVELS = np.array([0.2, 0.5, 0.8, 0.9, 0.95])


@pytest.fixture(scope="module")
def student_t_case():
    """A N(0, 1) forecast recalibrated on Student-t(3) truth, and fresh Student-t(3) targets."""
    rng = np.random.default_rng(0)
    iso = IsotonicCalibration().fit_prediction(
        (np.zeros(3000), np.ones(3000)), rng.standard_t(3, 3000)
    )
    base = RegressionPrediction.normal(np.zeros(400), np.ones(400))
    pred = iso.calibrate(base)
    return pred, rng.standard_t(3, 400), iso.pit_knots_, iso.level_knots_


def _slope(u, knots, levels):
    """R'(u) of the piecewise-linear map, segment by segment."""
    out = np.empty_like(u)
    for i, value in enumerate(u):
        j = max(k for k in range(len(knots) - 1) if knots[k] <= value)
        out[i] = (levels[j + 1] - levels[j]) / (knots[j + 1] - knots[j])
    return out


def _interval(level, knots, levels):
    """Central interval of R∘Φ: Φ^{-1}(R^{-1}(q)) at both tails."""
    low, high = np.interp([0.5 - level / 2, 0.5 + level / 2], levels, knots)
    return stats.norm.ppf(low), stats.norm.ppf(high)


def test_the_prediction_names_its_own_distribution(student_t_case):
    pred, *_ = student_t_case
    assert pred.distribution == "recalibrated"
    assert pred.base.distribution == "normal"


def test_nll_is_the_exact_recalibrated_density(student_t_case):
    pred, y, knots, levels = student_t_case
    # density of G = R∘Φ: R'(Φ(y)) φ(y)
    exact = -np.mean(np.log(_slope(stats.norm.cdf(y), knots, levels)) + stats.norm.logpdf(y))
    assert pred.nll(y) == pytest.approx(exact, rel=1e-12)
    assert regression_nll(pred, y) == pytest.approx(exact, rel=1e-12)
    assert regression_metrics(pred, y)["nll"] == pytest.approx(exact, rel=1e-12)
    # the moment-matched Gaussian is a different number: the shortcut would be visible
    assert abs(regression_nll(pred.as_normal(), y) - exact) > 0.05


def test_pit_and_miscalibration_area_use_the_recalibrated_cdf(student_t_case):
    pred, y, knots, levels = student_t_case
    u = np.interp(stats.norm.cdf(y), knots, levels)
    np.testing.assert_allclose(pit(pred, y), u, atol=1e-14)
    grid = (np.arange(100_000) + 0.5) / 100_000
    empirical = np.searchsorted(np.sort(u), grid, side="right") / len(u)
    expected = np.mean(np.abs(empirical - grid))
    assert miscalibration_area(pred, y) == pytest.approx(expected, abs=1e-5)


def test_coverage_and_qce_use_the_recalibrated_intervals(student_t_case):
    pred, y, knots, levels = student_t_case
    observed, widths = [], []
    for level in LEVELS:
        lower, upper = _interval(level, knots, levels)
        observed.append(np.mean((y >= lower) & (y <= upper)))
        widths.append(upper - lower)
    result = coverage(pred, y, LEVELS)
    np.testing.assert_allclose(result.coverage, observed, atol=1e-12)
    np.testing.assert_allclose(result.width, widths, rtol=1e-9)
    qce = np.mean(np.abs(np.array(observed) - LEVELS))
    assert quantile_calibration_error(pred, y, LEVELS) == pytest.approx(qce, abs=1e-12)


def test_crps_integrates_the_recalibrated_cdf(student_t_case):
    pred, y, knots, levels = student_t_case

    def squared_gap(t, target):
        return (np.interp(stats.norm.cdf(t), knots, levels) - (t >= target)) ** 2

    values = pred.crps(y, reduction="none")
    for i in range(0, 400, 80):
        # a fine trapezoidal rule on each side of the jump of the indicator at y
        below, above = np.linspace(-40, y[i], 200_001), np.linspace(y[i], 40, 200_001)
        expected = np.trapezoid(squared_gap(below, np.inf), below) + np.trapezoid(
            squared_gap(above, -np.inf), above
        )
        assert values[i] == pytest.approx(expected, rel=1e-3)  # the grid has ~770 points
    assert crps(pred, y) == pytest.approx(pred.crps(y), rel=1e-12)
