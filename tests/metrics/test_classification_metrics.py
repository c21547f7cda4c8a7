"""Classification metrics against netcal, sklearn and hand-computed cases."""

import numpy as np
import pytest
from netcal.metrics import ECE, MCE
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from uqkit.exceptions import InvalidInputError
from uqkit.metrics import (
    aurc,
    brier_score,
    classification_metrics,
    classification_nll,
    classwise_ece,
    expected_calibration_error,
    maximum_calibration_error,
    misclassification_detection,
    nll,
    ood_detection,
    reliability_curve,
    risk_coverage_curve,
    uncertainty_score,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction


@pytest.fixture(scope="module")
def sharp(helpers):
    """An over-confident 5-class model: a calibrated model's probabilities squared."""
    probs, labels = helpers.softmax_sample(4000, 5, seed=0)
    over = probs**2 / (probs**2).sum(1, keepdims=True)
    return over, labels


# ------------------------------------------------------------------------------ against netcal
@pytest.mark.parametrize("binning", ["equal_width", "equal_mass"])
@pytest.mark.parametrize("n_bins", [10, 15])
def test_ece_and_mce_match_netcal(sharp, binning, n_bins):
    probs, labels = sharp
    equal = binning == "equal_width"
    assert expected_calibration_error(probs, labels, n_bins, binning=binning) == pytest.approx(
        float(ECE(bins=n_bins, equal_intervals=equal).measure(probs, labels)), abs=1e-12
    )
    assert maximum_calibration_error(probs, labels, n_bins, binning=binning) == pytest.approx(
        float(MCE(bins=n_bins, equal_intervals=equal).measure(probs, labels)), abs=1e-12
    )


def test_classwise_ece_is_the_mean_of_netcal_binary_eces(sharp):
    probs, labels = sharp
    per_class = [
        float(ECE(bins=15).measure(probs[:, k], (labels == k).astype(int)))
        for k in range(probs.shape[1])
    ]
    assert classwise_ece(probs, labels) == pytest.approx(np.mean(per_class), abs=1e-12)


# ------------------------------------------------------------------------------ references
def test_nll_and_brier_against_sklearn_and_definition(sharp):
    probs, labels = sharp
    assert classification_nll(probs, labels) == pytest.approx(log_loss(labels, probs), rel=1e-10)
    assert nll(probs, labels) == classification_nll(probs, labels)
    onehot = np.eye(probs.shape[1])[labels]
    assert brier_score(probs, labels) == pytest.approx(np.mean(np.sum((probs - onehot) ** 2, 1)))


def test_detection_metrics_against_sklearn(sharp):
    probs, labels = sharp
    wrong = probs.argmax(1) != labels
    entropy = -np.sum(probs * np.log(probs), axis=1)
    result = misclassification_detection(probs, labels)
    assert result["auroc"] == pytest.approx(roc_auc_score(wrong, entropy))
    assert result["aupr"] == pytest.approx(average_precision_score(wrong, entropy))
    score = 1 - probs.max(1)
    ood = ood_detection(score[:2000], score[2000:] + 0.1)
    positive = np.r_[np.zeros(2000), np.ones(2000)]
    shifted = np.r_[score[:2000], score[2000:] + 0.1]
    assert ood["auroc"] == pytest.approx(roc_auc_score(positive, shifted))


def test_aurc_brute_force_and_tie_invariance(sharp):
    probs, labels = sharp
    score = 1 - probs.max(1)
    errors = (probs.argmax(1) != labels).astype(float)
    order = np.argsort(score, kind="stable")
    risks = np.cumsum(errors[order]) / np.arange(1, len(score) + 1)
    assert aurc(probs, labels) == pytest.approx(np.mean(risks))  # no ties here
    # a constant score: every order is equally likely, so the risk is the error rate throughout
    coverage, risk = risk_coverage_curve(probs, labels, score=np.ones(len(labels)))
    np.testing.assert_allclose(risk, errors.mean())
    np.testing.assert_allclose(coverage[-1], 1.0)


def test_aurc_of_a_perfect_ranking_matches_the_closed_form():
    rng = np.random.default_rng(0)
    n, rate = 10_000, 0.2
    wrong = rng.uniform(size=n) < rate
    labels = np.zeros(n, dtype=int)
    confidence = np.where(wrong, rng.uniform(0.5, 0.6, n), rng.uniform(0.7, 1.0, n))
    first = np.where(wrong, 1 - confidence, confidence)
    probs = np.c_[first, 1 - first]
    r = wrong.mean()
    assert aurc(probs, labels) == pytest.approx(r + (1 - r) * np.log(1 - r), abs=2e-3)


# ------------------------------------------------------------------------------ hand-computed
def test_hand_computed_ece_mce_and_reliability():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = [0, 1, 0, 1]
    # bin of 0.9: accuracy 1/2 (gap 0.4); bin of 0.6: accuracy 1/2 (gap 0.1)
    assert expected_calibration_error(probs, labels, 10) == pytest.approx((0.4 * 2 + 0.1 * 2) / 4)
    assert maximum_calibration_error(probs, labels, 10) == pytest.approx(0.4)
    curve = reliability_curve(probs, labels, 10)
    assert curve.counts.sum() == 4 and curve.counts[9] == 2 and curve.counts[6] == 2
    assert curve.accuracy[9] == 0.5 and curve.confidence[9] == pytest.approx(0.9)
    # classwise: class 0 probs (0.9, 0.9, 0.6, 0.6) vs hits (1, 0, 1, 0); class 1 mirrored
    assert classwise_ece(probs, labels, 10) == pytest.approx((0.4 * 2 + 0.1 * 2) / 4)
    assert aurc(probs, labels) == pytest.approx(0.5)  # one error in every tie group


def test_calibrated_model_has_small_ece_and_sharpened_model_large(helpers):
    probs, labels = helpers.softmax_sample(20_000, 4, seed=3)
    assert expected_calibration_error(probs, labels) < 0.015
    sharp = probs**3 / (probs**3).sum(1, keepdims=True)
    assert expected_calibration_error(sharp, labels) > 0.08
    assert np.mean(sharp.max(1)) > np.mean(sharp.argmax(1) == labels)  # over-confident


def test_predictions_with_labels_and_members():
    rng = np.random.default_rng(0)
    member_probs = rng.dirichlet(np.ones(3), size=(4, 50))
    pred = ClassificationPrediction.from_members(member_probs, classes=np.array(["x", "y", "z"]))
    labels = rng.choice(["x", "y", "z"], size=50)
    index = pred.class_index(labels)
    assert expected_calibration_error(pred, labels) == expected_calibration_error(pred.probs, index)
    np.testing.assert_allclose(uncertainty_score(pred, "epistemic"), pred.epistemic)
    metrics = classification_metrics(pred, labels)
    assert metrics["mean_epistemic"] == pytest.approx(np.mean(pred.epistemic))
    assert all(isinstance(v, float) for v in metrics.values())


def test_ood_detection_on_regression_predictions():
    inside = RegressionPrediction.normal(np.zeros(100), np.ones(100), np.full(100, 0.1))
    outside = RegressionPrediction.normal(np.zeros(100), np.ones(100), np.full(100, 2.0))
    assert ood_detection(inside, outside) == {"auroc": 1.0, "aupr": 1.0}
    assert ood_detection(inside, outside, score="aleatoric")["auroc"] == 0.5


def test_undefined_detection_gives_nan():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert np.isnan(misclassification_detection(probs, [0, 1])["auroc"])


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("probs", "labels", "message"),
    [
        (np.array([[0.5, 0.5], [0.5, 0.5]]), [0, 1, 1], "2 rows"),
        (np.array([[0.5, 0.6], [0.5, 0.5]]), [0, 1], "sum to one"),
        (np.array([[2.0, -1.0], [0.5, 0.5]]), [0, 1], "logits"),
        (np.array([[np.nan, 0.5], [0.5, 0.5]]), [0, 1], "NaN"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), [0, 2], "outside the classes"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), [0, -1], "outside the classes"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), [0.0, 0.5], "integer"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), ["a", "b"], "integer class indices"),
        (np.array([0.5, 0.5]), [0, 1], "shape"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(probs, labels, message):
    with pytest.raises(InvalidInputError, match=message):
        expected_calibration_error(probs, labels)


def test_unknown_labels_of_a_prediction_are_rejected():
    pred = ClassificationPrediction(np.array([[0.5, 0.5]]), classes=np.array(["a", "b"]))
    with pytest.raises(InvalidInputError, match="not among the classes"):
        brier_score(pred, ["c"])
    with pytest.raises(InvalidInputError, match="score"):
        misclassification_detection(pred, ["a"], score="spread")
