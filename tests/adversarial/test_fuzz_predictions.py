"""Fuzz of the two prediction types with hostile numbers (issue 17, item 10).

Every constructor gets arrays drawn from the whole float64 line (NaN, ±inf, ±0, subnormals,
1e±30, 1e±300, the largest float) and from the dtypes users pass (float16, int, bool); every
query is then asked of what was built. The outcome must be a uqkit error that names the
problem, or an answer without NaN: intervals ordered, CDF values in [0, 1], probabilities on the
simplex, and finite results wherever the inputs are of moderate size.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.adversarial._outcome import assert_no_nan, probe
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPECIAL = [0.0, -0.0, 5e-324, 1e-320, 1e-300, 1e-30, 1e-12, 1.0, 1e30, 1e300, 1.7e308,
           np.nan, np.inf, -np.inf, -1e-12, -1.0, -1e30, -1e300]
hostile = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True))
moderate = st.floats(min_value=-1e6, max_value=1e6)
positive = st.floats(min_value=1e-6, max_value=1e6)


def _vectors(n: int, elements=hostile, dtypes=(np.float64,)):
    return st.sampled_from(dtypes).flatmap(
        lambda dtype: hnp.arrays(dtype, n, elements=elements.map(lambda v: _cast(v, dtype)))
        if dtype is np.float64 else hnp.arrays(dtype, n)
    )


def _cast(value, dtype):
    return value if dtype is np.float64 else dtype(value)


def _is_moderate(*arrays) -> bool:
    """Every number zero or of a magnitude in [1e-6, 1e6]: there, every answer is finite."""
    values = np.concatenate([np.abs(np.asarray(a, dtype=np.float64)).ravel() for a in arrays])
    return bool(np.all((values == 0) | ((values >= 1e-6) & (values <= 1e6))))


def _query_regression(pred: RegressionPrediction, y: np.ndarray) -> dict:
    """Every query a user asks of a regression prediction, one probe each."""
    results = {}
    for name, call in {
        "nll": lambda: pred.nll(y, reduction="none"),
        "crps": lambda: pred.crps(y, reduction="none"),
        "cdf": lambda: pred.cdf(y),
        "interval": lambda: np.stack(pred.interval(0.1)),
        "narrow": lambda: np.stack(pred.interval(coverage=0.2)),
        "std": lambda: pred.std(),
        "frame": lambda: pred.to_frame().to_numpy(dtype=np.float64),
    }.items():
        outcome = probe(call)
        if outcome.error is None:
            assert_no_nan(outcome.value, where=f"by {pred.distribution} {name}")
            results[name] = np.asarray(outcome.value, dtype=np.float64)
    if "cdf" in results:
        assert np.all((results["cdf"] >= 0) & (results["cdf"] <= 1))
    if "interval" in results:
        lower, upper = results["interval"]
        assert np.all(lower <= upper)
    return results


def _check_regression(make, inputs: tuple, y: np.ndarray, expect_finite: bool = True) -> None:
    built = probe(make)
    if built.error is not None:
        return
    results = _query_regression(built.value, y)
    if expect_finite and _is_moderate(*inputs, y):
        for name, values in results.items():
            assert np.all(np.isfinite(values)), f"{name} is not finite on moderate inputs"


@FUZZ
@given(data=st.data())
def test_normal_predictions(data):
    n = data.draw(st.integers(1, 4))
    dtypes = (np.float64, np.float16, np.int64, np.bool_)
    mean = data.draw(_vectors(n, dtypes=dtypes))
    aleatoric = data.draw(_vectors(n, dtypes=dtypes))
    epistemic = data.draw(st.none() | _vectors(n))
    y = data.draw(_vectors(n, elements=moderate | hostile))
    _check_regression(lambda: RegressionPrediction.normal(mean, aleatoric, epistemic),
                      (mean, aleatoric, *(() if epistemic is None else (epistemic,))), y)


@FUZZ
@given(data=st.data())
def test_mixture_predictions(data):
    k, n = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    means = data.draw(hnp.arrays(np.float64, (k, n), elements=hostile | moderate))
    variances = data.draw(hnp.arrays(np.float64, (k, n), elements=hostile | positive))
    weights = data.draw(st.none() | hnp.arrays(np.float64, k, elements=hostile | positive))
    y = data.draw(_vectors(n, elements=moderate))
    inputs = (means, variances, *(() if weights is None else (weights,)))
    _check_regression(lambda: RegressionPrediction.mixture(means, variances, weights), inputs, y)


@FUZZ
@given(data=st.data())
def test_student_t_and_ggd_predictions(data):
    n = data.draw(st.integers(1, 3))
    loc = data.draw(_vectors(n, elements=hostile | moderate))
    scale = data.draw(_vectors(n, elements=hostile | positive))
    third = data.draw(_vectors(n, elements=hostile | positive))
    y = data.draw(_vectors(n, elements=moderate))
    kind = data.draw(st.sampled_from(["student_t", "ggd"]))
    if kind == "ggd":
        make = lambda: RegressionPrediction.ggd(loc, scale, third)  # noqa: E731
    else:
        split = data.draw(_vectors(n, elements=hostile | positive))

        def make():
            return RegressionPrediction.student_t(loc, scale, third, split, split)
    # a GGD of shape 95 at 1758 scales has an NLL of 1758^95 > 1.8e308: +inf is its float64
    # value. The heads clamp the shape to [0.05, 10] (GGDValueHead); within that, all is finite
    moderate_shape = kind == "student_t" or bool(np.all(np.abs(third) <= 10))
    _check_regression(make, (loc, scale, third), y, expect_finite=moderate_shape)


def _check_classification(make, y) -> None:
    built = probe(make)
    if built.error is not None:
        return
    pred = built.value
    assert np.allclose(pred.probs.sum(axis=-1), 1.0, atol=1e-5)
    for name, call in {
        "nll": lambda: pred.nll(y, reduction="none"),
        "total": lambda: pred.total,
        "aleatoric": lambda: pred.aleatoric,
        "epistemic": lambda: pred.epistemic,
        "confidence": lambda: pred.confidence,
        "frame": lambda: pred.to_frame().drop(columns="label").to_numpy(dtype=np.float64),
    }.items():
        outcome = probe(call)
        if outcome.error is None:
            values = np.asarray(outcome.value, dtype=np.float64)
            assert np.all(np.isfinite(values)), f"{name} of a valid prediction is not finite"


@FUZZ
@given(data=st.data())
def test_classification_predictions(data):
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    y = data.draw(st.lists(st.integers(-1, c), min_size=n, max_size=n))
    kind = data.draw(st.sampled_from(["probs", "members", "dirichlet", "list"]))
    if kind == "probs":
        probs = data.draw(hnp.arrays(np.float64, (n, c), elements=hostile | positive))
        _check_classification(lambda: ClassificationPrediction(probs), y)
    elif kind == "list":
        raw = data.draw(hnp.arrays(np.float64, (n, c), elements=positive))
        probs = (raw / raw.sum(axis=1, keepdims=True)).tolist()
        _check_classification(lambda: ClassificationPrediction(probs), y)
    elif kind == "members":
        k = data.draw(st.integers(1, 3))
        members = data.draw(hnp.arrays(np.float64, (k, n, c), elements=hostile | positive))
        weights = data.draw(st.none() | hnp.arrays(np.float64, k, elements=hostile | positive))
        _check_classification(lambda: ClassificationPrediction.from_members(members, weights), y)
    else:
        alpha = data.draw(hnp.arrays(np.float64, (n, c), elements=hostile | positive))
        _check_classification(lambda: ClassificationPrediction.from_dirichlet(alpha), y)


@pytest.mark.parametrize("values", [[1j], [[1.0], [1.0, 2.0]], [None], ["one"]],
                         ids=["complex", "ragged", "none", "text"])
def test_values_that_are_not_real_numbers_are_refused(values):
    outcome = probe(lambda: RegressionPrediction.normal(values, [1.0] * len(values)))
    assert outcome.error is not None
