"""``uqkit search CONFIG --data TABLE --target COL`` end to end on a table made here: a tiny
search on the local Ray, the saved model keeps the table's feature names, and the config's
``data:`` section does the same as the flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import uqkit
from uqkit.cli import main
from uqkit.cli._search import data_arguments, load_config, read_table
from uqkit.exceptions import InvalidInputError

pytestmark = pytest.mark.ray

CONFIG = """\
search:
  n_trials: 2
  ensemble_size: 2
  searcher: random
  selection: topk
  max_concurrent: 2
space:
  max_layers: 1
  units: [8, 16]
  epochs: 3
  patience: 2
ray:
  checkpoint_dir: {storage}
  max_retries: 0
"""


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"speed": rng.normal(size=120), "load": rng.normal(size=120)})
    frame["power"] = frame["speed"] - 0.5 * frame["load"] + 0.1 * rng.normal(size=120)
    frame.to_csv(tmp_path / "train.csv", index=False)
    return frame


def test_search_on_the_users_csv_keeps_feature_names(ray_session, table, tmp_path, capsys):
    config = tmp_path / "search.yaml"
    config.write_text(CONFIG.format(storage=tmp_path / "runs"))
    out = tmp_path / "out"
    code = main(["search", str(config), "--data", str(tmp_path / "train.csv"), "--target",
                 "power", "--test-fraction", "0.25", "--output", str(out), "--no-report", "-q"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "train: test NLL" in printed
    model = uqkit.load(out / "model.safetensors")
    assert list(model.feature_names_in_) == ["speed", "load"]
    assert np.isfinite(model.predict(table[["speed", "load"]].iloc[:5])).all()
    with pytest.raises(InvalidInputError, match="feature names"):  # names are checked
        model.predict(table[["load", "speed"]].iloc[:5])
    # a rerun without --resume on the same storage is a one-line error, exit status 2
    code = main(["search", str(config), "--data", str(tmp_path / "train.csv"), "--target",
                 "power", "--output", str(out), "--no-report", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_config_data_section_is_the_flags(table, tmp_path):
    table.to_parquet(tmp_path / "train.parquet")
    config = tmp_path / "search.yaml"
    config.write_text("data:\n  train: train.parquet\n  target: power\n  test_fraction: 0.3\n")
    loaded = load_config(config)

    class Flags:
        data = target = test = test_fraction = None

    train, target, test, fraction = data_arguments(loaded, Flags)
    assert train == tmp_path / "train.parquet"  # relative to the config's folder
    assert (target, test, fraction) == ("power", None, 0.3)
    pd.testing.assert_frame_equal(read_table(train), table)
    Flags.target, Flags.test_fraction = "speed", 0.5  # the command line wins
    assert data_arguments(loaded, Flags)[1:] == ("speed", None, 0.5)


@pytest.mark.parametrize("text, match", [
    ("data:\n  train: a.csv\n  taget: y\n", r"unknown keys \['taget'\] in the 'data' section"),
    ("data: a.csv\n", "'data' must be a mapping"),
    ("dataset: yacht\ndata:\n  train: a.csv\n", "both 'dataset'"),
])
def test_bad_data_sections_are_refused(tmp_path, text, match):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(InvalidInputError, match=match):
        load_config(config)


def test_unreadable_tables_are_one_line_errors(tmp_path, capsys):
    config = tmp_path / "search.yaml"
    config.write_text("search:\n  n_trials: 1\n")
    (tmp_path / "train.xlsx").write_text("x")
    for table, match in [("train.xlsx", "use a .csv or .parquet file"),
                         ("missing.parquet", "Cannot read the table")]:
        code = main(["search", str(config), "--data", str(tmp_path / table), "--target", "y"])
        err = capsys.readouterr().err
        assert code == 2 and match in err and "Traceback" not in err
