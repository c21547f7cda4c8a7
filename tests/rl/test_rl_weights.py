"""BIV / BIEV weights, the xi search and the bias-corrected kurtosis."""

import numpy as np
import pytest
import torch
from scipy import stats

from uqkit.exceptions import InvalidInputError
from uqkit.losses import (
    biev_variance,
    biev_weights,
    biv_weights,
    effective_batch_size,
    find_xi,
    sample_excess_kurtosis,
)


def _heteroscedastic(batch, seed):
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(0.0, 3.0, batch))  # variances spanning many orders of magnitude


@pytest.mark.parametrize("batch", [2, 5, 17, 64, 256])
@pytest.mark.parametrize("min_batch_size", [1, 16, 32])
def test_biv_weights_sum_to_one_and_meet_the_bound(batch, min_batch_size):
    variance = _heteroscedastic(batch, batch + min_batch_size)
    w = biv_weights(variance, min_batch_size)
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    assert bool(torch.all(w > 0))
    bound = min(batch - 1, min_batch_size)
    assert float(effective_batch_size(w)) >= bound * (1 - 1e-9)


def test_xi_is_the_smallest_that_meets_the_bound():
    variance = _heteroscedastic(64, 3)
    xi = find_xi(variance, 16)
    assert xi > 0

    def ess(x):
        inverse = 1.0 / (variance + x)
        return inverse.sum() ** 2 / np.square(inverse).sum()

    assert ess(xi) >= 16 - 1e-9
    assert ess(xi * (1 - 1e-6)) < 16  # any smaller xi breaks the bound
    # ESS is non-decreasing in xi
    grid = np.geomspace(1e-6, 1e6, 200) * np.median(variance)
    values = np.array([ess(x) for x in grid])
    assert np.all(np.diff(values) >= -1e-9)


def test_plain_inverse_variance_when_already_diverse_enough():
    variance = np.array([1.0, 2.0, 4.0, 1.5])
    assert find_xi(variance, 2) == 0.0
    w = biv_weights(variance, 2).numpy()
    np.testing.assert_allclose(w, (1 / variance) / np.sum(1 / variance))


def test_equal_and_zero_variances_give_uniform_weights():
    np.testing.assert_allclose(biv_weights(np.zeros(8)).numpy(), np.full(8, 1 / 8))
    np.testing.assert_allclose(biv_weights(np.full(8, 3.0)).numpy(), np.full(8, 1 / 8))


def test_one_near_certain_sample_cannot_take_the_batch():
    variance = np.ones(32)
    variance[0] = 1e-9
    w = biv_weights(variance, 16)
    assert float(w[0]) < 0.25
    assert float(effective_batch_size(w)) >= 16 - 1e-9


def test_weights_follow_tensor_dtype_and_reject_bad_input():
    w = biv_weights(torch.tensor([1.0, 2.0], dtype=torch.float32))
    assert w.dtype == torch.float32
    with pytest.raises(InvalidInputError, match="non-negative"):
        biv_weights([1.0, -1.0])
    with pytest.raises(InvalidInputError, match="NaN"):
        biv_weights([1.0, np.nan])


@pytest.mark.parametrize("n", [4, 5, 8, 30])
def test_kurtosis_matches_scipy_bias_false(n):
    rng = np.random.default_rng(n)
    x = rng.standard_t(5, size=(n, 40))
    ours = sample_excess_kurtosis(torch.tensor(x), dim=0).numpy()
    np.testing.assert_allclose(ours, stats.kurtosis(x, axis=0, bias=False), rtol=1e-10)
    ours_last = sample_excess_kurtosis(x.T, dim=1).numpy()
    np.testing.assert_allclose(ours_last, ours, rtol=1e-12)


def test_kurtosis_needs_four_samples_and_is_zero_for_constants():
    with pytest.raises(InvalidInputError, match="at least 4"):
        sample_excess_kurtosis(np.zeros((3, 2)))
    assert float(sample_excess_kurtosis(np.ones((5, 1)))[0]) == 0.0


def test_biev_variance_formula():
    rng = np.random.default_rng(7)
    n = 5
    errors = rng.laplace(size=(n, 64))
    kappa = stats.kurtosis(errors, axis=0, bias=False)
    expected = np.var(errors, axis=0, ddof=0) / (kappa / n + (n + 1) / (n - 1))
    np.testing.assert_allclose(biev_variance(torch.tensor(errors)).numpy(), expected, rtol=1e-10)


def test_biev_weights_downweight_disagreeing_samples():
    rng = np.random.default_rng(3)
    errors = rng.normal(0, 0.1, size=(5, 64))
    errors[:, :8] += rng.normal(0, 5.0, size=(5, 8))  # members disagree on the first 8 samples
    w = biev_weights(torch.tensor(errors), 16).numpy()
    assert w.sum() == pytest.approx(1.0)
    assert w[:8].max() < w[8:].min()
    assert 1.0 / np.sum(w**2) >= 16 - 1e-9
