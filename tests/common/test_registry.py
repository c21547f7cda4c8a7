"""The registry :func:`uqkit.utils.all_estimators`: what it lists, filters and skips."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from uqkit.base import UQClassifierMixin, UQEstimator, UQRegressorMixin
from uqkit.exceptions import InvalidInputError
from uqkit.utils import all_estimators
from uqkit.utils._registry import _is_abstract

ROOT = Path(__file__).resolve().parents[2]


def test_sorted_unique_public_concrete_estimators():
    pairs = all_estimators()
    names = [name for name, _ in pairs]
    assert names == sorted(names) and len(set(names)) == len(names)
    for name, cls in pairs:
        assert issubclass(cls, UQEstimator) and cls is not UQEstimator
        assert name == cls.__name__ and not name.startswith("_")
        assert not _is_abstract(cls)


def test_bases_and_abstract_hooks_are_left_out():
    names = {name for name, _ in all_estimators()}
    for base in ("UQEstimator", "NetworkEstimator", "StackedEstimator", "BaseDeepEnsemble",
                 "BaseDCA", "Recalibrator"):
        assert base not in names


def test_every_estimator_is_exported_from_its_package_face():
    for name, cls in all_estimators():
        parts = cls.__module__.split(".")
        face = ".".join(parts[: next(i for i, p in enumerate(parts) if p.startswith("_"))]
                        if any(p.startswith("_") for p in parts) else parts)
        module = importlib.import_module(face)
        assert name in getattr(module, "__all__", ()), f"{name} is not in {face}.__all__"


def test_type_filter():
    everything = dict(all_estimators())
    regressors = dict(all_estimators("regressor"))
    classifiers = dict(all_estimators(type_filter="classifier"))
    recalibrators = dict(all_estimators("recalibrator"))
    assert all(issubclass(c, UQRegressorMixin) for c in regressors.values())
    assert all(issubclass(c, UQClassifierMixin) for c in classifiers.values())
    assert all(hasattr(c, "calibrate") for c in recalibrators.values())
    assert {"DeepEnsembleRegressor", "GPRegressor"} <= set(regressors)
    assert {"DeepEnsembleClassifier", "TemperatureScaling"} <= set(classifiers)
    assert {"VarianceScaling", "TemperatureScaling"} <= set(recalibrators)
    assert "DeepEnsembleRegressor" not in recalibrators
    both = dict(all_estimators(["regressor", "classifier"]))
    assert both == {**regressors, **classifiers}
    assert set(regressors) | set(classifiers) | set(recalibrators) <= set(everything)
    with pytest.raises(InvalidInputError, match="type_filter"):
        all_estimators("transformer")


class _Hook(UQEstimator):
    def fit(self, X, y):
        raise NotImplementedError


class _Refuses(UQEstimator):
    def fit(self, X, y):
        """A real method that refuses, with a message: not an abstract hook."""
        raise NotImplementedError("this estimator is never fitted")


class _NoFit(UQEstimator):
    pass


def test_abstract_means_an_unfilled_hook_or_no_fit():
    assert _is_abstract(_Hook) and _is_abstract(_NoFit)
    assert not _is_abstract(_Refuses)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


_BLOCK = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED or name in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Block())
"""


def test_a_missing_optional_dependency_skips_its_modules():
    result = _run(
        "BLOCKED = {'transformers', 'peft', 'stable_baselines3', 'gymnasium', 'ray'}\n"
        + _BLOCK
        + "from uqkit.utils import all_estimators\n"
        "names = [n for n, _ in all_estimators()]\n"
        "assert 'DeepEnsembleRegressor' in names, names\n"
        "assert not any(m in sys.modules for m in BLOCKED)\n"
        "print('ok')\n"
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_a_broken_uqkit_import_is_not_hidden():
    result = _run(
        "BLOCKED = {'uqkit.dca._module'}\n"
        + _BLOCK
        + "from uqkit.utils import all_estimators\n"
        "all_estimators()\n"
    )
    assert result.returncode != 0
    assert "uqkit.dca._module" in result.stderr
