"""Regression metrics against netcal, scipy/sklearn references, closed forms and brute force."""

import numpy as np
import pytest
from netcal.metrics import ENCE, NLL, PICP, QCE, UCE
from scipy import integrate, stats
from sklearn.metrics import mean_pinball_loss

from uqkit.exceptions import InvalidInputError
from uqkit.metrics import (
    DEFAULT_QUANTILES,
    binned_error_vs_std,
    calibration_curve,
    coverage,
    crps,
    ence,
    error_std_correlation,
    miscalibration_area,
    nll,
    pinball_loss,
    pit,
    quantile_calibration_error,
    regression_metrics,
    regression_nll,
    sharpness,
    uce,
)
from uqkit.prediction import RegressionPrediction


def _scalar(value) -> float:
    """netcal returns per-dimension arrays; one output here."""
    return float(np.ravel(value)[0])


@pytest.fixture(scope="module")
def gaussian():
    """A heteroscedastic Gaussian model that is over-confident by 30%."""
    rng = np.random.default_rng(0)
    mean = rng.normal(size=3000)
    std = np.exp(0.5 * rng.normal(size=3000))
    y = mean + 1.3 * std * rng.normal(size=3000)
    return mean, std, y


@pytest.fixture(scope="module")
def mixture():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(4, 400))
    variances = rng.uniform(0.2, 1.5, size=(4, 400))
    pred = RegressionPrediction.mixture(means, variances, weights=[0.1, 0.2, 0.3, 0.4])
    return pred, means[3] + rng.normal(size=400)


# ------------------------------------------------------------------------------ against netcal
def test_nll_matches_netcal_and_scipy(gaussian):
    mean, std, y = gaussian
    ours = regression_nll((mean, std), y)
    assert ours == pytest.approx(_scalar(NLL().measure((mean, std), y)), rel=1e-12)
    assert ours == pytest.approx(-np.mean(stats.norm.logpdf(y, mean, std)), rel=1e-12)
    assert nll((mean, std), y) == ours


def test_coverage_matches_netcal_picp(gaussian):
    mean, std, y = gaussian
    levels = np.array([0.3, 0.5, 0.8, 0.9, 0.95])
    ours = coverage((mean, std), y, levels)
    theirs = PICP(bins=10).measure((mean, std), y, q=levels, reduction="none")
    np.testing.assert_allclose(ours.coverage, np.ravel(theirs.picp), atol=1e-12)
    np.testing.assert_allclose(ours.width, np.ravel(theirs.mpiw), rtol=1e-12)


@pytest.mark.parametrize("n_bins", [None, 5, 10])
def test_qce_matches_netcal(gaussian, n_bins):
    mean, std, y = gaussian
    levels = np.asarray(DEFAULT_QUANTILES)
    ours = quantile_calibration_error((mean, std), y, levels, n_bins=n_bins)
    metric = QCE(bins=n_bins or 10, marginal=n_bins is None)
    assert ours == pytest.approx(_scalar(metric.measure((mean, std), y, q=levels)), abs=1e-12)


@pytest.mark.parametrize("n_bins", [5, 10, 20])
def test_ence_and_uce_match_netcal(gaussian, n_bins):
    mean, std, y = gaussian
    assert ence((mean, std), y, n_bins) == pytest.approx(
        _scalar(ENCE(bins=n_bins).measure((mean, std), y)), rel=1e-12
    )
    assert uce((mean, std), y, n_bins) == pytest.approx(
        _scalar(UCE(bins=n_bins).measure((mean, std), y)), rel=1e-12
    )


# ------------------------------------------------------------------------------ references
def test_pinball_matches_sklearn_per_level(gaussian):
    mean, std, y = gaussian
    levels = [0.05, 0.5, 0.9]
    expected = np.mean(
        [mean_pinball_loss(y, stats.norm.ppf(q, mean, std), alpha=q) for q in levels]
    )
    assert pinball_loss((mean, std), y, levels) == pytest.approx(expected, rel=1e-12)


def test_pinball_over_a_fine_grid_is_half_the_crps(mixture):
    pred, y = mixture
    pred, y = pred[:100], y[:100]
    levels = (np.arange(1000) + 0.5) / 1000
    assert 2 * pinball_loss(pred, y, levels) == pytest.approx(crps(pred, y), rel=2e-3)


def test_gaussian_crps_against_numerical_integral():
    y, mean, std = 0.7, 0.2, 1.3

    def integrand(x):
        return (stats.norm.cdf(x, mean, std) - (x >= y)) ** 2

    expected = integrate.quad(integrand, -30, y)[0] + integrate.quad(integrand, y, 30)[0]
    assert crps((np.array([mean]), np.array([std])), [y]) == pytest.approx(expected, rel=1e-7)


def test_vectorized_mixture_quantiles_match_one_level_at_a_time(mixture):
    pred, _ = mixture
    levels = np.array([0.01, 0.2, 0.5, 0.77, 0.99])
    expected = np.stack([pred.quantile(float(q)) for q in levels])
    np.testing.assert_allclose(pred.quantile(levels), expected, atol=1e-12)
    np.testing.assert_allclose(pred.cdf(pred.quantile(0.77)), 0.77, atol=1e-12)


def test_coverage_of_other_families_by_brute_force(mixture):
    rng = np.random.default_rng(3)
    student = RegressionPrediction.student_t(
        rng.normal(size=300), np.full(300, 0.8), np.full(300, 3.5), np.ones(300), np.zeros(300)
    )
    cases = [mixture, (student, rng.standard_t(3.5, size=300))]
    for pred, y in cases:
        levels = np.array([0.5, 0.9])
        result = coverage(pred, y, levels)
        for level, observed, width in zip(levels, result.coverage, result.width):
            lower, upper = pred.interval(1 - level)
            assert observed == pytest.approx(np.mean((y >= lower) & (y <= upper)), abs=1e-12)
            assert width == pytest.approx(np.mean(upper - lower), rel=1e-9)


def test_nll_of_mixture_and_student_t_are_exact(mixture):
    pred, y = mixture
    density = sum(
        w * stats.norm.pdf(y, m, np.sqrt(v))
        for w, m, v in zip(pred.weights, pred.member_means, pred.member_vars)
    )
    assert regression_nll(pred, y) == pytest.approx(-np.mean(np.log(density)), rel=1e-12)
    student = RegressionPrediction.student_t([0.5], [2.0], [4.0], [2.0], [0.0])
    assert regression_nll(student, [1.0]) == pytest.approx(-stats.t.logpdf(1.0, 4.0, 0.5, 2.0))


def test_calibration_curve_brute_force(mixture):
    pred, y = mixture
    levels = np.array([0.1, 0.4, 0.6, 0.95])
    expected, observed = calibration_curve(pred, y, levels)
    np.testing.assert_array_equal(expected, levels)
    cdf = pred.cdf(y)
    np.testing.assert_allclose(observed, [np.mean(cdf <= p) for p in levels])
    _, interval = calibration_curve(pred, y, levels, kind="interval")
    np.testing.assert_allclose(interval, coverage(pred, y, levels).coverage)


def test_miscalibration_area_exact_against_a_fine_grid(gaussian):
    mean, std, y = gaussian
    u = np.sort(pit((mean, std), y))
    grid = (np.arange(200_000) + 0.5) / 200_000
    empirical = np.searchsorted(u, grid, side="right") / len(u)
    assert miscalibration_area((mean, std), y) == pytest.approx(
        np.mean(np.abs(empirical - grid)), abs=1e-5
    )


def test_binned_metrics_with_equal_mass_bins_by_brute_force(gaussian):
    mean, std, y = gaussian
    rmv, rmse, counts = binned_error_vs_std((mean, std), y, n_bins=4)
    edges = np.quantile(std, [0, 0.25, 0.5, 0.75, 1])
    for b in range(4):
        inside = (std >= edges[b]) & ((std < edges[b + 1]) if b < 3 else (std <= edges[b + 1]))
        assert counts[b] == inside.sum()
        assert rmv[b] == pytest.approx(np.sqrt(np.mean(std[inside] ** 2)))
        assert rmse[b] == pytest.approx(np.sqrt(np.mean((y - mean)[inside] ** 2)))
    expected = np.mean(np.abs(rmv - rmse) / rmv)
    assert ence((mean, std), y, 4, binning="equal_mass") == pytest.approx(expected)


def test_sharpness_and_correlation(gaussian):
    mean, std, y = gaussian
    assert sharpness((mean, std)) == pytest.approx(np.sqrt(np.mean(std**2)))
    error = np.abs(y - mean)
    assert error_std_correlation((mean, std), y) == pytest.approx(
        stats.spearmanr(error, std).statistic
    )
    assert error_std_correlation((mean, std), y, method="pearson") == pytest.approx(
        stats.pearsonr(error, std).statistic
    )


# ------------------------------------------------------------------------------ behaviour
def test_calibrated_model_has_nominal_coverage_and_small_errors():
    rng = np.random.default_rng(5)
    mean, std = rng.normal(size=20_000), np.exp(rng.normal(size=20_000) * 0.4)
    y = mean + std * rng.normal(size=20_000)
    result = coverage((mean, std), y, [0.5, 0.9])
    se = np.sqrt(0.25 / 20_000)
    np.testing.assert_allclose(result.coverage, [0.5, 0.9], atol=4 * se)
    assert quantile_calibration_error((mean, std), y) < 0.01
    assert miscalibration_area((mean, std), y) < 0.01
    # equal-width bins leave a few samples in the top std bins (noisy); equal mass does not
    assert ence((mean, std), y, binning="equal_mass") < 0.05
    # the same std, but the truth is twice as noisy: clearly over-confident
    noisy = mean + 2 * std * rng.normal(size=20_000)
    assert coverage((mean, std), noisy, [0.9]).coverage[0] < 0.65
    assert miscalibration_area((mean, std), noisy) > 0.1


def test_hand_computed_values():
    mean, std = np.zeros(4), np.ones(4)
    y = np.array([0.1, -0.5, 1.0, 3.0])
    assert coverage((mean, std), y, [0.9]).coverage[0] == 0.75
    assert miscalibration_area((np.zeros(1), np.ones(1)), [0.0]) == pytest.approx(0.25)
    assert uce((mean, std), np.array([2.0, -2.0, 2.0, -2.0]), 1) == pytest.approx(3.0)
    assert ence((mean, 2 * std), np.array([1.0, -1.0, 1.0, -1.0]), 1) == pytest.approx(0.5)
    assert pinball_loss((np.zeros(1), np.ones(1)), [1.0], [0.5]) == pytest.approx(0.5)


def test_multi_output_pools_or_averages_per_output(gaussian):
    mean, std, y = gaussian
    m2, s2, y2 = mean.reshape(-1, 2), std.reshape(-1, 2), y.reshape(-1, 2)
    assert coverage((m2, s2), y2, [0.9]).coverage[0] == coverage((mean, std), y, [0.9]).coverage[0]
    per_output = [ence((m2[:, j], s2[:, j]), y2[:, j]) for j in range(2)]
    assert ence((m2, s2), y2) == pytest.approx(np.mean(per_output))
    assert regression_nll((m2, s2), y2) == pytest.approx(regression_nll((mean, std), y))


def test_regression_metrics_collects_everything(mixture):
    pred, y = mixture
    metrics = regression_metrics(pred, y)
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["nll"] == pytest.approx(regression_nll(pred, y))
    assert metrics["nll_gaussian"] == pytest.approx(regression_nll(pred.as_normal(), y))
    assert metrics["coverage_90"] == coverage(pred, y, [0.9]).coverage[0]
    assert metrics["mean_epistemic"] == pytest.approx(np.mean(pred.epistemic))
    assert {"qce", "qce_binned", "ence", "uce", "miscalibration_area", "pinball"} <= set(metrics)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("pred", "y", "message"),
    [
        ((np.zeros(3), np.ones(3)), np.zeros(4), "3 rows"),
        ((np.zeros(3), np.ones(3)), [0.0, np.nan, 1.0], "NaN"),
        ((np.array([0.0, np.nan, 1.0]), np.ones(3)), np.zeros(3), "NaN"),
        ((np.zeros(3), np.array([1.0, 0.0, 1.0])), np.zeros(3), "positive"),
        ((np.zeros(3), np.ones(2)), np.zeros(3), "same shape"),
        ((np.zeros(3),), np.zeros(3), "pair"),
        (np.zeros(3), np.zeros(3), "RegressionPrediction"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(pred, y, message):
    with pytest.raises(InvalidInputError, match=message):
        regression_nll(pred, y)


def test_bad_levels_and_bins():
    pred, y = (np.zeros(3), np.ones(3)), np.zeros(3)
    with pytest.raises(InvalidInputError, match="open interval"):
        coverage(pred, y, [0.9, 1.0])
    with pytest.raises(InvalidInputError, match="n_bins"):
        ence(pred, y, 0)
    with pytest.raises(InvalidInputError, match="binning"):
        ence(pred, y, 3, binning="quantile")
    with pytest.raises(InvalidInputError, match="kind"):
        calibration_curve(pred, y, kind="both")
