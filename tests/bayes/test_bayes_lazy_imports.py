"""Importing uqkit.bayes is cheap: each estimator loads only the library it runs on."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_package_face_imports_neither_pyro_nor_gpytorch():
    _run(
        "import sys, uqkit.bayes\n"
        "loaded = {'pyro', 'gpytorch', 'peft', 'transformers'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )


def test_bayesian_mlp_imports_pyro_but_not_gpytorch():
    _run(
        "import sys, uqkit.bayes\n"
        "from uqkit.bayes import BayesianMLPClassifier, BayesianMLPRegressor\n"
        "assert 'pyro' in sys.modules\n"
        "assert 'gpytorch' not in sys.modules\n"
    )


@pytest.mark.parametrize("name", ["GPRegressor", "GPClassifier"])
def test_gaussian_processes_run_without_pyro(name):
    """uqkit's GP code never imports Pyro: with Pyro unimportable a GP still fits and predicts.

    GPyTorch itself imports Pyro when it is installed (for its Pyro integration), so
    ``'pyro' in sys.modules`` after ``import gpytorch`` is GPyTorch's doing, not uqkit's; blocking
    Pyro shows that nothing in ``uqkit.bayes`` needs it for a GP.
    """
    _run(
        "import sys\n"
        "sys.modules['pyro'] = None\n"
        "import numpy as np, uqkit.bayes\n"
        f"from uqkit.bayes import {name}\n"
        "assert 'gpytorch' in sys.modules\n"
        "assert not [m for m in sys.modules if m.startswith('uqkit.bayes._bnn')]\n"
        "X = np.linspace(0, 1, 12)[:, None]\n"
        "y = (X[:, 0] > 0.5).astype(int)\n"
        f"model = {name}(epochs=3, random_state=0).fit(X, y)\n"
        "assert model.predict(X).shape == (12,)\n"
    )


def test_lora_names_import_neither_pyro_nor_gpytorch():
    _run(
        "import sys\n"
        "from uqkit.bayes import BayesianLoRA, TFBWarning, bayesianize_lora\n"
        "loaded = {'pyro', 'gpytorch'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
