"""Calibration reports: numbers, verdicts and the HTML/Markdown/JSON exports."""

import base64
import json
import re

import numpy as np
import pytest

from uqkit.calibration import ConformalRegressor
from uqkit.exceptions import InvalidInputError
from uqkit.metrics import classification_metrics, regression_metrics
from uqkit.prediction import ClassificationPrediction, RegressionPrediction
from uqkit.report import CalibrationReport, report


def _regression_predictions(n=800, seed=0):
    """Truth with unit noise; an ensemble-like mixture at three std factors, and an OOD set."""
    rng = np.random.default_rng(seed)
    center = rng.normal(size=n)
    y = center + rng.normal(size=n)
    members = center + 0.1 * rng.normal(size=(4, n))

    def model(factor, spread=1.0, shift=0.0):
        means = center + shift + spread * (members - center)
        return RegressionPrediction.mixture(means, np.full((4, n), factor**2))

    ood = RegressionPrediction.mixture(center + 3.0 * rng.normal(size=(4, n)), np.ones((4, n)))
    return y, {"narrow": model(0.4), "right": model(1.0), "wide": model(2.5)}, ood


def _classification_predictions(n=1500, seed=0, sharpness=3.0):
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.normal(size=(n, 4))
    true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = (rng.uniform(size=(n, 1)) > true.cumsum(1)).sum(1).clip(0, 3)
    members = true[None] * np.exp(0.05 * rng.normal(size=(3, n, 4)))
    members = members**sharpness / (members**sharpness).sum(-1, keepdims=True)
    pred = ClassificationPrediction.from_members(members)
    far = rng.dirichlet(np.ones(4) * 0.3, size=(3, 300))  # members that disagree
    return labels, pred, ClassificationPrediction.from_members(far)


def test_regression_report_several_predictions_with_ood(tmp_path):
    y, preds, ood = _regression_predictions()
    rep = report(list(preds.values()), None, y, X_ood=[ood] * 3, names=list(preds), n_boot=100)
    assert isinstance(rep, CalibrationReport) and rep.task == "regression"
    summary = rep.summary()
    assert list(summary.index) == ["narrow", "right", "wide"]
    expected = regression_metrics(preds["narrow"], y)
    for key, value in expected.items():
        assert summary.loc["narrow", key] == pytest.approx(value)
    assert summary.loc["right", "ood_auroc_epistemic"] > 0.95
    verdicts = rep.verdicts()
    assert verdicts["narrow"][0].startswith("Over-confident")
    assert verdicts["right"][0].startswith("Calibrated on average")
    assert verdicts["wide"][0].startswith("Under-confident")
    assert any("out-of-distribution" in s and "separates" in s for s in verdicts["right"])
    assert any(s.startswith("Best NLL: right") for s in rep.comparison())
    assert rep.best()["nll"] == "right"

    # the HTML of one model (the figures of several are tested with classification)
    single = report(preds["right"], None, y, X_ood=ood, names=["right"], n_boot=50)
    path = single.to_html(tmp_path / "sub" / "report.html")
    text = path.read_text()
    ids = ["summary", "context", "verdicts", "calibration", "coverage", "pit", "sharpness",
           "error-vs-std", "ood", "ood-roc", "definitions"]
    for section in ids:
        assert f'<section id="{section}">' in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 7
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert "http://" not in text and "https://" not in text  # self-contained


def test_classification_report_exports(tmp_path):
    labels, pred, ood = _classification_predictions()
    calibrated_labels, calibrated, _ = _classification_predictions(sharpness=1.0)
    rep = report({"sharp": pred}, None, labels, X_ood=ood, n_boot=100)
    assert rep.task == "classification" and rep.n_ood == 300
    metrics = rep.summary().loc["sharp"]
    for key, value in classification_metrics(pred, labels).items():
        assert metrics[key] == pytest.approx(value, nan_ok=True)
    verdict = rep.verdicts()["sharp"]
    assert verdict[0].startswith("Over-confident")
    assert any("over-confident at high confidence" in s for s in verdict)
    assert metrics["ood_auroc_epistemic"] > 0.9
    # a calibrated model gets no over-confidence verdict
    calm = report(calibrated, None, calibrated_labels, n_boot=50).verdicts()["prediction 1"]
    assert calm[0].startswith("Calibrated on average")

    document = json.loads(rep.to_json())
    assert document["task"] == "classification"
    assert document["models"][0]["verdict"] == verdict
    assert len(document["models"][0]["curves"]["reliability"]["counts"]) == 15
    markdown = rep.to_markdown()
    for heading in ("## Summary", "## Verdicts", "### sharp", "## Metric definitions"):
        assert heading in markdown
    assert "| [ECE](#ece) ↓ |" in markdown
    text = rep.to_html(tmp_path / "clf.html").read_text()
    for section in ("reliability", "confidence", "selective", "ood", "ood-roc"):
        assert f'<section id="{section}">' in text
    assert len(re.findall(r"<img ", text)) == 5


def test_reports_from_models_without_ood(helpers, regressor_data, classifier_data):
    (X, y), (X_cal, y_cal), (X_test, y_test) = regressor_data
    narrow = helpers.LinearGaussianRegressor(std_factor=0.5).fit(X, y)
    conformal = ConformalRegressor(narrow).fit(X_cal, y_cal)
    rep = report([narrow, conformal], X_test, y_test, n_boot=100)
    assert rep.names == ["LinearGaussianRegressor", "ConformalRegressor"]
    summary = rep.summary()
    assert summary.loc["LinearGaussianRegressor", "coverage_90"] < 0.75
    assert summary.loc["ConformalRegressor", "coverage_90"] == pytest.approx(0.9, abs=0.04)
    assert "conformal intervals" in rep.verdicts()["ConformalRegressor"][0]
    assert "ood" not in rep.figures()
    assert "ood_auroc_total" not in summary.columns

    (Xc, yc), _, (Xc_test, yc_test) = classifier_data
    models = [helpers.TemperedSoftmaxClassifier(sharpness=s).fit(Xc, yc) for s in (1.0, 5.0)]
    rep = report(models, Xc_test, yc_test, names=["plain", "sharp"], n_boot=50)
    assert rep.summary().loc["sharp", "ece"] > rep.summary().loc["plain", "ece"]
    # a single model has no epistemic part: OOD detection falls back to total uncertainty
    rep = report(models[0], Xc_test, yc_test, X_ood=Xc_test * 4, n_boot=50)
    assert any("no epistemic component" in s for s in rep.verdicts()["TemperedSoftmaxClassifier"])


def test_report_bad_input(helpers):
    y, preds, _ = _regression_predictions(n=50)
    _, clf, _ = _classification_predictions(n=50)
    with pytest.raises(InvalidInputError, match="one task"):
        report([preds["right"], clf], None, y)
    with pytest.raises(InvalidInputError, match="names"):
        report([preds["right"], preds["wide"]], None, y, names=["a"])
    with pytest.raises(InvalidInputError, match="unique"):
        report([preds["right"], preds["wide"]], None, y, names=["a", "a"])
    with pytest.raises(InvalidInputError, match="X is required"):
        report(helpers.LinearGaussianRegressor(), None, y)
    with pytest.raises(InvalidInputError, match="OOD prediction"):
        report(preds["right"], None, y, X_ood=np.zeros((5, 2)))
    with pytest.raises(InvalidInputError, match="at least one"):
        report([], None, y)
    with pytest.raises(InvalidInputError, match="entries"):
        report(preds["right"], None, y[:-1])
    with pytest.raises(InvalidInputError, match="NaN"):
        report(preds["right"], None, np.where(np.arange(50) == 3, np.nan, y))
    with pytest.raises(InvalidInputError, match="not among the classes"):
        report(clf, None, np.full(50, 7))
    with pytest.raises(InvalidInputError, match="fitted uqkit model"):
        report("model.safetensors", None, y)


def test_report_states_the_models_settings_and_the_data(helpers, regressor_data, tmp_path):
    import pandas as pd

    (X, y), (X_cal, y_cal), (X_test, y_test) = regressor_data
    narrow = helpers.LinearGaussianRegressor(std_factor=0.5).fit(X, y)
    conformal = ConformalRegressor(narrow).fit(X_cal, y_cal)
    target = pd.Series(y_test, name="strength")
    rep = report([narrow, conformal], X_test, target, n_boot=50,
                 description="held-out rows of the dummy data")
    contexts = rep.contexts()
    assert contexts["LinearGaussianRegressor"]["parameters"] == {"std_factor": "0.5"}
    assert "wraps LinearGaussianRegressor" in contexts["ConformalRegressor"]["wrapper"]
    assert "conformal" in contexts["ConformalRegressor"]["wrapper"]
    assert rep.data == {"rows": len(y_test), "features": X_test.shape[1], "target": "strength",
                        "description": "held-out rows of the dummy data"}
    text = rep.to_html(tmp_path / "r.html").read_text()
    assert "std_factor=0.5" in text and "held-out rows of the dummy data" in text
    assert "target strength" in text
    document = json.loads(rep.to_json())
    assert document["models"][1]["context"]["wrapper"].startswith("wraps")
