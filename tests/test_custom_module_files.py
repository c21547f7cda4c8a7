"""Saving a model built with the user's own module (issue 19, item 3): ``module=`` as an
importable reference or a class, ``module_kwargs`` as JSON, and ``uqkit.load(path, trust=...)``.

The user's package is written into a temporary folder and put on ``sys.path``, so that whether
loading imported it can be read from ``sys.modules``: it is removed from there before every load.
"""

from __future__ import annotations

import functools
import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.base import clone, is_classifier

import uqkit
from uqkit._io import digest
from uqkit._trust import check_trust
from uqkit.calibration import ConformalRegressor
from uqkit.cli import main
from uqkit.dca import DCAClassifier, DCARegressor
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.evidential import EvidentialClassifier, EvidentialRegressor
from uqkit.exceptions import InvalidInputError, ModelFileError, UQKitWarning
from uqkit.posthoc import MCDropoutRegressor, SWAGClassifier

PACKAGE = "uq_user_models"
SOURCE = '''
"""A user's networks: what a uqkit model file may name as its module."""
import torch
from torch import nn


class SmallCNN(nn.Module):
    """16 features seen as a 1x4x4 image: one convolution, then a linear layer."""

    def __init__(self, in_features, out_features, channels=4, side=4):
        super().__init__()
        self.side = side
        self.conv = nn.Conv2d(1, channels, 3, padding=1)
        self.head = nn.Linear(channels * side * side, out_features)

    def forward(self, x):
        x = x.reshape(x.shape[0], 1, self.side, self.side)
        return self.head(torch.relu(self.conv(x)).flatten(1))


class MLP(nn.Sequential):
    def __init__(self, in_features, out_features, hidden=(8,), dropout=0.0):
        layers, width = [], in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        super().__init__(*layers, nn.Linear(width, out_features))


def make_mlp(in_features, out_features, hidden=(8,)):
    return MLP(in_features, out_features, hidden=hidden)


def not_a_module(in_features, out_features):
    return 42
'''
REFERENCE = f"{PACKAGE}.models:SmallCNN"
MLP = f"{PACKAGE}.models:MLP"
QUICK = {"epochs": 3, "verbose": 0, "random_state": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def user_package(tmp_path_factory):
    """The importable package ``uq_user_models`` on ``sys.path`` for this module's tests."""
    root = tmp_path_factory.mktemp("site")
    (root / PACKAGE).mkdir()
    (root / PACKAGE / "__init__.py").write_text("")
    (root / PACKAGE / "models.py").write_text(textwrap.dedent(SOURCE))
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        yield root
    _forget()


def _forget() -> None:
    """Remove the user package from ``sys.modules``, so that a load that imports it shows."""
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def _data(n=48, classes=True):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 16))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) if classes else X[:, 0] - X[:, 2] ** 2
    return X, y


def _arrays(prediction) -> list[np.ndarray]:
    return [getattr(prediction, name) for name in ("probs", "mean", "total")
            if getattr(prediction, name, None) is not None]


CASES = {
    "DeepEnsembleClassifier-CNN": lambda: DeepEnsembleClassifier(
        n_members=3, module=REFERENCE, module_kwargs={"channels": 2}, **QUICK),
    "DeepEnsembleRegressor": lambda: DeepEnsembleRegressor(
        n_members=2, module=MLP, module_kwargs={"hidden": [8, 4]}, **QUICK),
    "DCAClassifier": lambda: DCAClassifier(
        n_instances=2, module=MLP, module_kwargs={"hidden": [8]}, **QUICK),
    "DCARegressor": lambda: DCARegressor(n_instances=2, module=MLP, **QUICK),
    "EvidentialClassifier-CNN": lambda: EvidentialClassifier(module=REFERENCE, **QUICK),
    "EvidentialRegressor": lambda: EvidentialRegressor(
        module=f"{PACKAGE}.models:make_mlp", module_kwargs={"hidden": [6]}, **QUICK),
    "MCDropoutRegressor": lambda: MCDropoutRegressor(
        module=MLP, module_kwargs={"dropout": 0.2}, n_passes=4, **QUICK),
    "SWAGClassifier": lambda: SWAGClassifier(
        module=REFERENCE, swa_epochs=2, n_samples=3, max_rank=2, **QUICK),
}


@pytest.mark.parametrize("case", list(CASES))
def test_saved_module_loads_with_trust_to_identical_predictions(user_package, case, tmp_path):
    model = CASES[case]()
    X, y = _data(classes=is_classifier(model))
    model.fit(X, y)
    reference = _arrays(model.predict_uncertainty(X))
    path = model.save(tmp_path / "model")

    _forget()
    with pytest.raises(ModelFileError) as refused:
        uqkit.load(path)
    message = str(refused.value)
    assert repr(model.module) in message and f"trust=[{PACKAGE!r}]" in message
    assert PACKAGE not in sys.modules  # refused before anything of the package was imported

    loaded = uqkit.load(path, trust=[PACKAGE])
    assert loaded.module == model.module and loaded.module_kwargs == model.module_kwargs
    for got, want in zip(_arrays(loaded.predict_uncertainty(X)), reference, strict=True):
        np.testing.assert_array_equal(got, want)  # same weights, same code: same numbers


def test_a_class_and_its_reference_give_the_same_members(user_package):
    X, y = _data()
    models = [DeepEnsembleClassifier(n_members=2, module=module, module_kwargs={"channels": 3},
                                     **QUICK).fit(X, y)
              for module in (REFERENCE, _import_cnn())]
    first, second = (m.stack_.state_dict() for m in models)
    assert list(first) == list(second)
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)
    # the string stays a string through get_params and clone
    assert clone(models[0]).get_params()["module"] == REFERENCE
    assert clone(models[0]).get_params()["module_kwargs"] == {"channels": 3}


def _import_cnn():
    import importlib

    return importlib.import_module(f"{PACKAGE}.models").SmallCNN


def test_a_saved_class_is_written_as_its_reference(user_package, tmp_path):
    X, y = _data()
    model = DeepEnsembleClassifier(n_members=1, module=_import_cnn(), **QUICK).fit(X, y)
    path = model.save(tmp_path / "class")
    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["uqkit"])
    assert header["params"]["module"] == REFERENCE
    np.testing.assert_array_equal(uqkit.load(path, trust=[PACKAGE]).predict_proba(X),
                                  model.predict_proba(X))


class _Callable:
    def __call__(self, in_features, out_features):
        return torch.nn.Linear(in_features, out_features)


def _closure():
    width = 4

    def factory(in_features, out_features):
        return torch.nn.Sequential(torch.nn.Linear(in_features, width),
                                   torch.nn.Linear(width, out_features))
    return factory


def _in_main():
    def factory(in_features, out_features):
        return torch.nn.Linear(in_features, out_features)
    factory.__module__, factory.__qualname__ = "__main__", "factory"
    return factory


@pytest.mark.parametrize("factory, reason", [
    (lambda: lambda i, o: torch.nn.Linear(i, o), "a lambda"),
    (_closure, "inside a function"),
    (lambda: functools.partial(_import_cnn(), channels=2), "functools.partial"),
    (_Callable, "not a class or a function"),
    (_in_main, "__main__"),
])
def test_code_without_an_importable_name_refuses_to_save(user_package, factory, reason,
                                                          tmp_path):
    X, y = _data()
    model = DeepEnsembleClassifier(n_members=1, module=factory(), **QUICK).fit(X, y)
    with pytest.raises(ModelFileError, match=reason) as refused:
        model.save(tmp_path / "m")
    assert "define it at module level in an importable package and pass module='pkg.mod:Name' " \
           "with module_kwargs=..." in str(refused.value)
    assert not (tmp_path / "m.safetensors").exists()


def test_from_modules_saves_with_the_members_reference_and_refuses_without(user_package,
                                                                          tmp_path):
    X, y = _data()
    torch.manual_seed(0)
    nets = [_import_cnn()(16, 2, channels=2) for _ in range(3)]
    plain = DeepEnsembleClassifier.from_modules(nets, X, y, device="cpu")
    with pytest.raises(ModelFileError, match="network objects given to from_modules"):
        plain.save(tmp_path / "wrapped")
    named = DeepEnsembleClassifier.from_modules(nets, X, y, module=REFERENCE,
                                                module_kwargs={"channels": 2}, device="cpu")
    np.testing.assert_array_equal(named.predict_proba(X), plain.predict_proba(X))
    loaded = uqkit.load(named.save(tmp_path / "named"), trust=[PACKAGE])
    np.testing.assert_array_equal(loaded.predict_proba(X), plain.predict_proba(X))

    Xr, yr = _data(classes=False)
    heads = [sys.modules[f"{PACKAGE}.models"].MLP(16, 2) for _ in range(2)]
    regressor = DeepEnsembleRegressor.from_modules(heads, Xr, yr, module=MLP, device="cpu")
    again = uqkit.load(regressor.save(tmp_path / "regressor"), trust=[PACKAGE])
    np.testing.assert_array_equal(again.predict(Xr), regressor.predict(Xr))
    # the reference must build the members' class; noise heads have no reference
    with pytest.raises(InvalidInputError, match="builds a MLP, but the modules are SmallCNN"):
        DeepEnsembleClassifier.from_modules(nets, X, y, module=MLP, device="cpu")
    with pytest.raises(InvalidInputError, match="noise_variance"):
        DeepEnsembleRegressor.from_modules([torch.nn.Linear(16, 1)], Xr, yr, module=MLP,
                                           noise_variance=0.1, device="cpu")
    with pytest.raises(InvalidInputError, match="drop module_kwargs"):
        DeepEnsembleClassifier.from_modules(nets, X, y, module_kwargs={"channels": 2})


@pytest.mark.parametrize("kwargs, match", [
    ({"channels": object()}, "not a JSON value"),
    ({"channels": float("nan")}, "not a JSON value"),
    ({"nested": {1: 2}}, "not a JSON value"),
])
def test_module_kwargs_that_json_cannot_hold_are_refused_at_fit(user_package, kwargs, match):
    X, y = _data()
    model = DeepEnsembleClassifier(n_members=1, module=REFERENCE, module_kwargs=kwargs, **QUICK)
    with pytest.raises(InvalidInputError, match=match):
        model.fit(X, y)
    with pytest.raises(ValueError, match="'module_kwargs' parameter"):  # scikit-learn's check
        model.set_params(module_kwargs="channels=2").fit(X, y)


def test_unimportable_references_and_orphan_kwargs_are_refused_at_fit(user_package):
    X, y = _data()
    for module, match in [(f"{PACKAGE}.models:NoSuchNet", "NoSuchNet' cannot be imported"),
                          ("no_such_package_xyz:Net", "no_such_package_xyz:Net' cannot be"),
                          ("not a reference", "not a reference of the form")]:
        with pytest.raises(InvalidInputError, match=match):
            DeepEnsembleClassifier(n_members=1, module=module, **QUICK).fit(X, y)
    with pytest.raises(InvalidInputError, match="drop module_kwargs"):
        DeepEnsembleClassifier(n_members=1, module_kwargs={"channels": 2}, **QUICK).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"must return a torch\.nn\.Module"):
        DeepEnsembleClassifier(n_members=1, module=f"{PACKAGE}.models:not_a_module",
                               **QUICK).fit(X, y)


@pytest.fixture(scope="module")
def saved_file(user_package, tmp_path_factory):
    X, y = _data()
    model = DeepEnsembleClassifier(n_members=2, module=REFERENCE, **QUICK).fit(X, y)
    return model.save(tmp_path_factory.mktemp("saved") / "cnn"), X, model.predict_proba(X)


def _edited(path, target, module):
    """The file with its ``module`` reference replaced and the checksum recomputed (what a
    hostile edit can do)."""
    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["uqkit"])
    header["params"]["module"] = module
    text = json.dumps(header, sort_keys=True)
    tensors = load_file(str(path))
    save_file(tensors, str(target), metadata={"uqkit": text, "sha256": digest(text, tensors)})
    return target


@pytest.mark.parametrize("module, trust, match", [
    # a builtin is not a module class or factory function: refused before it is called
    ("os:system", ["os"], "not an nn.Module class or a Python factory function"),
    ("subprocess:Popen", ["subprocess"], "not a torch.nn.Module subclass"),
    # a trusted package's names that lead elsewhere (an imported module) are refused
    (f"{PACKAGE}.models:torch.save", [PACKAGE], "defined elsewhere"),
    (f"{PACKAGE}.models:nn.Linear", [PACKAGE], "defined elsewhere"),
    # a trusted factory that does not build a module: refused before the result is used
    (f"{PACKAGE}.models:not_a_module", [PACKAGE], "must return a torch.nn.Module"),
    (f"{PACKAGE}.models:SmallCNN.__init__", [PACKAGE], "dunder"),
    ("os:system", ["o"], r"trust=\['os'\]"),  # trust is by whole package names
])
def test_edited_references_are_refused_even_when_trusted(saved_file, tmp_path, module, trust,
                                                         match):
    path, _, _ = saved_file
    target = _edited(path, tmp_path / "edited.safetensors", module)
    with pytest.raises(ModelFileError, match=match):
        uqkit.load(target, trust=trust)


def test_trust_by_package_prefix(saved_file):
    path, X, probs = saved_file
    loaded = uqkit.load(path, trust=f"{PACKAGE}.models")  # a string is one package name
    np.testing.assert_array_equal(loaded.predict_proba(X), probs)
    with pytest.raises(ModelFileError, match="not trusted"):
        uqkit.load(path, trust=[f"{PACKAGE}.other"])
    with pytest.raises(InvalidInputError, match="package name"):
        uqkit.load(path, trust=[3])
    assert check_trust(None) == () and check_trust(["a", "b.c"]) == ("a", "b.c")


def test_trust_reaches_a_nested_model(user_package, tmp_path):
    X, y = _data(n=80, classes=False)
    inner = DeepEnsembleRegressor(n_members=2, module=MLP, **QUICK).fit(X[:40], y[:40])
    conformal = ConformalRegressor(inner).fit(X[40:], y[40:])
    path = conformal.save(tmp_path / "conformal")
    _forget()
    with pytest.raises(ModelFileError, match=f"trust=\\[{PACKAGE!r}\\]"):
        uqkit.load(path)
    assert PACKAGE not in sys.modules
    loaded = uqkit.load(path, trust=[PACKAGE])
    for got, want in zip(loaded.predict_interval(X, alpha=0.1),
                         conformal.predict_interval(X, alpha=0.1), strict=True):
        np.testing.assert_array_equal(got, want)


def test_uqkit_report_takes_trust(user_package, saved_file, tmp_path, capsys):
    import pandas as pd

    path, X, _ = saved_file
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(16)])
    frame["y"] = (X[:, 0] + X[:, 1] > 0).astype(int)
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    args = ["report", str(path), "--data", str(data), "--target", "y", "--bootstrap", "0",
            "-o", str(tmp_path / "report.json")]
    assert main(args) == 2
    assert f"--trust {PACKAGE}" in capsys.readouterr().err
    with pytest.warns(UQKitWarning, match="file order"):  # fitted on an array, not named columns
        assert main([*args, "--trust", PACKAGE]) == 0
    assert (tmp_path / "report.json").stat().st_size > 0


def test_a_torch_layer_loads_when_torch_nn_is_trusted(tmp_path):
    X, y = _data(classes=False)
    model = DeepEnsembleRegressor(n_members=2, module=torch.nn.Linear, **QUICK).fit(X, y)
    path = model.save(tmp_path / "linear")
    with pytest.raises(ModelFileError, match=r"trust=\['torch'\]"):
        uqkit.load(path)
    loaded = uqkit.load(path, trust=["torch.nn"])
    assert loaded.module == "torch.nn.modules.linear:Linear"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
