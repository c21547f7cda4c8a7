"""Deep ensembles through recalibration, save/load, reports and the ``uqkit report`` command."""

import numpy as np
import pandas as pd
import pytest

import uqkit
from uqkit.calibration import (
    ConformalClassifier,
    ConformalRegressor,
    IsotonicCalibration,
    TemperatureScaling,
    VarianceScaling,
)
from uqkit.cli import main
from uqkit.exceptions import ModelFileError
from uqkit.report import report

ensemble = pytest.importorskip("uqkit.ensemble")

SMALL = {"n_members": 3, "hidden_layers": (16,), "epochs": 20, "verbose": 0, "random_state": 0}


@pytest.fixture(scope="module")
def fitted_regressor(regressor_data):
    (X, y), _, _ = regressor_data
    return ensemble.DeepEnsembleRegressor(**SMALL).fit(X, y)


@pytest.fixture(scope="module")
def fitted_classifier(classifier_data):
    (X, y), _, _ = classifier_data
    return ensemble.DeepEnsembleClassifier(**SMALL).fit(X, y)


@pytest.mark.parametrize("wrapper", [VarianceScaling, IsotonicCalibration, ConformalRegressor])
def test_regression_wrappers_save_and_load_with_the_ensemble(
    tmp_path, fitted_regressor, regressor_data, wrapper
):
    _, (X_cal, y_cal), (X_test, _) = regressor_data
    calibrated = wrapper(fitted_regressor).fit(X_cal, y_cal)
    path = calibrated.save(tmp_path / "calibrated")
    loaded = uqkit.load(path)
    assert type(loaded) is wrapper and type(loaded.estimator) is type(fitted_regressor)
    before, after = calibrated.predict_uncertainty(X_test), loaded.predict_uncertainty(X_test)
    np.testing.assert_allclose(after.mean, before.mean, rtol=1e-6)
    np.testing.assert_allclose(after.total, before.total, rtol=1e-6)
    np.testing.assert_allclose(
        loaded.predict_interval(X_test, 0.1), calibrated.predict_interval(X_test, 0.1), rtol=1e-6
    )


def test_classification_wrappers_save_and_load(tmp_path, fitted_classifier, classifier_data):
    _, (X_cal, y_cal), (X_test, _) = classifier_data
    scaler = TemperatureScaling(fitted_classifier).fit(X_cal, y_cal)
    loaded = uqkit.load(scaler.save(tmp_path / "ts.safetensors"))
    assert loaded.temperature_ == scaler.temperature_
    np.testing.assert_allclose(
        loaded.predict_proba(X_test), scaler.predict_proba(X_test), rtol=1e-6
    )
    aps = ConformalClassifier(fitted_classifier, random_state=0).fit(X_cal, y_cal)
    loaded = uqkit.load(aps.save(tmp_path / "aps"))
    np.testing.assert_array_equal(loaded.predict_set(X_test), aps.predict_set(X_test))
    np.testing.assert_array_equal(loaded.classes_, fitted_classifier.classes_)


def test_tampered_wrapper_file_is_refused(tmp_path, fitted_regressor, regressor_data):
    _, (X_cal, y_cal), _ = regressor_data
    path = VarianceScaling(fitted_regressor).fit(X_cal, y_cal).save(tmp_path / "vs")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits in the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        uqkit.load(path)


def test_report_of_ensembles_with_ood(
    fitted_regressor, fitted_classifier, regressor_data, classifier_data
):
    _, (X_cal, y_cal), (X_test, y_test) = regressor_data
    scaled = VarianceScaling(fitted_regressor).fit(X_cal, y_cal)
    rep = report(
        [fitted_regressor, scaled], X_test, y_test, X_ood=X_test * 6, names=["ensemble", "scaled"]
    )
    summary = rep.summary()
    assert summary.loc["ensemble", "ood_auroc_epistemic"] > 0.8  # far from the training data
    assert abs(summary.loc["scaled", "coverage_90"] - 0.9) < 0.06
    assert summary.loc["ensemble", "rmse"] == pytest.approx(summary.loc["scaled", "rmse"])
    # evaluate() and the report agree
    assert fitted_regressor.evaluate(X_test, y_test)["nll"] == pytest.approx(
        summary.loc["ensemble", "nll"]
    )
    _, _, (Xc_test, yc_test) = classifier_data
    rep = report(fitted_classifier, Xc_test, yc_test, X_ood=Xc_test + 12)
    assert rep.summary().iloc[0]["accuracy"] > 0.7


def test_cli_report(tmp_path, fitted_regressor, regressor_data, capsys):
    _, _, (X_test, y_test) = regressor_data
    model_path = fitted_regressor.save(tmp_path / "model")
    frame = pd.DataFrame(X_test, columns=["x0", "x1"]).assign(target=y_test)
    frame.to_csv(tmp_path / "data.csv", index=False)
    (frame.drop(columns="target") * 5).to_csv(tmp_path / "ood.csv", index=False)
    output = tmp_path / "out" / "report.html"
    code = main(
        [
            "report",
            str(model_path),
            str(tmp_path / "data.csv"),
            "--target",
            "target",
            "--ood",
            str(tmp_path / "ood.csv"),
            "-o",
            str(output),
        ]
    )
    assert code == 0
    text = output.read_text()
    assert '<section id="ood">' in text and "DeepEnsembleRegressor" in text
    assert "Report written to" in capsys.readouterr().out
    # bad input: an unknown target column, a missing model file
    code = main(["report", str(model_path), str(tmp_path / "data.csv"), "--target", "nope"])
    assert code == 2 and "no column 'nope'" in capsys.readouterr().err
    code = main(["report", str(tmp_path / "none"), str(tmp_path / "data.csv"), "--target", "x0"])
    assert code == 2 and "No model file" in capsys.readouterr().err
