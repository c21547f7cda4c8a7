"""Fuzz of every registered estimator's fit and predict with hostile arrays (issue 17, item 10).

Each probe changes the training data or the prediction input of one estimator in one hostile
way (features or targets scaled by 1e±30, a constant column, one row, float16, int, bool, a
very wide matrix, huge or far-away inputs at predict) and judges the outcome
(``tests/adversarial/_outcome.py``): a uqkit error that names the problem, a uqkit warning, or an
answer. An answer must be finite and, where the hostile change should not change it, equal the
answer on the plain data: scaled features and targets are standardised away, float16/int/bool
inputs are the numbers they hold.

The default run explores with hypothesis (a few dozen probes, different ones as its database
grows); ``-m slow`` runs every probe of every estimator once (``test_every_probe``).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adversarial._outcome import assert_no_nan, probe
from tests.helpers import MARKS, kind_of, make_case
from uqkit.utils import all_estimators

ESTIMATORS = {name: cls for name, cls in all_estimators()}
# a fit of these is a Ray Tune search (the deep ensembles' path is what its trials train) or
# takes no feature matrix (their own hostile inputs are in tests/embeddings, tests/bayes)
SKIP = {"AutoDEUQRegressor", "AutoDEUQClassifier", "GloVe", "GloVeV", "BayesianLoRA"}
TABULAR = sorted(name for name in ESTIMATORS if name not in SKIP)

# probe -> what it does; "fit:" probes change the training data, "predict:" the input
FIT_PROBES = ["x_tiny", "x_huge", "y_tiny", "y_huge", "y_constant", "constant_column",
              "all_constant", "one_row", "float16", "int", "bool", "text", "wide"]
PREDICT_PROBES = ["far", "huge", "float16", "int", "one_row", "empty"]
PROBES = [f"fit:{p}" for p in FIT_PROBES] + [f"predict:{p}" for p in PREDICT_PROBES]


def _fields(pred) -> dict[str, np.ndarray]:
    if hasattr(pred, "probs"):
        return {"probs": pred.probs}
    return {"mean": pred.mean, "total": pred.total}


@functools.cache
def _reference(name: str):
    """The estimator fitted on the plain data, with its data and its prediction on it."""
    case = make_case(ESTIMATORS[name])
    model = case.fit()
    return case, model, model.predict_uncertainty(*case.predict_args)


def _applies(name: str, probe_name: str) -> bool:
    cls = ESTIMATORS[name]
    case = _reference(name)[0]
    stage, what = probe_name.split(":")
    if what.startswith("y_") and kind_of(cls) != "regressor":
        return False
    # a recalibrator's features and targets meet the model it wraps, fitted on the plain data:
    # rescaled ones are another problem, not the same one in other units
    rescaled = what.startswith(("x_", "y_", "constant", "all_", "wide", "text"))
    return not (case.recalibrator and stage == "fit" and rescaled)


def _hostile_fit(case, what: str, rng) -> tuple[tuple, callable | None]:
    """Training data changed by ``what`` and how to compare the answer with the reference
    (None: only finiteness is checked)."""
    X, y = case.fit_args
    X = np.asarray(X, dtype=np.float64)

    def same(pred, ref):  # the answer the plain data gives
        for key, value in _fields(ref).items():
            np.testing.assert_allclose(_fields(pred)[key], value, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{key} changed by {what}")

    def scaled(factor):
        def check(pred, ref):
            np.testing.assert_allclose(pred.mean, ref.mean * factor, rtol=1e-4, atol=0,
                                       err_msg=f"mean not in y's units after {what}")
            np.testing.assert_allclose(pred.total, ref.total * factor**2, rtol=1e-3, atol=0)
        return check

    if what == "x_tiny":
        return (X * 1e-30, y), same
    if what == "x_huge":
        return (X * 1e30, y), same
    if what == "y_tiny":
        return (X, y * 1e-30), scaled(1e-30)
    if what == "y_huge":
        return (X, y * 1e30), scaled(1e30)
    if what == "y_constant":
        return (X, np.full(len(y), 3.0)), None
    if what == "text":
        return (X.astype(str).astype(object) + "cm", y), None
    if what == "constant_column":
        return (np.column_stack([X, np.full(len(X), 7.0)]), y), None
    if what == "all_constant":
        return (np.ones_like(X), y), None
    if what == "one_row":
        return (X[:1], y[:1]), None
    if what == "float16":
        X16 = X.astype(np.float16)
        return (X16, y), _same_as_plain(case, X16.astype(np.float64), y)
    if what == "int":
        Xi = np.round(X * 10).astype(np.int64)
        return (Xi, y), _same_as_plain(case, Xi.astype(np.float64), y)
    if what == "bool":
        Xb = X > 0
        return (Xb, y), _same_as_plain(case, Xb.astype(np.float64), y)
    if what == "wide":
        return (np.column_stack([X, rng.normal(size=(len(X), 2000))]), y), None
    raise AssertionError(what)


def _fresh(case):
    """An unfitted copy of the case's estimator; a recalibrator keeps the fitted model it wraps
    (``clone`` would clone that model unfitted)."""
    estimator = case.estimator
    return type(estimator)(**estimator.get_params(deep=False))


def _same_as_plain(case, X_plain, y):
    """Compare with the same estimator fitted on ``X_plain`` (the float64 values of the input)."""
    def check(pred, _ref):
        plain = _fresh(case).fit(X_plain, y).predict_uncertainty(X_plain)
        for key, value in _fields(plain).items():
            np.testing.assert_allclose(_fields(pred)[key], value, rtol=1e-5, atol=1e-7)
    return check


def _hostile_predict(X: np.ndarray, what: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return {
        "far": X + 1e6,
        "huge": np.full_like(X, 1e30),
        "float16": X.astype(np.float16),
        "int": np.round(X).astype(np.int64),
        "one_row": X[:1],
        "empty": X[:0],
    }[what]


def run_probe(name: str, probe_name: str, seed: int = 0) -> str:
    """Run one probe and return the outcome's kind ("error", "warning" or "answer")."""
    case, model, reference = _reference(name)
    stage, what = probe_name.split(":")
    rng = np.random.default_rng(seed)
    if stage == "fit":
        args, compare = _hostile_fit(case, what, rng)
        estimator = _fresh(case)

        def call():
            fitted = estimator.fit(*args)
            return fitted.predict_uncertainty(args[0])

        outcome = probe(call)
        if outcome.error is None:
            for key, value in _fields(outcome.value).items():
                assert_no_nan(value, where=f"in {key} after {probe_name}")
                assert np.all(np.isfinite(value)), f"{key} not finite after {probe_name}"
            if compare is not None:
                compare(outcome.value, reference)
        return outcome.kind
    X = _hostile_predict(case.predict_args[0], what)
    outcome = probe(lambda: model.predict_uncertainty(X))
    if outcome.error is None:
        plain = model.predict_uncertainty(np.asarray(X, dtype=np.float64))
        for key, value in _fields(outcome.value).items():
            assert len(value) == len(X)
            assert np.all(np.isfinite(value)), f"{key} not finite after {probe_name}"
            np.testing.assert_allclose(value, _fields(plain)[key], rtol=1e-6, atol=1e-9)
    return outcome.kind


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(TABULAR), probe_name=st.sampled_from(PROBES),
       seed=st.integers(0, 2**16))
def test_hostile_inputs_get_an_answer_an_error_or_a_warning(name, probe_name, seed):
    if _applies(name, probe_name):
        run_probe(name, probe_name, seed)


@pytest.mark.slow
@pytest.mark.parametrize("probe_name", PROBES)
@pytest.mark.parametrize("name", [pytest.param(n, marks=MARKS.get(n, [])) for n in TABULAR])
def test_every_probe(name, probe_name, record_property):
    if not _applies(name, probe_name):
        pytest.skip("does not apply to this estimator")
    record_property("outcome", run_probe(name, probe_name))
