import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from tests.helpers import FAST, sine_data
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor

# Checks that do not apply to a stochastic neural estimator, each with its reason.
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": "no sample_weight support",
}


@parametrize_with_checks(
    [
        DeepEnsembleRegressor(n_members=2, epochs=20, lr=1e-2, verbose=0, random_state=0),
        DeepEnsembleClassifier(n_members=2, epochs=20, lr=1e-2, verbose=0, random_state=0),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


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
