import numpy as np
import pytest
from scipy import integrate, stats

from uqkit.exceptions import InvalidInputError
from uqkit.prediction import ClassificationPrediction, RegressionPrediction


@pytest.fixture
def mixture():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(4, 6))
    variances = rng.uniform(0.2, 2.0, size=(4, 6))
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    return RegressionPrediction.mixture(means, variances, weights), means, variances, weights


def test_mixture_moments_follow_law_of_total_variance(mixture):
    pred, means, variances, w = mixture
    mean = w @ means
    assert np.allclose(pred.mean, mean)
    assert np.allclose(pred.aleatoric, w @ variances)
    assert np.allclose(pred.epistemic, w @ (means - mean) ** 2)
    # total variance equals the second moment of the mixture minus its squared mean
    second = w @ (variances + means**2)
    assert np.allclose(pred.total, second - mean**2)


def test_mixture_log_prob_matches_scipy_density(mixture):
    pred, means, variances, w = mixture
    y = np.linspace(-1, 1, 6)
    density = np.sum(w[:, None] * stats.norm.pdf(y, means, np.sqrt(variances)), axis=0)
    assert np.allclose(pred.log_prob(y), np.log(density))
    assert np.isclose(pred.nll(y), -np.mean(np.log(density)))


def test_mixture_quantiles_invert_the_cdf(mixture):
    pred, *_ = mixture
    levels = np.array([0.01, 0.05, 0.3, 0.5, 0.9, 0.999])
    q = pred.quantile(levels)
    assert q.shape == (6, 6)
    for level, row in zip(levels, q):
        assert np.allclose(pred.cdf(row), level, atol=1e-10)
    lower, upper = pred.interval(0.1)
    assert np.allclose(pred.cdf(upper) - pred.cdf(lower), 0.9, atol=1e-10)


def _numerical_crps(cdf, y, lo=-60, hi=60):
    return integrate.quad(lambda t: (cdf(t) - (t >= y)) ** 2, lo, hi, points=[y], limit=200)[0]


def test_mixture_crps_matches_numerical_integration(mixture):
    pred, means, variances, w = mixture
    y = np.array([-2.0, -0.5, 0.0, 0.3, 1.0, 3.0])
    crps = pred.crps(y, reduction="none")
    for i in range(6):

        def cdf(t, i=i):
            return np.sum(w * stats.norm.cdf(t, means[:, i], np.sqrt(variances[:, i])))

        assert np.isclose(crps[i], _numerical_crps(cdf, y[i]), atol=1e-6)


@pytest.mark.parametrize(
    "pred, cdf",
    [
        (RegressionPrediction.normal([0.5], [2.0]), lambda t: stats.norm.cdf(t, 0.5, np.sqrt(2))),
        (
            RegressionPrediction.student_t([0.5], [1.5], [4.0], [1.0], [1.0]),
            lambda t: stats.t.cdf(t, 4.0, 0.5, 1.5),
        ),
        (
            RegressionPrediction.ggd([0.5], [1.2], [1.3]),
            lambda t: stats.gennorm.cdf(t, 1.3, 0.5, 1.2),
        ),
    ],
)
def test_parametric_crps_and_nll_match_scipy(pred, cdf):
    y = np.array([1.7])
    assert np.isclose(pred.crps(y), _numerical_crps(cdf, 1.7, -400, 400), atol=2e-5)
    eps = 1e-6
    density = (cdf(1.7 + eps) - cdf(1.7 - eps)) / (2 * eps)
    assert np.isclose(pred.nll(y), -np.log(density), atol=1e-5)


def test_one_member_mixture_equals_its_gaussian():
    mixture = RegressionPrediction.mixture(np.array([[1.0, 2.0]]), np.array([[0.5, 2.0]]))
    normal = RegressionPrediction.normal([1.0, 2.0], [0.5, 2.0])
    y = np.array([0.3, 2.5])
    assert np.allclose(mixture.epistemic, 0)
    assert np.allclose(mixture.log_prob(y), normal.log_prob(y))
    assert np.allclose(mixture.crps(y, "none"), normal.crps(y, "none"))
    assert np.allclose(np.stack(mixture.interval(0.2)), np.stack(normal.interval(0.2)), atol=1e-9)


def test_identical_members_have_zero_epistemic_variance():
    means = np.tile(np.array([[0.2, -1.0, 3.0]]), (5, 1))
    pred = RegressionPrediction.mixture(means, np.ones_like(means))
    assert np.all(pred.epistemic == 0)


def test_ggd_variance_and_student_t_moments():
    shape = np.array([1.0, 2.0, 3.5])
    pred = RegressionPrediction.ggd(np.zeros(3), np.full(3, 0.7), shape)
    assert np.allclose(pred.aleatoric, stats.gennorm.var(shape, scale=0.7))
    assert np.allclose(pred.std() ** 2, pred.total)


def test_ggd_with_epistemic_widens_to_the_total_variance():
    pred = RegressionPrediction.ggd([0.0], [1.0], [1.5], epistemic=[0.4])
    assert np.isclose(stats.gennorm.var(1.5, scale=pred.scale[0]), pred.total[0])


def test_rescale_returns_user_units(mixture):
    pred, *_ = mixture
    scaled = pred.rescale(3.0, 10.0)
    assert np.allclose(scaled.mean, 3 * pred.mean + 10)
    assert np.allclose(scaled.total, 9 * pred.total)
    y = np.linspace(-1, 1, 6)
    # densities transform with the Jacobian 1/3
    assert np.allclose(scaled.log_prob(3 * y + 10), pred.log_prob(y) - np.log(3))


def test_moment_matched_gaussian(mixture):
    pred, *_ = mixture
    normal = pred.as_normal()
    assert normal.distribution == "normal"
    assert np.allclose(normal.total, pred.total)


def test_multi_output_and_frame():
    rng = np.random.default_rng(1)
    pred = RegressionPrediction.mixture(rng.normal(size=(3, 5, 2)), np.ones((3, 5, 2)))
    frame = pred.to_frame()
    assert list(frame.columns[:2]) == ["mean_0", "aleatoric_0"]
    assert len(frame) == 5
    assert pred[1:3].member_means.shape == (3, 2, 2)
    assert pred.quantile(0.5).shape == (5, 2)


def test_bad_targets_raise_clear_errors():
    pred = RegressionPrediction.normal(np.zeros(3), np.ones(3))
    with pytest.raises(InvalidInputError, match="shape"):
        pred.nll(np.zeros(4))
    with pytest.raises(InvalidInputError, match="NaN"):
        pred.nll(np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="alpha"):
        pred.interval(1.5)


def test_classification_entropy_split():
    members = np.array([[[0.9, 0.1], [0.5, 0.5]], [[0.1, 0.9], [0.5, 0.5]]])
    pred = ClassificationPrediction.from_members(members, classes=np.array(["x", "y"]))
    assert np.allclose(pred.probs, [[0.5, 0.5], [0.5, 0.5]])
    h = stats.entropy([0.9, 0.1])
    assert np.allclose(pred.total, np.log(2))
    assert np.allclose(pred.aleatoric, [h, np.log(2)])
    assert np.allclose(pred.epistemic, [np.log(2) - h, 0.0])
    assert pred.nll(["x", "y"]) == pytest.approx(np.log(2))
    with pytest.raises(InvalidInputError, match="not among the classes"):
        pred.nll(["x", "z"])


def test_dirichlet_closed_forms_match_monte_carlo():
    concentration = np.array([[2.0, 5.0, 1.5], [0.7, 0.9, 1.2]])
    pred = ClassificationPrediction.from_dirichlet(concentration)
    rng = np.random.default_rng(0)
    for i in range(2):
        samples = rng.dirichlet(concentration[i], size=200_000)
        expected_entropy = np.mean(-np.sum(samples * np.log(samples + 1e-300), axis=1))
        assert pred.aleatoric[i] == pytest.approx(expected_entropy, abs=5e-3)
        entropy = stats.dirichlet(concentration[i]).entropy()
        assert pred.differential_entropy[i] == pytest.approx(entropy)
    assert np.allclose(pred.vacuity, 3 / concentration.sum(axis=1))


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_identical_members_have_exactly_zero_mutual_information(k):
    # Regression test: the MI was total - aleatoric of two sums that round differently (the
    # einsum average and the weighted member entropies), giving 1e-16 instead of 0 for k = 3, 5.
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=12)
    pred = ClassificationPrediction.from_members(np.stack([p] * k))
    np.testing.assert_array_equal(pred.probs, p)
    np.testing.assert_array_equal(pred.epistemic, 0.0)


def test_mutual_information_equals_total_minus_aleatoric():
    rng = np.random.default_rng(1)
    members = rng.dirichlet(np.ones(4), size=(5, 30))
    pred = ClassificationPrediction.from_members(members, weights=[0.1, 0.3, 0.2, 0.0, 0.4])
    np.testing.assert_allclose(pred.probs, np.einsum("k,knc->nc", pred.weights, members))
    np.testing.assert_allclose(pred.epistemic, pred.total - pred.aleatoric, atol=1e-14)
    assert np.all(pred.epistemic >= 0)


def test_dirichlet_concentration_is_named_concentration():
    pred = ClassificationPrediction.from_dirichlet(concentration=[[2.0, 6.0]])
    np.testing.assert_array_equal(pred.concentration, [[2.0, 6.0]])
    np.testing.assert_allclose(pred.probs, [[0.25, 0.75]])
    assert pred[0:1].concentration.shape == (1, 2)


def test_ggd_scale_and_shape_keywords():
    pred = RegressionPrediction.ggd(loc=[0.0], scale=[1.0], shape=[1.0])  # a Laplace(0, 1)
    np.testing.assert_array_equal(pred.shape, [1.0])
    assert pred.aleatoric[0] == pytest.approx(2.0)
    assert pred.nll([0.5]) == pytest.approx(np.log(2.0) + 0.5)


def test_one_output_of_a_multi_output_mixture():
    rng = np.random.default_rng(2)
    means, variances = rng.normal(size=(3, 6, 2)), rng.uniform(0.5, 1.0, size=(3, 6, 2))
    pred = RegressionPrediction.mixture(means, variances)
    column = RegressionPrediction.mixture(means[:, :, 1], variances[:, :, 1])
    y = rng.normal(size=6)
    np.testing.assert_allclose(pred.output(1).log_prob(y), column.log_prob(y))
    np.testing.assert_allclose(pred.output(1).mean, pred.mean[:, 1])


def test_check_targets_accepts_a_column_vector():
    pred = RegressionPrediction.normal(np.zeros(3), np.ones(3))
    np.testing.assert_array_equal(pred.check_targets(np.ones((3, 1))), np.ones(3))
    with pytest.raises(InvalidInputError, match="shape"):
        pred.check_targets(np.ones((3, 2)))
