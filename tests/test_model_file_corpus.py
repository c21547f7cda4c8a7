"""A corpus of damaged model files (issue 17, item 10), for every family that saves.

Each registered estimator that can be saved is fitted (quick settings), saved, and its file is
damaged in every way bytes get damaged (truncated anywhere, emptied, a byte flipped in the
header, in the uqkit metadata or in the tensor data, garbage, trailing bytes, a folder in its
place) and in the ways a careless or hostile edit with a recomputed checksum changes it (another
class, an unknown or a missing parameter, a ``module`` reference to ``os:system`` or garbled,
a fitted attribute dropped, a format version). The
outcome of ``uqkit.load`` must be a ``ModelFileError`` that says what is wrong, or a model that
predicts exactly as the original; never another exception, never different numbers.
"""

from __future__ import annotations

import functools
import json
import struct

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import uqkit
from tests.adversarial._outcome import probe
from tests.helpers import make_case
from uqkit._io import digest
from uqkit.exceptions import ModelFileError
from uqkit.utils import all_estimators

# one per family and prediction path; the recalibrators nest their model in the same file
CLASSES = ["DeepEnsembleRegressor", "DCAClassifier", "EvidentialRegressor", "GPRegressor",
           "BayesianMLPClassifier", "ConformalRegressor", "TemperatureScaling"]
ESTIMATORS = dict(all_estimators())


@functools.cache
def _saved(name: str, folder):
    case = make_case(ESTIMATORS[name])
    model = case.fit()
    path = model.save(folder / name)
    (X,) = case.predict_args
    return path, X, model.predict_uncertainty(X)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return lambda name: _saved(name, folder)


def _header_size(raw: bytes) -> int:
    return struct.unpack("<Q", raw[:8])[0]


def _byte_damages(raw: bytes) -> dict[str, bytes]:
    size = _header_size(raw)
    metadata = raw.index(b'"uqkit"')  # inside the safetensors JSON header
    flip = lambda at: raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]  # noqa: E731
    return {
        "empty": b"",
        "7_bytes": raw[:7],
        "header_only_half": raw[: 8 + size // 2],
        "header_without_data": raw[: 8 + size],
        "data_half": raw[: 8 + size + (len(raw) - 8 - size) // 2],
        "last_byte_missing": raw[:-1],
        "length_field_huge": struct.pack("<Q", 2**62) + raw[8:],
        "flip_in_json_syntax": flip(8),
        "flip_in_uqkit_metadata": flip(metadata + 20),
        "flip_in_tensor_data": flip(8 + size + (len(raw) - 8 - size) // 2),
        "garbage": np.random.default_rng(0).bytes(len(raw)),
        "trailing_bytes": raw + b"\x00" * 64,
    }


def _edits() -> dict[str, callable]:
    def other_class(h):
        h["class"] = ("uqkit.ensemble._classifier:DeepEnsembleClassifier"
                      if "Regressor" in h["class"] else
                      "uqkit.ensemble._regressor:DeepEnsembleRegressor")

    def os_system(h):
        h["class"] = "os:system"

    def abstract(h):
        h["class"] = "uqkit.base:UQEstimator"

    def module_os_system(h):  # a network module naming code outside any trusted package
        h["params"]["module"] = "os:system"

    def module_reference_garbled(h):
        h["params"]["module"] = {"kind": "code", "source": "import os"}

    def unknown_param(h):
        h["params"]["not_a_parameter"] = 1

    def missing_param(h):
        h["params"].pop(sorted(h["params"])[0])

    def bad_param_value(h):
        key = sorted(h["params"])[0]
        h["params"][key] = {"kind": "nonsense"}

    def state_dropped(h):
        h["state"].pop(sorted(h["state"])[0])

    def state_garbled(h):
        key = sorted(h["state"])[0]
        h["state"][key] = {"kind": "tensor", "value": "no-such-tensor"}

    def newer_format(h):
        h["format_version"] = 99

    return {f.__name__: f for f in (other_class, os_system, abstract, module_os_system,
                                    module_reference_garbled, unknown_param, missing_param,
                                    bad_param_value, state_dropped, state_garbled,
                                    newer_format)}


def _judge(path, X, reference):
    outcome = probe(lambda: uqkit.load(path))
    if outcome.error is not None:
        assert isinstance(outcome.error, ModelFileError), (
            f"{type(outcome.error).__name__} instead of a ModelFileError: {outcome.error}")
        return "error"
    pred = outcome.value.predict_uncertainty(X)  # loaded: it must be the same model
    for name in ("probs", "mean", "total"):
        if hasattr(reference, name):
            np.testing.assert_array_equal(getattr(pred, name), getattr(reference, name))
    return "same model"


@pytest.mark.parametrize("damage", list(_byte_damages(b"\x10" + b"\x00" * 7 + b'{"uqkit"'
                                                      + b" " * 40)))
@pytest.mark.parametrize("name", CLASSES)
def test_damaged_bytes(saved, name, damage, tmp_path):
    path, X, reference = saved(name)
    target = tmp_path / "damaged.safetensors"
    target.write_bytes(_byte_damages(path.read_bytes())[damage])
    assert _judge(target, X, reference) == "error"


@pytest.mark.parametrize("edit", list(_edits()))
@pytest.mark.parametrize("name", CLASSES)
def test_edited_headers_with_a_recomputed_checksum(saved, name, edit, tmp_path):
    path, X, reference = saved(name)
    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["uqkit"])
    if edit.startswith("state") and not header.get("state"):
        pytest.skip("no fitted attributes stored outside modules")
    if edit in ("missing_param", "bad_param_value") and not header["params"]:
        pytest.skip("its only parameter is the nested model")
    _edits()[edit](header)
    text = json.dumps(header, sort_keys=True)
    tensors = load_file(str(path))
    target = tmp_path / "edited.safetensors"
    save_file(tensors, str(target), metadata={"uqkit": text, "sha256": digest(text, tensors)})
    _judge(target, X, reference)


def test_a_folder_or_a_missing_file_in_place_of_the_model(tmp_path):
    (tmp_path / "model.safetensors").mkdir()
    for path in (tmp_path / "model.safetensors", tmp_path / "absent.safetensors"):
        outcome = probe(lambda p=path: uqkit.load(p))
        assert outcome.error is not None, path
