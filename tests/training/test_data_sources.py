"""Data in any form a PyTorch user has: N-D arrays and tensors, memmaps, Datasets and
DataLoaders, read a batch at a time (uqkit.training._sources)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import uqkit
from uqkit.ensemble import DeepEnsembleClassifier, DeepEnsembleRegressor
from uqkit.exceptions import DataLoaderSettingsWarning, InvalidInputError
from uqkit.prediction import ClassificationPrediction
from uqkit.training import _sources


class SmallCNN(nn.Module):
    """Conv2d + BatchNorm2d + Linear on (b, 1, 6, 6) images."""

    def __init__(self, n_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.norm = nn.BatchNorm2d(3)
        self.head = nn.Linear(3 * 4 * 4, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.norm(self.conv(x))).flatten(1))


def cnn(n_in: int, n_out: int) -> nn.Module:
    return SmallCNN(n_out)


def images(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1, 6, 6)).astype(np.float32)
    score = X[:, 0, :3].mean(axis=(1, 2)) - X[:, 0, 3:].mean(axis=(1, 2))
    return X, (score > 0).astype(np.int64), score


QUICK = {"n_members": 2, "epochs": 2, "batch_size": 16, "module": cnn, "random_state": 0,
         "device": "cpu", "verbose": 0}


def same_members(a, b, atol=0.0) -> None:
    for (name, p), q in zip(a.stack_.state_dict().items(), b.stack_.state_dict().values(),
                            strict=True):
        assert torch.allclose(p.double(), q.double(), atol=atol, rtol=0), name


def test_cnn_ensemble_from_a_dataloader_of_4d_tensors():
    X, y, _ = images()
    loader = DataLoader(TensorDataset(torch.tensor(X), torch.tensor(y)), batch_size=8)
    model = DeepEnsembleClassifier(**QUICK).fit(loader)
    assert model.input_shape_ == (1, 6, 6) and model.n_features_in_ == 36
    from_loader = model.predict_uncertainty(DataLoader(TensorDataset(torch.tensor(X))))
    from_array = model.predict_uncertainty(X)
    assert isinstance(from_loader, ClassificationPrediction)
    assert from_loader.member_probs.shape == (2, 60, 2)
    np.testing.assert_array_equal(from_loader.probs, from_array.probs)
    # every member keeps its own BatchNorm statistics
    state = model.stack_.member_state_dict(0), model.stack_.member_state_dict(1)
    assert not torch.equal(state[0]["norm.running_mean"], state[1]["norm.running_mean"])


@pytest.mark.parametrize("estimator", [DeepEnsembleClassifier, DeepEnsembleRegressor])
def test_arrays_dataset_and_dataloader_give_the_same_members(estimator):
    X, labels, score = images()
    y = labels if estimator is DeepEnsembleClassifier else score.astype(np.float32)
    arrays = estimator(**QUICK).fit(X, y)
    dataset = TensorDataset(torch.tensor(X), torch.tensor(y))
    from_dataset = estimator(**QUICK).fit(dataset)
    from_loader = estimator(**QUICK).fit(DataLoader(dataset, batch_size=5, shuffle=False))
    np.testing.assert_array_equal(arrays.validation_indices_, from_dataset.validation_indices_)
    same_members(arrays, from_dataset)
    same_members(arrays, from_loader)


def test_adversarial_training_from_a_memmap_equals_arrays(tmp_path):
    """The feature range of the adversarial step is read from the training rows of the memmap
    as from the array."""
    X, _, score = images()
    np.save(tmp_path / "x.npy", X)
    on_disk = np.load(tmp_path / "x.npy", mmap_mode="r")
    kwargs = {**QUICK, "adversarial": True, "feature_scaling": "channel"}
    arrays = DeepEnsembleRegressor(**kwargs).fit(X, score)
    memmap = DeepEnsembleRegressor(**kwargs).fit(on_disk, score)
    same_members(arrays, memmap)
    # a Dataset yielding (x, y) predicts too: its y is ignored
    dataset = TensorDataset(torch.tensor(X[:7]), torch.zeros(7))
    np.testing.assert_array_equal(memmap.predict(dataset), arrays.predict(X[:7]))


def test_tabular_dataset_equals_arrays_up_to_the_streamed_scaling():
    rng = np.random.default_rng(1)
    X, y = rng.normal(3.0, 2.0, size=(80, 3)), rng.normal(size=80)
    kwargs = {"n_members": 2, "hidden_layers": (8,), "epochs": 3, "random_state": 0,
              "device": "cpu"}
    arrays = DeepEnsembleRegressor(**kwargs).fit(X, y)
    dataset = DeepEnsembleRegressor(**kwargs).fit(TensorDataset(torch.tensor(X),
                                                                torch.tensor(y)))
    np.testing.assert_allclose(dataset.x_mean_, arrays.x_mean_, rtol=1e-12)
    np.testing.assert_allclose(dataset.x_scale_, arrays.x_scale_, rtol=1e-12)
    np.testing.assert_allclose(dataset.predict(X), arrays.predict(X), rtol=1e-5, atol=1e-6)
    # a model fitted on arrays predicts from a Dataset of rows as from the arrays
    rows = TensorDataset(torch.tensor(X[:9]), torch.zeros(9))
    np.testing.assert_array_equal(arrays.predict(rows), arrays.predict(X[:9]))


def test_arrays_with_a_validation_dataset():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    kwargs = {"n_members": 2, "hidden_layers": (8,), "epochs": 3, "random_state": 0,
              "device": "cpu"}
    reference = DeepEnsembleRegressor(**kwargs).fit(X[:40], y[:40], X_val=X[40:], y_val=y[40:])
    model = DeepEnsembleRegressor(**kwargs).fit(
        X[:40], y[:40], X_val=TensorDataset(torch.tensor(X[40:]), torch.tensor(y[40:])))
    np.testing.assert_allclose([h["val_loss"] for h in model.history_],
                               [h["val_loss"] for h in reference.history_], rtol=1e-5)


def test_a_shuffling_dataloader_warns_and_is_read_in_order():
    X, y, _ = images()
    loader = DataLoader(TensorDataset(torch.tensor(X), torch.tensor(y)), shuffle=True)
    with pytest.warns(DataLoaderSettingsWarning, match="sampler"):
        shuffled = DeepEnsembleClassifier(**QUICK).fit(loader)
    same_members(shuffled, DeepEnsembleClassifier(**QUICK).fit(X, y))


class RecordingDataset(Dataset):
    """The (x, y) items of a memmap and a label array."""

    def __init__(self, X, y) -> None:
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


def largest_gather(monkeypatch, fit):
    """The most rows a fit reads from its source in one go (the scan and every batch)."""
    sizes = []
    features = _sources.ArraySource.features
    block = _sources.ArraySource.block

    def recording_features(self, index):
        sizes.append(len(index))
        return features(self, index)

    def recording_block(self, start, stop):
        sizes.append(stop - start)
        return block(self, start, stop)

    monkeypatch.setattr(_sources.ArraySource, "features", recording_features)
    monkeypatch.setattr(_sources.ArraySource, "block", recording_block)
    fit()
    return max(sizes)


def test_a_memmap_is_read_a_batch_at_a_time(tmp_path, monkeypatch):
    """The rows read at once do not grow with the training set: 2,000 or 200,000 rows."""
    largest = {}
    for n in (2_000, 200_000):
        path = tmp_path / f"x{n}.npy"
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 1, 6, 6))
        rng = np.random.default_rng(0)
        for start in range(0, n, 50_000):
            X[start : start + 50_000] = rng.normal(size=X[start : start + 50_000].shape)
        X.flush()
        del X
        X = np.load(path, mmap_mode="r")
        y = (np.asarray(X[:, 0, 0, 0]) > 0).astype(np.int64)
        model = DeepEnsembleClassifier(**{**QUICK, "epochs": 1, "batch_size": 2_000})
        largest[n] = largest_gather(monkeypatch, lambda: model.fit(X, y))  # noqa: B023
        monkeypatch.undo()
        assert model.predict_proba(X[:10]).shape == (10, 2)
    # one scan block (SCAN_ELEMENTS values) or the batches of both members, never all rows
    bound = max(_sources.SCAN_ELEMENTS // 36, 2 * 2_000, 8192)
    assert largest[200_000] <= bound < 200_000
    assert largest[200_000] == largest[2_000] or largest[2_000] < bound


def test_a_dataset_is_read_a_batch_at_a_time(tmp_path, monkeypatch):
    """A Dataset over a memmap: the most items read at once is a scan block, a batch of every
    member or a batch of the loss checks (8192 rows), never all 9,000 training rows."""
    largest = {}
    for n in (2_000, 10_000):
        path = tmp_path / f"x{n}.npy"
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 1, 6, 6))
        X[:] = np.random.default_rng(0).normal(size=X.shape)
        X.flush()
        del X
        X = np.load(path, mmap_mode="r")
        y = (np.asarray(X[:, 0, 0, 0]) > 0).astype(np.int64)
        sizes = []
        features = _sources.DatasetSource.features

        def recording(self, index, with_targets=False):
            sizes.append(len(index))  # noqa: B023
            return features(self, index, with_targets=with_targets)  # noqa: B023

        monkeypatch.setattr(_sources.DatasetSource, "features", recording)
        monkeypatch.setattr(_sources, "SCAN_ELEMENTS", 36 * 1_000)  # scan blocks of 1,000 rows
        model = DeepEnsembleClassifier(**{**QUICK, "epochs": 1, "batch_size": 100})
        model.fit(RecordingDataset(X, y))
        monkeypatch.undo()
        largest[n] = max(sizes)
    assert largest[2_000] <= 2_000
    assert largest[10_000] <= 8192 < 9_000  # the batch of the divergence and stopping checks


def test_channel_scaling_matches_numpy():
    rng = np.random.default_rng(2)
    X = rng.normal(loc=[[[5.0]], [[-3.0]]], scale=[[[2.0]], [[0.5]]], size=(70, 2, 4, 3))
    y = rng.normal(size=70)

    class Flat(nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.layer = nn.Linear(n_in, n_out)

        def forward(self, x):
            return self.layer(x.flatten(1))

    model = DeepEnsembleRegressor(n_members=1, epochs=1, module=Flat, random_state=0,
                                  device="cpu", feature_scaling="channel").fit(X, y)
    assert model.x_mean_.shape == (2, 1, 1)
    np.testing.assert_allclose(model.x_mean_[:, 0, 0], X.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(model.x_scale_[:, 0, 0], X.std(axis=(0, 2, 3)), rtol=1e-12)
    default = DeepEnsembleRegressor(n_members=1, epochs=1, module=Flat, random_state=0,
                                    device="cpu").fit(X, y)
    assert np.all(default.x_mean_ == 0) and np.all(default.x_scale_ == 1)  # N-D: none
    with pytest.raises(InvalidInputError, match=r"feature_scaling='column'.*'channel'"):
        default.set_params(feature_scaling="column").fit(X, y)


def test_the_validation_split_of_a_dataset_is_the_arrays_one():
    X, y, _ = images(50)
    a = DeepEnsembleClassifier(**QUICK).fit(X, y)
    b = DeepEnsembleClassifier(**QUICK).fit(TensorDataset(torch.tensor(X), torch.tensor(y)))
    np.testing.assert_array_equal(a.validation_indices_, b.validation_indices_)
    assert len(a.validation_indices_) == 5


def test_sample_weight_with_a_dataset_equals_arrays():
    X, y, _ = images()
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=len(X))
    a = DeepEnsembleClassifier(**QUICK).fit(X, y, sample_weight=w)
    b = DeepEnsembleClassifier(**QUICK).fit(TensorDataset(torch.tensor(X), torch.tensor(y)),
                                            sample_weight=w)
    same_members(a, b)


def test_save_and_load_a_model_fitted_from_a_dataset(tmp_path):
    X, y, _ = images()
    model = DeepEnsembleClassifier(**{**QUICK, "module": SmallCNN.__module__ + ":cnn"})
    model.fit(TensorDataset(torch.tensor(X), torch.tensor(y)))
    path = model.save(tmp_path / "cnn")
    loaded = uqkit.load(path, trust=[SmallCNN.__module__])
    assert loaded.input_shape_ == (1, 6, 6)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_explicit_validation_dataset():
    X, y, _ = images(80)
    train = TensorDataset(torch.tensor(X[:60]), torch.tensor(y[:60]))
    val = TensorDataset(torch.tensor(X[60:]), torch.tensor(y[60:]))
    model = DeepEnsembleClassifier(**QUICK).fit(train, X_val=val)
    reference = DeepEnsembleClassifier(**QUICK).fit(X[:60], y[:60], X_val=X[60:], y_val=y[60:])
    same_members(model, reference)


# -- errors -----------------------------------------------------------------------------------
class ListDataset(Dataset):
    def __init__(self, items) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_ragged_dataset_items_are_refused():
    items = [(torch.zeros(1, 6, 6), 0), (torch.zeros(1, 6, 6), 1), (torch.zeros(1, 5, 6), 0)]
    with pytest.raises(InvalidInputError, match=r"item 2 .*shape \(1, 5, 6\).*item 0"):
        DeepEnsembleClassifier(**QUICK).fit(ListDataset(items))


def test_non_finite_values_in_a_dataset_name_the_row():
    X, y, _ = images(20)
    X[13, 0, 2, 2] = np.nan
    with pytest.raises(InvalidInputError, match="row 13 of X holds NaN"):
        DeepEnsembleClassifier(**QUICK).fit(TensorDataset(torch.tensor(X), torch.tensor(y)))


def test_non_finite_values_at_predict_name_the_row(tmp_path):
    X, y, _ = images(30)
    model = DeepEnsembleClassifier(**QUICK).fit(X, y)
    X[7, 0, 1, 1] = np.inf
    with pytest.raises(InvalidInputError, match="row 7 of X holds NaN"):
        model.predict(TensorDataset(torch.tensor(X)))


def test_wrong_trailing_shape_at_predict():
    X, y, _ = images(30)
    model = DeepEnsembleClassifier(**QUICK).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"fitted on rows of shape \(1, 6, 6\)"):
        model.predict(np.zeros((3, 1, 5, 6), dtype=np.float32))
    with pytest.raises(InvalidInputError, match=r"fitted on rows of shape \(1, 6, 6\)"):
        model.predict(np.zeros((3, 36)))


def test_the_default_mlp_refuses_nd_input():
    X, y, _ = images(20)
    with pytest.raises(InvalidInputError, match=r"default MLP.*module=.*flatten"):
        DeepEnsembleClassifier(n_members=1, epochs=1).fit(X, y)


def test_a_dataset_with_y_or_an_array_without_y_is_refused():
    X, y, _ = images(20)
    dataset = TensorDataset(torch.tensor(X), torch.tensor(y))
    with pytest.raises(InvalidInputError, match="y=None"):
        DeepEnsembleClassifier(**QUICK).fit(dataset, y)
    with pytest.raises(InvalidInputError, match="needs y"):
        DeepEnsembleClassifier(**QUICK).fit(X)


def test_ray_backend_refuses_a_dataset():
    X, y, _ = images(20)
    with pytest.raises(InvalidInputError, match=r"backend='ray'.*in-memory arrays"):
        DeepEnsembleClassifier(**{**QUICK, "backend": "ray"}).fit(
            TensorDataset(torch.tensor(X), torch.tensor(y)))


def test_autodeuq_refuses_a_dataset():
    from uqkit.ensemble import AutoDEUQRegressor

    X, _, score = images(20)
    with pytest.raises(InvalidInputError, match="in-memory 2-D arrays"):
        AutoDEUQRegressor(n_trials=1).fit(TensorDataset(torch.tensor(X), torch.tensor(score)))


def test_no_warning_for_a_plain_dataloader():
    X, y, _ = images(20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataLoaderSettingsWarning)
        DeepEnsembleClassifier(**QUICK).fit(DataLoader(TensorDataset(torch.tensor(X),
                                                                     torch.tensor(y))))
