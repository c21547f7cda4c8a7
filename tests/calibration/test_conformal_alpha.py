"""Issue 17, item 3: a conformal alpha above 0.5 is a coverage level misread; it raises."""

import numpy as np
import pytest

from uqkit.calibration import ConformalRegressor
from uqkit.exceptions import InvalidInputError


def _fitted():
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=200), np.ones(200)
    y = mean + rng.normal(size=200)
    return ConformalRegressor(normalize=True).fit_prediction((mean, std), y), (mean[:5], std[:5])


def test_conformal_alpha_above_a_half_raises():
    conformal, pred = _fitted()
    with pytest.raises(InvalidInputError, match=r"did you mean alpha=0\.1"):
        conformal.interval(pred, 0.9)
    with pytest.raises(InvalidInputError, match="alpha is the miscoverage"):
        conformal.conformal_quantile(0.9)
    # coverage names a low-coverage interval unambiguously (the report's calibration curve)
    lower, upper = conformal.interval(pred, coverage=0.1)
    wide_lower, wide_upper = conformal.interval(pred, 0.1)
    assert np.all(upper - lower < wide_upper - wide_lower)
