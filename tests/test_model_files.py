"""Model files are checked before they are trusted (issue 17, item 7).

Every test crafts a damaged or foreign file and expects a :class:`ModelFileError` whose message
names the problem and the fix; none needs a GPU.
"""

import json
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import uqkit
from tests.helpers import sine_data
from uqkit._io import digest
from uqkit.bayes import BayesianMLPRegressor, GPRegressor
from uqkit.ensemble import DeepEnsembleRegressor
from uqkit.exceptions import InvalidInputError, ModelFileError

SMALL = {"n_members": 1, "hidden_layers": (8,), "epochs": 3, "verbose": 0, "random_state": 0}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small fitted ensemble, its data and its file."""
    X, y = sine_data(n=60)
    model = DeepEnsembleRegressor(**SMALL).fit(X, y)
    path = model.save(tmp_path_factory.mktemp("model") / "model")
    return model, X, path


def _header(path) -> dict:
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["uqkit"])


def _rewrite(path, target, edit) -> None:
    """Write ``path`` to ``target`` with ``edit(header)`` applied and a valid checksum."""
    header = _header(path)
    edit(header)
    text = json.dumps(header, sort_keys=True)
    tensors = load_file(str(path))
    save_file(tensors, str(target), metadata={"uqkit": text, "sha256": digest(text, tensors)})


def test_dtype_rewritten_in_the_safetensors_header_is_refused(saved, tmp_path):
    _, _, path = saved
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    table = raw[8 : 8 + size]
    assert b'"F32"' in table
    # same byte length, metadata (and its checksum) untouched: the bytes now read as int32
    edited = raw[:8] + table.replace(b'"F32"', b'"I32"') + raw[8 + size :]
    (tmp_path / "i32.safetensors").write_bytes(edited)
    with pytest.raises(ModelFileError, match="modified after it was saved"):
        uqkit.load(tmp_path / "i32.safetensors")


def test_dtype_change_with_a_recomputed_checksum_is_refused(saved, tmp_path):
    _, _, path = saved
    header = _header(path)
    text = json.dumps(header, sort_keys=True)
    tensors = {k: v.view(torch.int32) if v.dtype == torch.float32 else v
               for k, v in load_file(str(path)).items()}
    save_file(tensors, str(tmp_path / "i32.safetensors"),
              metadata={"uqkit": text, "sha256": digest(text, tensors)})
    with pytest.raises(ModelFileError, match="do not match its stored tensors"):
        uqkit.load(tmp_path / "i32.safetensors")


def test_declared_network_larger_than_stored_fails_before_allocating(
    saved, tmp_path, monkeypatch
):
    _, _, path = saved

    def inflate(header):
        header["params"]["hidden_layers"] = [4000, 4000]
        header["params"]["n_members"] = 8

    _rewrite(path, tmp_path / "big.safetensors", inflate)
    assert (tmp_path / "big.safetensors").stat().st_size < 10_000
    # record where every module of the declared size is built: only on the meta device
    devices = []
    original = DeepEnsembleRegressor._build_module

    def spy(self, name):
        devices.append(torch.empty(0).device.type)
        return original(self, name)

    monkeypatch.setattr(DeepEnsembleRegressor, "_build_module", spy)
    with pytest.raises(ModelFileError, match="do not match its stored tensors") as info:
        uqkit.load(tmp_path / "big.safetensors")
    assert "4000" in str(info.value) and "refit" in str(info.value)
    assert devices == ["meta"]


def test_the_writer_version_is_stored_and_a_newer_format_says_upgrade(saved, tmp_path):
    _, _, path = saved
    assert _header(path)["uqkit_version"] == uqkit.__version__

    def newer(header):
        header["format_version"] = 99
        header["uqkit_version"] = "9.1.0"

    _rewrite(path, tmp_path / "new.safetensors", newer)
    with pytest.raises(ModelFileError, match=r"written by uqkit 9\.1\.0.*Upgrade uqkit"):
        uqkit.load(tmp_path / "new.safetensors")

    def older(header):
        header["format_version"] = 1
        del header["uqkit_version"]

    _rewrite(path, tmp_path / "old.safetensors", older)
    with pytest.raises(ModelFileError, match=r"old uqkit file format 1.*save it again"):
        uqkit.load(tmp_path / "old.safetensors")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU-only machine")
def test_a_cuda_saved_model_loads_on_the_cpu_only_when_asked(saved, tmp_path):
    model, X, path = saved

    def on_cuda(header):
        header["params"]["device"] = "cuda"

    _rewrite(path, tmp_path / "cuda.safetensors", on_cuda)
    with pytest.raises(ModelFileError, match=r"device='cuda'.*uqkit.load\(path, device='cpu'\)"):
        uqkit.load(tmp_path / "cuda.safetensors")
    loaded = uqkit.load(tmp_path / "cuda.safetensors", device="cpu")
    assert loaded.device == "cpu" and loaded.device_ == torch.device("cpu")
    assert np.array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU-only machine")
def test_a_wrapped_cuda_saved_model_moves_to_the_cpu_too(saved, tmp_path):
    from uqkit.calibration import VarianceScaling

    model, X, _ = saved
    X_cal, y_cal = sine_data(n=40, seed=1)
    path = VarianceScaling(model).fit(X_cal, y_cal).save(tmp_path / "wrapped")

    def on_cuda(header):
        header["nested"]["estimator"]["params"]["device"] = "cuda"

    _rewrite(path, tmp_path / "cuda.safetensors", on_cuda)
    with pytest.raises(ModelFileError, match="device='cpu'"):
        uqkit.load(tmp_path / "cuda.safetensors")
    loaded = uqkit.load(tmp_path / "cuda.safetensors", device="cpu")
    assert loaded.estimator.device_ == torch.device("cpu")
    assert np.array_equal(loaded.predict(X), uqkit.load(path).predict(X))


def test_an_unusable_load_device_is_a_clear_error(saved):
    with pytest.raises(InvalidInputError, match="device='tpu'"):
        uqkit.load(saved[2], device="tpu")


def test_foreign_files_are_named_for_what_they_are(tmp_path):
    # a stable-baselines3 archive (the members PPO.save writes)
    with zipfile.ZipFile(tmp_path / "agent.zip", "w") as archive:
        archive.writestr("data", "{}")
        archive.writestr("policy.pth", b"\x00")
    with pytest.raises(ModelFileError, match=r"zip archive.*stable-baselines3.*GGDPPO\.load"):
        uqkit.load(tmp_path / "agent.zip")
    torch.save({"w": torch.zeros(2)}, tmp_path / "weights.pt")
    with pytest.raises(ModelFileError, match=r"torch\.save archive.*never loads pickle"):
        uqkit.load(tmp_path / "weights.pt")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(ModelFileError, match=r"Python pickle.*never loads pickle"):
        uqkit.load(tmp_path / "model.pkl")


@pytest.mark.parametrize(
    "make, inflate",
    [
        (lambda: BayesianMLPRegressor(hidden_layers=(4,), epochs=2, n_samples=4, random_state=0),
         {"hidden_layers": [4000, 4000]}),
        (lambda: GPRegressor(method="svgp", n_inducing=8, epochs=2, random_state=0),
         {"n_inducing_": 10**9}),
    ],
    ids=["bnn-widths", "svgp-inducing"],
)
def test_families_that_cannot_build_on_meta_check_their_declared_size_first(
    make, inflate, tmp_path, monkeypatch
):
    """Pyro and GPyTorch modules compute on values while they are built, so they cannot be
    shape-checked on ``meta``; a lower bound on their declared size is checked instead, before
    anything of that size is allocated."""
    X, y = sine_data(n=40)
    model = make().fit(X, y)
    path = model.save(tmp_path / "model")

    def edit(header):
        for key, value in inflate.items():
            if key in header["params"]:
                header["params"][key] = value
            else:  # a fitted attribute, stored as {"kind": "json", "value": ...}
                header["state"][key]["value"] = value

    _rewrite(path, tmp_path / "big.safetensors", edit)
    built = []
    original = type(model)._build_module

    def spy(self, name):
        if str(torch.empty(0).device) != "meta":
            built.append(name)
        return original(self, name)

    monkeypatch.setattr(type(model), "_build_module", spy)
    with pytest.raises(ModelFileError, match=r"declare a module .* but the file stores"):
        uqkit.load(tmp_path / "big.safetensors")
    assert built == []
