import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

import uqkit
from tests.helpers import FAST, blobs, sine_data
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.exceptions import InvalidInputError, ModelFileError, NotFittedError


@pytest.mark.parametrize("make", [
    lambda: (DeepEnsembleRegressor(n_members=2, **FAST), *sine_data()),
    lambda: (DeepEnsembleClassifier(n_members=2, **FAST), *blobs()),
])
def test_save_load_gives_identical_predictions(tmp_path, make):
    model, X, y = make()
    model.fit(X, y)
    path = model.save(tmp_path / "model")
    assert path.suffix == ".safetensors"
    loaded = uqkit.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    a, b = model.predict_uncertainty(X), loaded.predict_uncertainty(X)
    if hasattr(a, "member_means"):
        assert np.array_equal(a.member_means, b.member_means)
        assert np.array_equal(a.member_vars, b.member_vars)
    else:
        assert np.array_equal(a.member_probs, b.member_probs)
        assert np.array_equal(loaded.classes_, model.classes_)


def test_tampered_or_foreign_files_fail_cleanly(tmp_path):
    from safetensors.torch import load_file, save_file

    X, y = sine_data()
    path = DeepEnsembleRegressor(n_members=1, **FAST).fit(X, y).save(tmp_path / "m.safetensors")
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # flip a bit in a weight
    (tmp_path / "bit.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="modified"):
        uqkit.load(tmp_path / "bit.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="not a readable"):
        uqkit.load(tmp_path / "junk.safetensors")
    # a header naming a class outside uqkit is refused even with a valid checksum
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["uqkit"])
    header["class"] = "os:system"
    text = json.dumps(header, sort_keys=True)
    from uqkit._io import digest

    tensors = load_file(str(path))
    save_file(tensors, str(tmp_path / "evil.safetensors"),
              metadata={"uqkit": text, "sha256": digest(text, tensors)})
    with pytest.raises(ModelFileError, match="not a uqkit estimator"):
        uqkit.load(tmp_path / "evil.safetensors")
    with pytest.raises(ModelFileError, match="No model file"):
        uqkit.load(tmp_path / "missing.safetensors")


def test_custom_module_cannot_be_saved(tmp_path):
    X, y = sine_data(n=50)
    model = DeepEnsembleRegressor(n_members=1, module=lambda i, o: torch.nn.Linear(i, o), **FAST)
    model.fit(X, y)
    with pytest.raises(ModelFileError, match="never code"):
        model.save(tmp_path / "m")


@pytest.mark.parametrize("Model, data", [(DeepEnsembleRegressor, sine_data),
                                         (DeepEnsembleClassifier, blobs)])
def test_bad_input_gets_a_clear_error(Model, data):
    X, y = data()
    model = Model(n_members=1, **FAST)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.predict(X)
    bad = X.copy()
    bad[3, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        model.fit(bad, y)
    bad[3, 0] = np.inf
    with pytest.raises(InvalidInputError, match="infinity"):
        model.fit(bad, y)
    with pytest.raises(InvalidInputError, match="inconsistent numbers of samples"):
        model.fit(X, y[:-1])
    with pytest.raises(InvalidInputError, match="minimum of 2"):
        model.fit(X[:1], y[:1])
    with pytest.raises(InvalidInputError, match="too few to hold out"):
        Model(n_members=1, validation_fraction=0.5, **FAST).fit(X[:3], y[:3])
    with pytest.raises(InvalidParameterError, match=r"'lr' parameter of .* must be a float in"):
        Model(lr=-1.0).fit(X, y)
    with pytest.raises(InvalidInputError, match="hidden_layers"):
        Model(hidden_layers=(0,), **FAST).fit(X, y)
    model.fit(X, y)
    with pytest.raises(InvalidInputError, match="features"):
        model.predict(np.hstack([X, X]))


def test_one_class_is_refused():
    X, y = blobs()
    with pytest.raises(InvalidInputError, match="at least two classes"):
        DeepEnsembleClassifier(**FAST).fit(X, np.full(len(y), "a"))


def test_regression_targets_must_be_finite():
    X, y = sine_data()
    y[0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        DeepEnsembleRegressor(**FAST).fit(X, y)


def test_dataframes_and_tensors_are_accepted():
    X, y = sine_data()
    frame = pd.DataFrame(X, columns=["x"])
    model = DeepEnsembleRegressor(n_members=1, **FAST).fit(frame, pd.Series(y))
    assert list(model.feature_names_in_) == ["x"]
    a = model.predict(frame)
    b = model.predict(torch.as_tensor(X))
    assert np.allclose(a, b)


def test_random_state_none_is_recorded_and_reproducible():
    X, y = sine_data()
    first = DeepEnsembleRegressor(n_members=1, epochs=3, verbose=0).fit(X, y)
    again = DeepEnsembleRegressor(n_members=1, epochs=3, verbose=0,
                                  random_state=first.random_state_).fit(X, y)
    assert np.array_equal(first.predict(X), again.predict(X))


# ---------------------------------------------------------------- issue 17: arguments misread
def test_non_numeric_targets_to_a_regressor_get_a_clear_error():
    X, _ = sine_data()
    y = np.array(["cat", "dog"] * (len(X) // 2))
    with pytest.raises(InvalidInputError, match=r"y must be numeric; got non-numeric values such "
                                                r"as 'cat'.*use a classifier"):
        DeepEnsembleRegressor(**FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="'dog'"):
        DeepEnsembleRegressor(**FAST).fit(X, np.array([1.0, "dog"] * (len(X) // 2), dtype=object))


@pytest.mark.parametrize("device, match", [
    ("tpu", "device='tpu' is not a device torch knows; use 'auto', 'cpu', 'cuda'"),
    ("cuda:x", "is not a device torch knows"),
])
def test_unknown_device_gets_a_clear_error(device, match):
    X, y = sine_data()
    with pytest.raises(InvalidInputError, match=match):
        DeepEnsembleRegressor(device=device, **FAST).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_gets_a_clear_error():
    from uqkit._data import resolve_device

    with pytest.raises(InvalidInputError, match="CUDA is not available here; use device='cpu'"):
        resolve_device("cuda:0")


@pytest.mark.parametrize("name, data", [
    ("DeepEnsembleRegressor", sine_data), ("DeepEnsembleClassifier", blobs),
    ("EvidentialRegressor", sine_data), ("DCARegressor", sine_data),
    ("BayesianMLPRegressor", sine_data),
])
def test_empty_hidden_layers_is_not_a_silent_linear_model(name, data):
    X, y = data()
    Model = getattr(uqkit, name)
    with pytest.raises(InvalidInputError, match=r"hidden_layers=\(\) would give a linear model.*"
                                                r"hidden_layers=\(50,\)"):
        Model(hidden_layers=(), random_state=0).fit(X, y)


def test_absurd_widths_are_refused_before_allocating():
    X, y = sine_data()
    with pytest.raises(InvalidInputError, match=r"needs about 2e\+12 parameters per network"):
        DeepEnsembleRegressor(hidden_layers=(10**12,), **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match="parameters per network"):
        DeepEnsembleRegressor(hidden_layers=(10**5, 10**5), **FAST).fit(X, y)


def test_interval_alpha_of_an_estimator_cannot_be_misread():
    X, y = sine_data()
    model = DeepEnsembleRegressor(n_members=2, **FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"did you mean alpha=0\.1"):
        model.predict_interval(X, 0.9)
    np.testing.assert_allclose(np.stack(model.predict_interval(X, coverage=0.9)),
                               np.stack(model.predict_interval(X, 0.1)), rtol=1e-12)
