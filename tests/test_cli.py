import subprocess
import sys

import numpy as np
import pytest

import uqkit
from uqkit.cli import build_parser, main


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out


def test_every_subcommand_has_help():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        text = sub.format_help()
        assert sub.description or name in text, name


def test_demo_writes_table_plot_and_model(tmp_path, capsys):
    code = main(["demo", "--output", str(tmp_path), "--epochs", "5", "--members", "2", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "90% interval coverage" in out and "RMSE" in out
    assert (tmp_path / "predictions.png").stat().st_size > 10_000
    model = uqkit.load(tmp_path / "model.safetensors")
    assert model.n_members == 2


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "uqkit.cli", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.startswith("uqkit ")


# ------------------------------------------------------------------- report: CSV columns
@pytest.fixture(scope="module")
def frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    data["y"] = 3 * data["a"] + np.sin(data["b"]) - data["c"]
    return data


def _fitted(frame, tmp_path, *, named: bool):
    from uqkit.ensemble import DeepEnsembleRegressor

    X = frame[["a", "b", "c"]]
    model = DeepEnsembleRegressor(n_members=2, epochs=5, verbose=0, random_state=0)
    model.fit(X if named else X.to_numpy(), frame["y"])
    return model, model.save(tmp_path / ("named" if named else "array"))


def _seen_by_report(monkeypatch):
    """Record the features that `uqkit report` hands to the report, without building one."""
    import uqkit.report

    seen = {}

    def fake_report(model, X, y, X_ood=None, names=None):
        seen["X"] = X
        raise uqkit.exceptions.UQKitError("stopped after reading the CSV")

    monkeypatch.setattr(uqkit.report, "report", fake_report)
    return seen


def test_report_matches_csv_columns_to_the_fitted_names(frame, tmp_path, monkeypatch):
    import numpy as np

    _, path = _fitted(frame, tmp_path, named=True)
    frame[["y", "c", "a", "b"]].assign(extra=1.0).to_csv(tmp_path / "d.csv", index=False)
    seen = _seen_by_report(monkeypatch)
    main(["report", str(path), str(tmp_path / "d.csv"), "--target", "y"])
    assert list(seen["X"].columns) == ["a", "b", "c"]
    np.testing.assert_array_equal(np.asarray(seen["X"]), frame[["a", "b", "c"]].to_numpy())


def test_report_refuses_a_csv_without_the_fitted_names(frame, tmp_path, capsys):
    _, path = _fitted(frame, tmp_path, named=True)
    frame[["y", "c", "a"]].rename(columns={"a": "A"}).to_csv(tmp_path / "d.csv", index=False)
    code = main(["report", str(path), str(tmp_path / "d.csv"), "--target", "y"])
    err = capsys.readouterr().err
    assert code == 2
    assert "lacks the feature columns ['a', 'b']" in err and "fitted feature names" in err


def test_report_without_feature_names_warns_about_file_order(
    frame, tmp_path, monkeypatch, capsys
):
    from uqkit.exceptions import UQKitWarning

    _, path = _fitted(frame, tmp_path, named=False)
    frame[["c", "a", "b", "y"]].to_csv(tmp_path / "d.csv", index=False)
    seen = _seen_by_report(monkeypatch)
    with pytest.warns(UQKitWarning, match="taken in file order"):
        main(["report", str(path), str(tmp_path / "d.csv"), "--target", "y"])
    assert seen["X"].shape == (80, 3)
    frame[["c", "a", "y"]].to_csv(tmp_path / "short.csv", index=False)
    code = main(["report", str(path), str(tmp_path / "short.csv"), "--target", "y"])
    assert code == 2 and "order used at fit" in capsys.readouterr().err


def test_report_compares_two_saved_models_in_each_format(frame, tmp_path, capsys):
    import json

    _, first = _fitted(frame, tmp_path / "one", named=True)
    _, second = _fitted(frame, tmp_path / "two", named=True)
    frame.to_csv(tmp_path / "d.csv", index=False)
    for name in ("out.html", "out.md", "out.json"):
        code = main(["report", str(first), str(second), "--data", str(tmp_path / "d.csv"),
                     "--target", "y", "--bootstrap", "50", "--name", "one", "--name", "two",
                     "-o", str(tmp_path / name)])
        assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "out.md").read_text().startswith("# Calibration report (regression)")
    assert (tmp_path / "out_files" / "coverage.png").exists()
    document = json.loads((tmp_path / "out.json").read_text())
    assert [m["name"] for m in document["models"]] == ["one", "two"]
    assert document["data"]["target"] == "y" and document["bootstrap"]["resamples"] == 50
    code = main(["report", str(first), "--data", str(tmp_path / "d.csv"), "--target", "y",
                 "-o", str(tmp_path / "out.txt")])
    assert code == 2 and ".html, .md or .json" in capsys.readouterr().err


def test_demo_help_prints_a_single_percent_sign(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "90% interval" in out.replace("\n", " ").replace("  ", " ") and "%%" not in out


def test_a_user_error_is_one_line_on_stderr_not_a_traceback(tmp_path, capsys):
    code = main(["search", str(tmp_path / "missing.yaml"), "--dataset", "yacht"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("uqkit search: error: Cannot read the search config")
    assert "Traceback" not in err


def test_search_reads_the_users_csv(tmp_path):
    import pandas as pd

    from uqkit.cli._search import csv_problem
    from uqkit.exceptions import InvalidInputError

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    frame["y"] = frame["a"] - frame["b"]
    frame.to_csv(tmp_path / "train.csv", index=False)
    X, y, X_test, y_test, name = csv_problem(tmp_path / "train.csv", "y", None, 0.2, seed=0)
    np.testing.assert_array_equal(y_test, frame["y"].to_numpy()[X_test.index])
    assert name == "train" and list(X.columns) == ["a", "b"]
    assert (len(X), len(X_test)) == (40, 10)
    assert sorted([*X.index, *X_test.index]) == list(range(50))  # a partition of the rows
    np.testing.assert_array_equal(y, frame["y"].to_numpy()[X.index])
    again = csv_problem(tmp_path / "train.csv", "y", None, 0.2, seed=0)
    assert list(again[2].index) == list(X_test.index)  # seeded
    # a separate test file is used as given
    frame.iloc[:5].to_csv(tmp_path / "test.csv", index=False)
    assert len(csv_problem(tmp_path / "train.csv", "y", tmp_path / "test.csv", 0.1, 0)[2]) == 5
    with pytest.raises(InvalidInputError, match="no column 'z'"):
        csv_problem(tmp_path / "train.csv", "z", None, 0.1, 0)
    with pytest.raises(InvalidInputError, match="--target"):
        csv_problem(tmp_path / "train.csv", None, None, 0.1, 0)
    frame.assign(c="text").to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"\['c'\] are not numeric"):
        csv_problem(tmp_path / "text.csv", "y", None, 0.1, 0)
    frame[["b", "a", "y"]].to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(InvalidInputError, match="differ"):
        csv_problem(tmp_path / "train.csv", "y", tmp_path / "other.csv", 0.1, 0)
