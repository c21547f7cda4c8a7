"""Split (point models, weights, several levels), CQR, jackknife+/CV+ and Mondrian conformal.

Coverage claims are checked over many independent random splits with one test point each, so
that the covered count is exactly Binomial(repeats, coverage): a one-sided binomial test then
asks whether the coverage is significantly below the method's guarantee.
"""

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression

import uqkit
from uqkit.calibration import (
    ConformalClassifier,
    ConformalQuantileRegressor,
    ConformalRegressor,
    JackknifePlusRegressor,
    MondrianConformalRegressor,
    conformal_rank,
    conformal_threshold,
)
from uqkit.exceptions import InvalidInputError, ModelFileError

P_VALUE = 1e-3  # a correct method fails one of these tests once in a thousand runs


def _assert_not_below(covered: int, trials: int, guarantee: float) -> None:
    test = binomtest(covered, trials, guarantee, alternative="less")
    assert test.pvalue > P_VALUE, f"coverage {covered / trials:.3f} < {guarantee} (p={test.pvalue})"


def _data(rng, n, groups=False):
    """Heteroscedastic, heavy-tailed data a linear model gets wrong."""
    x = rng.uniform(-2, 2, size=n)
    g = (x > 0.5).astype(int)
    noise = (0.2 + np.abs(x)) * rng.standard_t(4, size=n)
    if groups:
        noise = np.where(g == 1, 4.0, 1.0) * rng.normal(size=n)
    return x[:, None], np.sin(x) + x + noise, g


class _Sine(RegressorMixin, BaseEstimator):
    """A fixed point model (already 'fitted'): the tests need no training per repetition."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.sin(X[:, 0]) + X[:, 0]

    def __sklearn_is_fitted__(self):
        return True


class _LeastSquares(RegressorMixin, BaseEstimator):
    """Least squares in numpy: the jackknife+ coverage test refits it thousands of times."""

    def fit(self, X, y):
        self.coef_ = np.linalg.lstsq(np.c_[np.ones(len(X)), X], y, rcond=None)[0]
        return self

    def predict(self, X):
        return np.c_[np.ones(len(X)), X] @ self.coef_


# ------------------------------------------------------------------ exact finite-sample facts
def test_weights_of_ones_give_exactly_the_unweighted_rank():
    rng = np.random.default_rng(0)
    for n in (5, 19, 99, 250):
        s = np.sort(rng.normal(size=n))
        for alpha in (0.05, 0.1, 0.2, 0.5):
            k = conformal_rank(n, alpha)
            expected = np.inf if k > n else s[k - 1]
            assert conformal_threshold(s, np.ones(n), alpha) == expected


def test_integer_weights_are_repeated_rows():
    rng = np.random.default_rng(1)
    s, w = rng.normal(size=30), rng.integers(1, 4, size=30).astype(float)
    repeated = np.sort(np.repeat(s, w.astype(int)))
    order = np.argsort(s)
    for alpha in (0.1, 0.25):
        assert conformal_threshold(s[order], w[order], alpha) == conformal_threshold(
            repeated, np.ones(repeated.size), alpha)


def test_sample_weight_in_fit():
    rng = np.random.default_rng(2)
    X, y, _ = _data(rng, 200)
    plain = ConformalRegressor(_Sine()).fit(X, y)
    ones = ConformalRegressor(_Sine()).fit(X, y, sample_weight=np.ones(200))
    assert plain.conformal_quantile(0.1) == ones.conformal_quantile(0.1)
    heavy = np.where(np.abs(X[:, 0]) > 1, 5.0, 1.0)  # weight the noisy rows: wider interval
    weighted = ConformalRegressor(_Sine()).fit(X, y, sample_weight=heavy)
    assert weighted.conformal_quantile(0.1) > plain.conformal_quantile(0.1)
    with pytest.raises(InvalidInputError, match="sample_weight"):
        ConformalRegressor(_Sine()).fit(X, y, sample_weight=-np.ones(200))
    with pytest.raises(InvalidInputError, match="one weight per row"):
        ConformalRegressor(_Sine()).fit(X, y, sample_weight=np.ones(3))


def test_point_model_uses_absolute_residuals_and_normalize_true_refuses_it():
    rng = np.random.default_rng(3)
    X, y, _ = _data(rng, 600)
    forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X[:300], y[:300])
    conformal = ConformalRegressor(forest).fit(X[300:450], y[300:450])
    assert conformal.normalized_ is False
    scores = np.sort(np.abs(y[300:450] - forest.predict(X[300:450])))
    np.testing.assert_array_equal(conformal.scores_, scores)
    lower, upper = conformal.predict_interval(X[450:], alpha=0.1)
    q = scores[conformal_rank(150, 0.1) - 1]
    np.testing.assert_allclose(upper - lower, 2 * q)
    np.testing.assert_allclose(conformal.predict(X[450:]), forest.predict(X[450:]))
    pred = conformal.predict_uncertainty(X[450:])
    np.testing.assert_allclose(pred.total, np.mean((y[300:450] - forest.predict(X[300:450])) ** 2))
    inside = (y[450:] >= lower) & (y[450:] <= upper)
    _assert_not_below(int(inside.sum()), inside.size, 0.8)  # one split: a loose check
    with pytest.raises(InvalidInputError, match="predicts no std"):
        ConformalRegressor(forest, normalize=True).fit(X[300:450], y[300:450])


def test_a_scikit_learn_pipeline_is_a_point_model():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    X, y, _ = _data(rng, 300)
    pipe = make_pipeline(StandardScaler(), LinearRegression()).fit(X[:100], y[:100])
    conformal = ConformalRegressor(pipe).fit(X[100:200], y[100:200])
    lower, upper = conformal.predict_interval(X[200:], alpha=0.2)
    np.testing.assert_allclose(0.5 * (lower + upper), pipe.predict(X[200:]))
    assert conformal.normalized_ is False and conformal.n_features_in_ == 1


def test_several_levels_are_nested_and_match_single_calls(helpers, regressor_data):
    (X, y), (X_cal, y_cal), (X_test, _) = regressor_data
    model = helpers.LinearGaussianRegressor().fit(X, y)
    conformal = ConformalRegressor(model).fit(X_cal, y_cal)
    assert conformal.normalized_ is True
    lower, upper = conformal.predict_interval(X_test, alpha=[0.2, 0.1, 0.05])
    assert lower.shape == (len(X_test), 3)
    assert np.all(np.diff(upper, axis=1) >= 0) and np.all(np.diff(lower, axis=1) <= 0)
    single = conformal.predict_interval(X_test, alpha=0.1)
    np.testing.assert_array_equal(lower[:, 1], single[0])
    with pytest.raises(InvalidInputError, match="alpha"):
        conformal.predict_interval(X_test, alpha=[0.1, 0.9])


def test_cqr_score_and_rank_by_hand():
    low, high = np.zeros(5), np.ones(5)
    y = np.array([-0.5, 0.2, 1.3, 0.9, 2.0])  # scores max(low - y, y - high)
    cqr = ConformalQuantileRegressor().fit_prediction((low, high), y)
    np.testing.assert_allclose(cqr.scores_, [-0.2, -0.1, 0.3, 0.5, 1.0])
    assert cqr.conformal_quantile(0.5) == cqr.scores_[2]  # rank ceil(6 * 0.5) = 3
    lo, hi = cqr.interval_from_band([0.0], [1.0], alpha=0.5)
    assert (lo[0], hi[0]) == (-cqr.scores_[2], 1 + cqr.scores_[2])
    assert np.isinf(cqr.conformal_quantile(0.1))  # rank 6 > 5


def test_cqr_refuses_base_alpha_with_a_pair_and_a_lone_point_model():
    X, y = np.arange(20.0)[:, None], np.arange(20.0)
    a, b = LinearRegression().fit(X, y - 1), LinearRegression().fit(X, y + 1)
    with pytest.raises(InvalidInputError, match="base_alpha"):
        ConformalQuantileRegressor(a, b, base_alpha=0.2).fit(X, y)
    with pytest.raises(InvalidInputError, match="estimator_upper"):
        ConformalQuantileRegressor(a).fit(X, y)


def test_cqr_on_a_uqkit_model_uses_its_quantiles(helpers, regressor_data):
    (X, y), (X_cal, y_cal), (X_test, _) = regressor_data
    model = helpers.LinearGaussianRegressor(std_factor=0.5).fit(X, y)
    cqr = ConformalQuantileRegressor(model, base_alpha=0.2).fit(X_cal, y_cal)
    pred = model.predict_uncertainty(X_cal)
    low, high = pred.quantile([0.1, 0.9])
    np.testing.assert_allclose(cqr.scores_, np.sort(np.maximum(low - y_cal, y_cal - high)))
    lower, upper = cqr.predict_interval(X_test, alpha=0.2)
    base_low, base_high = model.predict_uncertainty(X_test).quantile([0.1, 0.9])
    q = cqr.conformal_quantile(0.2)
    np.testing.assert_allclose(lower, base_low - q)
    np.testing.assert_allclose(upper, base_high + q)
    assert q > 0  # the model is over-confident: the band grows


def test_jackknife_plus_by_hand():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    y = np.array([0.0, 1.5, 1.5, 3.5, 4.0])
    jack = JackknifePlusRegressor(cv="loo").fit(X, y)
    loo = np.array([LinearRegression().fit(np.delete(X, i, 0), np.delete(y, i)).predict(X)
                    for i in range(5)])
    residuals = np.abs(y - np.diag(loo))
    np.testing.assert_allclose(jack.residuals_, residuals)
    x_new = np.array([[2.5]])
    mu = np.array([LinearRegression().fit(np.delete(X, i, 0), np.delete(y, i)).predict(x_new)[0]
                   for i in range(5)])
    # alpha = 0.34: ceil(0.66 * 6) = 4th smallest for the upper, floor(0.34 * 6) = 2nd smallest
    lower, upper = jack.predict_interval(x_new, alpha=0.34)
    assert upper[0] == pytest.approx(np.sort(mu + residuals)[3])
    assert lower[0] == pytest.approx(np.sort(mu - residuals)[1])
    lower, upper = jack.predict_interval(x_new, alpha=0.1)  # rank 6 > 5: no finite interval
    assert np.isneginf(lower[0]) and np.isposinf(upper[0])


def test_cv_plus_folds_are_seeded_and_balanced():
    X, y = np.random.default_rng(0).normal(size=(23, 2)), np.arange(23.0)
    a = JackknifePlusRegressor(cv=5, random_state=3).fit(X, y)
    b = JackknifePlusRegressor(cv=5, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.folds_, b.folds_)
    assert len(a.estimators_) == 5 and sorted(np.bincount(a.folds_)) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(a.predict_interval(X)[0], b.predict_interval(X)[0])


def _small_ensemble():
    from uqkit.ensemble import DeepEnsembleRegressor

    return DeepEnsembleRegressor(n_members=2, hidden_layers=(8,), epochs=3, device="cpu",
                                 verbose=0, random_state=0)


def test_jackknife_saves_with_a_uqkit_model_and_refuses_a_foreign_one(tmp_path):
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    jack = JackknifePlusRegressor(_small_ensemble(), cv=2).fit(X, y)
    loaded = uqkit.load(jack.save(tmp_path / "jack"))
    for a, b in zip(loaded.predict_interval(X), jack.predict_interval(X), strict=True):
        np.testing.assert_array_equal(a, b)
    assert type(loaded.estimator) is type(jack.estimator)
    with pytest.raises(ModelFileError, match="LinearRegression"):
        JackknifePlusRegressor(cv=3).fit(X, y).save(tmp_path / "foreign")


def test_wrappers_around_uqkit_models_save_and_load(regressor_data, tmp_path):
    (X, y), (X_cal, y_cal), (X_test, _) = regressor_data
    model = _small_ensemble().fit(X, y)
    groups = (X_cal[:, 0] > 0).astype(int)
    for wrapper, kwargs in [
        (ConformalQuantileRegressor(model, base_alpha=0.2), {}),
        (MondrianConformalRegressor(model), {"groups": (X_test[:, 0] > 0).astype(int)}),
    ]:
        fit_kwargs = {"groups": groups} if kwargs else {}
        wrapper.fit(X_cal, y_cal, **fit_kwargs)
        loaded = uqkit.load(wrapper.save(tmp_path / type(wrapper).__name__))
        for a, b in zip(loaded.predict_interval(X_test, **kwargs),
                        wrapper.predict_interval(X_test, **kwargs), strict=True):
            np.testing.assert_array_equal(a, b)
    forest = RandomForestRegressor(n_estimators=3).fit(X, y)
    with pytest.raises(ModelFileError, match="Cannot save"):
        ConformalRegressor(forest).fit(X_cal, y_cal).save(tmp_path / "forest")


def test_mondrian_refuses_small_and_unseen_groups():
    rng = np.random.default_rng(5)
    y, g = rng.normal(size=40), np.r_[np.zeros(35, int), np.ones(5, int)]
    mondrian = MondrianConformalRegressor(normalize=False).fit_prediction(
        (np.zeros(40), np.ones(40)), y, groups=g)
    np.testing.assert_array_equal(mondrian.group_sizes_, [35, 5])
    bounds = mondrian.interval((np.zeros(2), np.ones(2)), alpha=0.2, groups=[0, 1])
    assert np.all(np.isfinite(bounds))
    with pytest.raises(InvalidInputError, match="group 1 has 5 calibration rows"):
        mondrian.interval((np.zeros(2), np.ones(2)), alpha=0.1, groups=[0, 1])
    with pytest.raises(InvalidInputError, match="group 7"):
        mondrian.interval((np.zeros(1), np.ones(1)), alpha=0.2, groups=[7])
    with pytest.raises(InvalidInputError, match="pass groups"):
        mondrian.interval((np.zeros(1), np.ones(1)), alpha=0.2)


def test_mondrian_groups_function_equals_group_arrays():
    rng = np.random.default_rng(6)
    X, y, g = _data(rng, 300, groups=True)
    by_function = MondrianConformalRegressor(_Sine(), groups=lambda X: (X[:, 0] > 0.5).astype(int))
    by_array = MondrianConformalRegressor(_Sine())
    by_function.fit(X[:200], y[:200])
    by_array.fit(X[:200], y[:200], groups=g[:200])
    a = by_function.predict_interval(X[200:], alpha=[0.2, 0.1])
    b = by_array.predict_interval(X[200:], alpha=[0.2, 0.1], groups=g[200:])
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(InvalidInputError, match="one or the other"):
        by_function.predict_interval(X[200:], groups=g[200:])
    with pytest.raises(InvalidInputError, match="groups function"):
        by_function.interval((X[200:, 0], np.ones(100)), groups=g[200:])


def test_classifier_wraps_any_predict_proba_model(helpers, classifier_data):
    from sklearn.linear_model import LogisticRegression

    (X, y), (X_cal, y_cal), (X_test, y_test) = classifier_data
    model = LogisticRegression().fit(X, y)
    aps = ConformalClassifier(model, random_state=0).fit(X_cal, y_cal)
    np.testing.assert_array_equal(aps.classes_, model.classes_)
    sets = aps.predict_set(X_test, alpha=0.1)
    index = np.searchsorted(aps.classes_, y_test)
    assert sets[np.arange(len(y_test)), index].mean() >= 0.85
    np.testing.assert_allclose(aps.predict_proba(X_test), model.predict_proba(X_test))


# ---------------------------------------------------------------- coverage over random splits
REPEATS = 300


def test_split_conformal_covers_on_a_point_model():
    rng, alpha, covered = np.random.default_rng(10), 0.1, 0
    for _ in range(REPEATS):
        X, y, _ = _data(rng, 31)
        conformal = ConformalRegressor(_Sine()).fit(X[:30], y[:30])
        lower, upper = conformal.predict_interval(X[30:], alpha=alpha)
        covered += int(lower[0] <= y[30] <= upper[0])
    _assert_not_below(covered, REPEATS, 1 - alpha)


def test_cqr_covers():
    rng, alpha, covered = np.random.default_rng(11), 0.1, 0
    for _ in range(REPEATS):
        x = rng.uniform(-2, 2, size=41)
        y = x + (0.2 + np.abs(x)) * rng.standard_t(4, size=41)
        band = 1.0 + 0.2 * np.abs(x)  # a band of the wrong shape: conformal repairs its level
        cqr = ConformalQuantileRegressor().fit_prediction((x[:40] - band[:40],
                                                           x[:40] + band[:40]), y[:40])
        lower, upper = cqr.interval_from_band(x[40:] - band[40:], x[40:] + band[40:], alpha)
        covered += int(lower[0] <= y[40] <= upper[0])
    _assert_not_below(covered, REPEATS, 1 - alpha)


@pytest.mark.parametrize("cv", ["loo", 5])
def test_jackknife_plus_and_cv_plus_cover_at_least_one_minus_two_alpha(cv):
    rng, alpha, covered = np.random.default_rng(12), 0.1, 0
    repeats = 150
    for _ in range(repeats):
        X, y, _ = _data(rng, 21)
        jack = JackknifePlusRegressor(_LeastSquares(), cv=cv, random_state=0).fit(X[:20], y[:20])
        lower, upper = jack.predict_interval(X[20:], alpha=alpha)
        covered += int(lower[0] <= y[20] <= upper[0])
    _assert_not_below(covered, repeats, 1 - 2 * alpha)


def test_mondrian_covers_within_each_group_where_split_does_not():
    rng, alpha = np.random.default_rng(13), 0.1
    covered = {"mondrian": np.zeros(2, int), "split": np.zeros(2, int)}
    trials = np.zeros(2, int)
    for _ in range(REPEATS):
        X, y, g = _data(rng, 121, groups=True)
        mondrian = MondrianConformalRegressor(_Sine()).fit(X[:120], y[:120], groups=g[:120])
        if np.min(mondrian.group_sizes_) < 30:
            continue
        split = ConformalRegressor(_Sine()).fit(X[:120], y[:120])
        lo, hi = mondrian.predict_interval(X[120:], alpha, groups=g[120:])
        covered["mondrian"][g[120]] += int(lo[0] <= y[120] <= hi[0])
        lo, hi = split.predict_interval(X[120:], alpha)
        covered["split"][g[120]] += int(lo[0] <= y[120] <= hi[0])
        trials[g[120]] += 1
    for group in (0, 1):
        _assert_not_below(int(covered["mondrian"][group]), int(trials[group]), 1 - alpha)
    # the noisy group (x > 0.5, a quarter of the rows) is under-covered by marginal split
    assert covered["split"][1] / trials[1] < 1 - alpha - 0.05


def test_gbr_quantile_pair_cqr_end_to_end():
    rng = np.random.default_rng(14)
    X, y, _ = _data(rng, 900)
    low, high = (GradientBoostingRegressor(loss="quantile", alpha=a, n_estimators=20,
                                           max_depth=2, random_state=0).fit(X[:300], y[:300])
                 for a in (0.05, 0.95))
    cqr = ConformalQuantileRegressor(low, high).fit(X[300:600], y[300:600])
    lower, upper = cqr.predict_interval(X[600:], alpha=[0.2, 0.1])
    inside = (y[600:, None] >= lower) & (y[600:, None] <= upper)
    assert inside.shape == (300, 2)
    _assert_not_below(int(inside[:, 1].sum()), 300, 0.85)  # one split: a loose check
    assert cqr.base_alpha_ is None
    metrics = cqr.evaluate(X[600:], y[600:])
    assert metrics["conformal_coverage_90"] == pytest.approx(inside[:, 1].mean())
