"""Every network family fits and predicts from a Dataset of 4-D images with a small CNN module,
and a fit from the Dataset equals the fit from the arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from uqkit.dca import DCAClassifier, DCARegressor
from uqkit.evidential import EvidentialClassifier, EvidentialRegressor
from uqkit.posthoc import (
    LaplaceClassifier,
    LaplaceRegressor,
    MCDropoutClassifier,
    MCDropoutRegressor,
    SWAGClassifier,
    SWAGRegressor,
)
from uqkit.prediction import ClassificationPrediction, RegressionPrediction


class TinyCNN(nn.Module):
    """(b, 1, 6, 6) -> (b, n_out); optional dropout (MC dropout) and BatchNorm."""

    def __init__(self, n_out: int, dropout: float = 0.0, batchnorm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.norm = nn.BatchNorm2d(2) if batchnorm else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * 4 * 4, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(torch.relu(self.norm(self.conv(x))).flatten(1)))


def plain(n_in, n_out):
    return TinyCNN(n_out)


def with_dropout(n_in, n_out):
    return TinyCNN(n_out, dropout=0.2)


def with_batchnorm(n_in, n_out):
    return TinyCNN(n_out, batchnorm=True)


def images(n: int = 48, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1, 6, 6)).astype(np.float32)
    score = X[:, 0, :3].mean(axis=(1, 2)) - X[:, 0, 3:].mean(axis=(1, 2))
    return X, (score > 0).astype(np.int64), score.astype(np.float32)


COMMON = {"epochs": 2, "batch_size": 16, "random_state": 0, "device": "cpu"}
CASES = [
    (DCAClassifier, {"module": plain, "n_instances": 2, "components": "model"}),
    (DCARegressor, {"module": plain, "n_instances": 2, "components": "model"}),
    (EvidentialClassifier, {"module": plain}),
    (EvidentialRegressor, {"module": plain}),
    (MCDropoutClassifier, {"module": with_dropout, "n_passes": 3}),
    (MCDropoutRegressor, {"module": with_dropout, "n_passes": 3}),
    (SWAGClassifier, {"module": with_batchnorm, "swa_epochs": 2, "n_samples": 2, "max_rank": 2}),
    (SWAGRegressor, {"module": with_batchnorm, "swa_epochs": 2, "n_samples": 2, "max_rank": 2}),
    (LaplaceClassifier, {"module": plain, "subset_of_weights": "last_layer",
                         "hessian_structure": "diag"}),
    (LaplaceRegressor, {"module": plain, "subset_of_weights": "all",
                        "hessian_structure": "diag", "prior_precision": 1.0}),
]


def _targets(cls, labels, score):
    return labels if "Classifier" in cls.__name__ else score


@pytest.mark.parametrize(("cls", "params"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_fit_and_predict_from_a_dataset_of_images(cls, params):
    if cls in (LaplaceClassifier, LaplaceRegressor):
        pytest.importorskip("laplace")
    X, labels, score = images()
    y = _targets(cls, labels, score)
    model = cls(**COMMON, **params).fit(TensorDataset(torch.tensor(X), torch.tensor(y)))
    assert model.input_shape_ == (1, 6, 6)
    loader = DataLoader(TensorDataset(torch.tensor(X[:10])), batch_size=4)
    pred = model.predict_uncertainty(loader)
    kind = ClassificationPrediction if "Classifier" in cls.__name__ else RegressionPrediction
    assert isinstance(pred, kind) and len(pred) == 10
    reference = cls(**COMMON, **params).fit(X, y)
    np.testing.assert_allclose(_values(pred), _values(reference.predict_uncertainty(X[:10])),
                               rtol=1e-5, atol=1e-6)


def _values(pred) -> np.ndarray:
    return pred.probs if isinstance(pred, ClassificationPrediction) else pred.mean
