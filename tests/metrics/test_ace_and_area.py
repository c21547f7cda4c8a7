"""ACE against netcal, and the two variants of the miscalibration area against
uncertainty-toolbox and the relation between them."""

import numpy as np
import pytest

from uqkit.exceptions import InvalidInputError
from uqkit.metrics import (
    adaptive_calibration_error,
    expected_calibration_error,
    miscalibration_area,
)


def _probs(n_classes: int, n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = 2.5 * rng.normal(size=(n, n_classes))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    soft = np.sqrt(probs) / np.sqrt(probs).sum(1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(soft, axis=1)).sum(1)
    return probs, y


@pytest.mark.parametrize("n_bins", [5, 15])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_classwise_ace_equals_netcal_per_class(n_classes, n_bins):
    ACE = pytest.importorskip("netcal.metrics").ACE
    probs, y = _probs(n_classes)
    oracle = np.mean([ACE(bins=n_bins, equal_intervals=False).measure(probs[:, c],
                                                                      (y == c).astype(int))
                      for c in range(n_classes)])
    assert adaptive_calibration_error(probs, y, n_bins) == pytest.approx(oracle, abs=1e-10)


@pytest.mark.parametrize("n_bins", [5, 15])
def test_top_label_ace_equals_netcal(n_bins):
    ACE = pytest.importorskip("netcal.metrics").ACE
    probs, y = _probs(4, seed=1)
    oracle = ACE(bins=n_bins, equal_intervals=False).measure(probs, y)
    ours = adaptive_calibration_error(probs, y, n_bins, variant="top_label")
    assert ours == pytest.approx(oracle, abs=1e-10)
    # equal-mass ECE weights the same bins by their counts: nearly the same number
    ece = expected_calibration_error(probs, y, n_bins, binning="equal_mass")
    assert ece == pytest.approx(ours, abs=0.01)
    with pytest.raises(InvalidInputError, match="variant"):
        adaptive_calibration_error(probs, y, variant="adaptive")


def _regression(seed: int, n: int = 2000, bias: float = 0.0, spread: float = 1.6):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=n)
    std = rng.uniform(0.5, 1.5, size=n)
    y = mean + bias + spread * std * rng.normal(size=n)
    return mean, std, y


@pytest.mark.parametrize("variant", ["quantile", "interval"])
def test_variants_equal_uncertainty_toolbox(variant):
    uct = pytest.importorskip("uncertainty_toolbox")
    mean, std, y = _regression(0, bias=0.3)
    oracle = uct.metrics_calibration.miscalibration_area(mean, std, y, num_bins=2000,
                                                         prop_type=variant)
    ours = miscalibration_area((mean, std), y, variant=variant)
    assert ours == pytest.approx(oracle, abs=2e-3)  # the toolbox integrates on a grid


def test_interval_area_is_twice_the_quantile_area_for_symmetric_miscalibration():
    mean, std, y = _regression(1, n=1000)
    # mirror every target about its mean: the PIT values come in pairs u, 1 - u
    mean, std = np.r_[mean, mean], np.r_[std, std]
    y = np.r_[y, 2 * mean[:1000] - y]
    quantile = miscalibration_area((mean, std), y)
    interval = miscalibration_area((mean, std), y, variant="interval")
    assert quantile > 0.05
    assert interval == pytest.approx(2 * quantile, rel=1e-9)
    assert miscalibration_area((mean, std), y, variant="quantile") == quantile  # the default


def test_a_biased_model_breaks_the_factor_two():
    mean, std, y = _regression(2, bias=1.0, spread=1.0)
    quantile = miscalibration_area((mean, std), y)
    interval = miscalibration_area((mean, std), y, variant="interval")
    assert interval < 1.5 * quantile  # a central interval does not see the side of the bias
    with pytest.raises(InvalidInputError, match="variant"):
        miscalibration_area((mean, std), y, variant="central")
