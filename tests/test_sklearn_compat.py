import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from tests.helpers import FAST, sine_data
from uqkit.bayes import BayesianMLPClassifier, BayesianMLPRegressor, GPClassifier, GPRegressor
from uqkit.dca import DCAClassifier, DCARegressor
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.evidential import EvidentialClassifier, EvidentialRegressor

# Checks that do not apply to these estimators, each with its reason.
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": "no sample_weight support",
}
_QUICK = dict(epochs=20, lr=1e-2, verbose=0, random_state=0)
_DCA = dict(n_instances=2, hidden_layers=(16,), n_train_proposals=2, n_predict_proposals=4,
            batch_size=64, **_QUICK)

# Every estimator of the package, with settings small enough for the common checks.
ESTIMATORS = [
    DeepEnsembleRegressor(n_members=2, **_QUICK),
    DeepEnsembleClassifier(n_members=2, **_QUICK),
    EvidentialRegressor(hidden_layers=(16,), early_stopping=False, **_QUICK),
    EvidentialClassifier(hidden_layers=(16,), **_QUICK),
    DCARegressor(**_DCA),
    DCAClassifier(**_DCA),
    GPRegressor(max_iter=30, random_state=0),
    GPClassifier(n_epochs=20, n_inducing=16, random_state=0),
    BayesianMLPRegressor(hidden_layer_sizes=(16,), n_epochs=30, random_state=0),
    BayesianMLPClassifier(hidden_layer_sizes=(16,), n_epochs=30, random_state=0),
]
# AutoDEUQ estimators need a Ray Tune search per fit: their sklearn behaviour (clone, params,
# validation) is tested in tests/search without the ~300 fits these checks would start.


# Known gaps of the Bayesian estimators, each with its reason (to fix, then delete here).
BAYES_GAPS = {
    "GPRegressor": {
        "check_non_transformer_estimators_n_iter": "has max_iter but no n_iter_ attribute yet",
        "check_supervised_y_2d": "a column-vector y gives no DataConversionWarning yet",
    },
    "GPClassifier": {
        "check_non_transformer_estimators_n_iter": "has max_iter but no n_iter_ attribute yet",
        "check_methods_sample_order_invariance": "Monte Carlo class probabilities are drawn "
        "for the whole batch, so a row's value depends on the batch",
        "check_methods_subset_invariance": "same Monte Carlo batch dependence",
    },
    "BayesianMLPRegressor": {
        "check_supervised_y_2d": "keeps a (n, 1) target two-dimensional without a warning",
    },
}


@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda e: {**EXPECTED_FAILURES, **BAYES_GAPS.get(type(e).__name__, {})},
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
