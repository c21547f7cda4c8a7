"""scikit-learn's estimator checks on every registered estimator that is fitted on ``(X, y)``.

The estimators come from :func:`uqkit.utils.all_estimators` with their ``QUICK`` settings
(``tests/helpers.py``); nothing is listed by hand. Each check expected to fail is listed with its
reason in ``EXPECTED_FAILURES`` (strict: a check that starts to pass fails until its entry is
removed, so the list only shrinks). Estimators whose checks are slow (an AutoDEUQ fit is a Ray
Tune search) run them under the ``slow`` marker.

Recalibrators and estimators that are not fitted on a feature matrix (``NOT_TABULAR``) cannot
run the checks that fit on scikit-learn's data: a recalibrator wraps an already fitted model,
which ``clone`` would unfit and which fixes the number of features. They run the checks of the
scikit-learn API that need no fit (``FIT_FREE_CHECKS``).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks as sk
from sklearn.utils.estimator_checks import parametrize_with_checks

from tests.helpers import FAST, NOT_TABULAR, is_recalibrator, make_case, quick, sine_data
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.utils import all_estimators

# Checks each estimator class is expected to fail, with the reason (to fix, then delete here).
_REPEATED_ROWS = (
    "integer weights give the objective of repeated rows (tests/training/"
    "test_sample_weight.py), but stochastic mini-batch training on n rows and on sum(w) rows, "
    "with scaling fitted on the rows as given, reaches a different network"
)
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "GPClassifier": {
        "check_methods_sample_order_invariance": "Monte Carlo class probabilities are drawn "
        "for the whole batch, so a row's value depends on the batch",
        "check_methods_subset_invariance": "same Monte Carlo batch dependence",
    },
    **{
        name: {"check_sample_weight_equivalence_on_dense_data": _REPEATED_ROWS}
        for name in ("DeepEnsembleRegressor", "DeepEnsembleClassifier", "EvidentialRegressor",
                     "EvidentialClassifier", "DCARegressor", "DCAClassifier",
                     "BayesianMLPRegressor", "BayesianMLPClassifier",
                     "MCDropoutRegressor", "MCDropoutClassifier", "SWAGRegressor",
                     "SWAGClassifier")
    },
    **{
        name: {
            "check_sample_weight_equivalence_on_dense_data": _REPEATED_ROWS,
            "check_estimators_pickle": "laplace-torch's last-layer feature extractor holds a "
            "local hook function, which pickle cannot store",
            "check_estimators_pickle(readonly_memmap=True)": "the same local hook",
        }
        for name in ("LaplaceRegressor", "LaplaceClassifier")
    },
    **{
        name: {
            "check_methods_sample_order_invariance": "float32 networks: CPU matrix kernels "
            "round a row by its position in the batch (here up to 9e-8 absolute, 8e-7 "
            "relative, a few float32 steps; the check allows 1e-7 relative); no row depends "
            "on another",
        }
        for name in ("AutoDEUQRegressor", "AutoDEUQClassifier")
    },
}

# Classes whose scikit-learn checks run only with -m slow, with the reason.
SLOW = {
    "AutoDEUQRegressor": "every check fit is a Ray Tune search (about 60 fits)",
    "AutoDEUQClassifier": "every check fit is a Ray Tune search (about 60 fits)",
}

# The checks of scikit-learn's API that need no fit on scikit-learn's data.
FIT_FREE_CHECKS = [
    sk.check_estimator_cloneable,
    sk.check_estimator_repr,
    sk.check_estimator_tags_renamed,
    sk.check_valid_tag_types,
    sk.check_no_attributes_set_in_init,
    sk.check_do_not_raise_errors_in_init_or_set_params,
    sk.check_get_params_invariance,
    sk.check_set_params,
    sk.check_mixin_order,
]

REGISTERED = all_estimators()
WITH_SKLEARN_DATA = [
    cls for name, cls in REGISTERED if name not in NOT_TABULAR and not is_recalibrator(cls)
]
WITHOUT_SKLEARN_DATA = [cls for cls in dict(REGISTERED).values() if cls not in WITH_SKLEARN_DATA]


def _expected(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


def test_expected_failures_name_registered_classes():
    unknown = (set(EXPECTED_FAILURES) | set(SLOW)) - {name for name, _ in REGISTERED}
    assert not unknown, f"classes that are not registered: {unknown}"


@parametrize_with_checks(
    [quick(cls) for cls in WITH_SKLEARN_DATA if cls.__name__ not in SLOW],
    expected_failed_checks=_expected,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(
    [quick(cls) for cls in WITH_SKLEARN_DATA if cls.__name__ in SLOW],
    expected_failed_checks=_expected,
    xfail_strict=True,
)
def test_sklearn_estimator_checks_slow(estimator, check):
    pytest.importorskip("ray", reason="AutoDEUQ needs uqkit[search]")
    check(estimator)


@pytest.mark.parametrize("check", FIT_FREE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("cls", WITHOUT_SKLEARN_DATA, ids=lambda c: c.__name__)
def test_sklearn_api_checks_without_fit(cls, check):
    estimator = make_case(cls).estimator
    if check.__name__ in _expected(estimator):
        pytest.xfail(_expected(estimator)[check.__name__])
    partial(check, cls.__name__)(estimator)


def test_clone_pipeline_and_grid_search():
    X, y = sine_data()
    model = DeepEnsembleRegressor(n_members=2, **FAST)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    pipe = make_pipeline(StandardScaler(), model).fit(X, y)
    assert pipe.predict(X).shape == (200,)
    search = GridSearchCV(model, {"lr": [1e-3, 1e-2]}, cv=2).fit(X, y)
    assert search.best_params_["lr"] in (1e-3, 1e-2)
    assert np.isfinite(search.best_score_)
