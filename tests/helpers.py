"""Tiny data sets, fast estimator settings and the builders of the common test base.

The common tests (``tests/common/``) run on every estimator of the registry
(:func:`uqkit.utils.all_estimators`). Each gets its small, fast settings from ``QUICK`` (keyed by
class name; a class not there runs with its defaults) and is built by :func:`make_case`, which
knows three shapes of estimator without being told their names:

* tabular estimators, ``fit(X, y)`` on a feature matrix (the default);
* recalibrators (they have ``calibrate``): they wrap a fitted model and are fitted on held-out
  rows, so the case fits the wrapped model first (a quick deep ensemble);
* estimators whose ``fit`` takes something else get a factory in ``FACTORIES``: ``GloVe`` and
  ``GloVeV`` fit co-occurrence counts, ``BayesianLoRA`` wraps a tiny LoRA model built from a
  config, AutoDEUQ runs a Ray Tune search (two trials in a tiny space).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

FAST = {"epochs": 15, "verbose": 0, "random_state": 0}
# trials of the finished search that the search-storage tests damage (tests/search/conftest.py)
SEARCH_TRIALS = 3


def in_process_trials(data: dict, setup, n_trials: int, storage_path) -> list[dict]:
    """The records of ``n_trials`` real trials (:func:`uqkit.search.run_trial`) run here one
    after another: the body of the stand-ins that tests put in place of the Tune driver."""
    from uqkit.search import load_trial, run_trial, space_from_dict

    space = space_from_dict(setup.space)
    rng = np.random.default_rng(setup.seed)
    records = []
    for i in range(n_trials):
        folder = storage_path / f"trial-{i}"
        folder.mkdir(parents=True)
        run_trial(space.sample(rng), data, setup, folder, name=f"t{i}", fingerprint="local")
        records.append(load_trial(folder))
    return records


def sine_data(n: int = 200, seed: int = 0, noise: float = 0.1):
    """1-D regression: y = sin(2x) + noise, x uniform in [-2, 2]."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    y = np.sin(2 * X[:, 0]) + noise * rng.normal(size=n)
    return X, y


def heteroscedastic_data(n: int = 1500, seed: int = 0):
    """y = x + noise whose std is 0.1 + 0.4 |x|, x uniform in [-1, 1]."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    std = 0.1 + 0.4 * np.abs(X[:, 0])
    return X, X[:, 0] + std * rng.normal(size=n), std


def blobs(n: int = 200, seed: int = 0, labels=("a", "b", "c")):
    """Three Gaussian blobs in 2-D with string labels."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])[: len(labels)]
    index = rng.integers(0, len(labels), size=n)
    X = centers[index] + 0.6 * rng.normal(size=(n, 2))
    return X, np.asarray(labels)[index]


# ------------------------------------------------------------------ settings for the common tests
_NET = dict(epochs=20, lr=1e-2, verbose=0, random_state=0)
_DCA = dict(n_instances=2, hidden_layers=(16,), n_train_proposals=2, n_predict_proposals=4,
            batch_size=64, **_NET)
_AUTODEUQ = dict(n_trials=2, ensemble_size=2, population_size=2, sample_size=2,
                 space={"max_layers": 1, "units": [8, 16], "epochs": 30, "patience": 5,
                        "batch_size": [32, 64]},
                 device="cpu", verbose=0, random_state=0)

# Small, fast settings per estimator class; a class not listed runs with its defaults.
QUICK: dict[str, dict[str, Any]] = {
    "DeepEnsembleRegressor": dict(n_members=2, **_NET),
    "DeepEnsembleClassifier": dict(n_members=2, **_NET),
    "EvidentialRegressor": dict(hidden_layers=(16,), early_stopping=False, **_NET),
    "EvidentialClassifier": dict(hidden_layers=(16,), **_NET),
    "DCARegressor": _DCA,
    "DCAClassifier": _DCA,
    "GPRegressor": dict(epochs=30, random_state=0),
    "GPClassifier": dict(epochs=20, n_inducing=16, random_state=0),
    "BayesianMLPRegressor": dict(hidden_layers=(16,), epochs=30, random_state=0),
    "BayesianMLPClassifier": dict(hidden_layers=(16,), epochs=30, random_state=0),
    "AutoDEUQRegressor": _AUTODEUQ,
    "AutoDEUQClassifier": _AUTODEUQ,
    "BayesianLoRA": dict(n_samples=4, n_search_steps=2, random_state=0),
    "GloVe": dict(n_components=2, epochs=50, batch_size=256, random_state=0),
    "GloVeV": dict(refit_vectors=True),
    "MCDropoutRegressor": dict(hidden_layers=(16,), n_passes=4, **_NET),
    "MCDropoutClassifier": dict(hidden_layers=(16,), n_passes=4, **_NET),
    "SWAGRegressor": dict(hidden_layers=(16,), swa_epochs=3, n_samples=4, **_NET),
    "SWAGClassifier": dict(hidden_layers=(16,), swa_epochs=3, n_samples=4, **_NET),
    "LaplaceRegressor": dict(hidden_layers=(16,), **_NET),
    "LaplaceClassifier": dict(hidden_layers=(16,), n_samples=8, **_NET),
}

# The fitted model a recalibrator of each kind wraps in the common tests.
WRAPPED = {"regressor": "DeepEnsembleRegressor", "classifier": "DeepEnsembleClassifier"}

# Estimators whose fit takes no feature matrix (X, y), and why scikit-learn's checks skip them.
NOT_TABULAR = {
    "GloVe": "fits a matrix of co-occurrence counts, not (X, y)",
    "GloVeV": "fits co-occurrence counts and trained GloVe vectors, not (X, y)",
    "BayesianLoRA": "wraps a trained peft LoRA model and is fitted on batches of token ids",
}

# pytest marks per estimator class. An AutoDEUQ fit starts a local Ray: under xdist
# (--dist loadgroup) its checks share one worker, so each class is searched once per run.
_RAY = [pytest.mark.ray, pytest.mark.xdist_group("ray")]
MARKS: dict[str, list] = {"AutoDEUQRegressor": _RAY, "AutoDEUQClassifier": _RAY}


@dataclass
class Case:
    """How the common tests fit and query one estimator.

    Attributes
    ----------
    estimator : UQEstimator
        A new, unfitted estimator with the quick settings.
    fit_args : tuple
        Positional arguments of ``fit``.
    predict_args : tuple or None
        Positional arguments of ``predict_uncertainty``; None when it has none (``GloVe``).
    n_predicted : int
        Rows (or words) the prediction of ``predict_args`` describes.
    kind : {"regressor", "classifier", "other"}
    tabular : bool
        ``fit(X, y)`` with a feature matrix ``X``: the bad-input checks build their inputs.
    recalibrator : bool
        It wraps a fitted model (the sklearn checks cannot clone it into a usable state).
    bad_fits : dict
        For estimators that are not tabular: check name → ``fit`` arguments that must raise
        :class:`uqkit.exceptions.InvalidInputError`.
    """

    estimator: Any
    fit_args: tuple
    predict_args: tuple | None
    n_predicted: int
    kind: str
    tabular: bool = True
    recalibrator: bool = False
    bad_fits: dict[str, tuple] = field(default_factory=dict)

    def fit(self):
        """Fit ``estimator`` on ``fit_args`` and return it."""
        return self.estimator.fit(*self.fit_args)


def kind_of(cls: type) -> str:
    from uqkit.base import UQClassifierMixin, UQRegressorMixin

    if issubclass(cls, UQRegressorMixin):
        return "regressor"
    return "classifier" if issubclass(cls, UQClassifierMixin) else "other"


def is_recalibrator(cls: type) -> bool:
    """The registry's own test of a recalibrator: it has ``calibrate``."""
    return callable(getattr(cls, "calibrate", None))


def quick(cls: type, **extra) -> Any:
    """An instance of ``cls`` with its ``QUICK`` settings (and ``extra``)."""
    return cls(**{**QUICK.get(cls.__name__, {}), **extra})


def regression_data():
    return sine_data(n=120)


def classification_data():
    return blobs(n=120)


def _tabular(cls: type) -> Case:
    kind = kind_of(cls)
    X, y = regression_data() if kind == "regressor" else classification_data()
    return Case(quick(cls), (X, y), (X,), len(X), kind)


@functools.cache
def wrapped_model(kind: str):
    """The fitted model recalibrators of ``kind`` wrap, fitted on the first half of the data.

    Cached per test process: recalibrators never modify the model they wrap.
    """
    from uqkit.utils import all_estimators

    cls = dict(all_estimators())[WRAPPED[kind]]
    X, y = regression_data() if kind == "regressor" else classification_data()
    return quick(cls).fit(X[: len(X) // 2], y[: len(X) // 2])


def _recalibrator(cls: type) -> Case:
    kind = kind_of(cls)
    X, y = regression_data() if kind == "regressor" else classification_data()
    X_cal, y_cal = X[len(X) // 2 :], y[len(X) // 2 :]
    estimator = quick(cls, estimator=wrapped_model(kind))
    return Case(estimator, (X_cal, y_cal), (X_cal,), len(X_cal), kind, recalibrator=True)


def _autodeuq(cls: type) -> Case:
    pytest.importorskip("ray", reason="AutoDEUQ searches with Ray Tune (uqkit[search])")
    return _tabular(cls)


def _glove_counts(n: int = 30, dim: int = 2, seed: int = 0):
    """Co-occurrence counts of a GloVe model with known vectors: ``X = exp(W V^T + b + c)``."""
    rng = np.random.default_rng(seed)
    W, V = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    b, c = np.full(n, 2.0), np.full(n, 2.0)
    X = np.exp(W @ V.T + b[:, None] + c[None, :] + 0.1 * rng.normal(size=(n, n)))
    return X, W, V, b, c


def _with(array: np.ndarray, value: float) -> np.ndarray:
    bad = array.copy()
    bad[1, 2] = value
    return bad


def _glove(cls: type) -> Case:
    X, *_ = _glove_counts()
    bad = {"nan": (_with(X, np.nan),), "inf": (_with(X, np.inf),)}
    return Case(quick(cls), (X,), None, 0, "other", tabular=False, bad_fits=bad)


def _glove_v(cls: type) -> Case:
    X, W, V, b, c = _glove_counts(n=40)
    bad = {
        "nan": (_with(X, np.nan), W, V, b, c),
        "inf": (_with(X, np.inf), W, V, b, c),
        "shape_mismatch": (X, W[:-1], V, b, c),
    }
    return Case(quick(cls), (X, W, V, b, c), ([0, 1, 2],), 3, "other", tabular=False,
                bad_fits=bad)


def _tiny_lora_bert(n_classes: int = 3, vocab: int = 40, seed: int = 0):
    """A 2-layer BERT classifier with LoRA on query/value, built from a config (no download)."""
    import torch

    pytest.importorskip("transformers", reason="BayesianLoRA needs uqkit[llm]")
    pytest.importorskip("peft", reason="BayesianLoRA needs uqkit[llm]")
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=32, num_labels=n_classes)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                      init_lora_weights=False)
    with torch.random.fork_rng(devices=[]):  # the caller's global generator is left as it was
        torch.manual_seed(seed)
        return get_peft_model(BertForSequenceClassification(config), lora).eval()


def _bayesian_lora(cls: type) -> Case:
    import torch

    model = _tiny_lora_bert()
    generator = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(1, 40, (8, 6), generator=generator),
             "attention_mask": torch.ones(8, 6, dtype=torch.long)}
    empty = {key: value[:0] for key, value in batch.items()}
    return Case(quick(cls, model=model), ([batch],), (batch,), 8, "classifier", tabular=False,
                bad_fits={"too_few_samples": ([empty],)})


# Estimators that need something special to be built, keyed by class name.
FACTORIES: dict[str, Callable[[type], Case]] = {
    "AutoDEUQRegressor": _autodeuq,
    "AutoDEUQClassifier": _autodeuq,
    "GloVe": _glove,
    "GloVeV": _glove_v,
    "BayesianLoRA": _bayesian_lora,
}


def make_case(cls: type) -> Case:
    """Build the common-test case of estimator class ``cls`` (new, unfitted estimator)."""
    if cls.__name__ in FACTORIES:
        return FACTORIES[cls.__name__](cls)
    if is_recalibrator(cls):
        return _recalibrator(cls)
    return _tabular(cls)


