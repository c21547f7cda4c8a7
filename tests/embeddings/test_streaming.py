"""Streamed GloVe-V covariances: the folder layout, bounded memory, lazy reads, damaged folders."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

import uqkit
from uqkit.embeddings import GloVeV
from uqkit.embeddings._store import CovarianceStore, parse_memory_budget
from uqkit.exceptions import InvalidInputError, ModelFileError

from ._synthetic import synthetic_glove


@pytest.fixture(scope="module")
def wide():
    return synthetic_glove(n_words=60, n_contexts=80, dim=6, n_observed=40, sigma=0.3, seed=3)


def _fit(data, **params):
    return GloVeV(**params).fit(data.X, data.W, data.V, data.b, data.c)


@pytest.mark.parametrize("approximation", [None, "diagonal", "low_rank", "auto"])
@pytest.mark.parametrize("refit", [False, True])
def test_streamed_folder_equals_the_in_memory_covariances(tmp_path, wide, approximation, refit):
    memory = _fit(wide, approximation=approximation, refit_vectors=refit)
    # a tiny budget and batch: many chunks, and every word's contexts summed over blocks
    streamed = _fit(
        wide,
        approximation=approximation,
        refit_vectors=refit,
        memory_budget="64KiB",
        batch_size=7,
        covariance_dir=tmp_path / "cov",
    )
    store = CovarianceStore(tmp_path / "cov")
    assert len(store.manifest["chunks"]) > 1 or approximation is not None  # 17 KB, 8 KiB chunks
    assert not hasattr(streamed, "covariances_") and not hasattr(streamed, "diagonals_")
    np.testing.assert_allclose(streamed.vectors_, memory.vectors_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(streamed.sigma2_, memory.sigma2_, rtol=1e-11)
    for i in range(60):
        np.testing.assert_allclose(
            streamed.covariance(i), memory.covariance(i), rtol=1e-9, atol=1e-13
        )
        if approximation is not None:
            np.testing.assert_allclose(store.diagonal(i), memory.diagonals_[i], rtol=1e-9)


def _input_bytes(data) -> int:
    X = data.X
    arrays = (X.data, X.indices, X.indptr, data.W, data.V, data.b, data.c)
    return sum(a.nbytes for a in arrays)


def test_peak_memory_stays_within_the_budget_as_the_vocabulary_grows(tmp_path):
    """tracemalloc peak of fit <= budget + a copy of the inputs + the per-word arrays
    (8 (D + 8) bytes a word) + 256 KiB of fixed allocations, at n and 4n words, while the full
    covariances of the larger vocabulary (8 MB) are far above that. tracemalloc sees numpy's
    allocations (the gathered contexts, the chunk buffers); torch's (the D x D factors) are not
    traced and are bounded by the same per-batch word limit."""
    budget, dim = 2**20, 16
    warm = synthetic_glove(n_words=40, n_contexts=300, dim=dim, n_observed=40, sigma=0.3, seed=0)
    _fit(warm, memory_budget=budget, covariance_dir=tmp_path / "warm")  # imports, first calls
    peaks = {}
    for n in (1000, 4000):
        data = synthetic_glove(n_words=n, n_contexts=300, dim=dim, n_observed=40, sigma=0.3,
                               seed=0)
        tracemalloc.start()
        try:
            _fit(data, memory_budget=budget, covariance_dir=tmp_path / f"n{n}")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        bound = budget + _input_bytes(data) + 8 * (dim + 8) * n + 2**18
        assert peak <= bound, (n, peak, bound)
        peaks[n] = peak
    assert 4000 * dim * dim * 8 > 2 * peaks[4000]  # the covariances never were all in memory


def test_lazily_opened_model_answers_like_the_in_memory_one(tmp_path, wide):
    vocab = [f"w{i}" for i in range(60)]
    memory = GloVeV(approximation="auto").fit(wide.X, wide.W, wide.V, wide.b, wide.c,
                                              vocab=vocab)
    folder = memory.save(tmp_path / "saved")
    assert sorted(p.name for p in folder.iterdir())[:2] == ["chunk-00000.safetensors",
                                                             "manifest.json"]
    loaded = uqkit.load(folder)
    assert loaded.covariance_dir_ == str(folder) and not hasattr(loaded, "factors_")
    for a, b in [("w1", "w2"), ("w0", "w59"), ("w7", "w7")]:
        if a == b:
            continue
        x, y = loaded.similarity(a, b), memory.similarity(a, b)
        assert x.estimate == y.estimate
        np.testing.assert_allclose(x.std_error, y.std_error, rtol=1e-12)
    # a streamed model saved into another folder, then into its own folder
    streamed = GloVeV(covariance_dir=tmp_path / "stream").fit(
        wide.X, wide.W, wide.V, wide.b, wide.c, vocab=vocab
    )
    for target in (tmp_path / "copy", tmp_path / "stream"):
        again = uqkit.load(streamed.save(target))
        np.testing.assert_array_equal(again.covariance("w3"), streamed.covariance("w3"))


def test_damaged_folders_give_model_file_errors(tmp_path, wide):
    model = _fit(wide, memory_budget="64KiB")
    folder = model.save(tmp_path / "m")
    manifest = json.loads((folder / "manifest.json").read_text())
    chunk = folder / manifest["chunks"][0]["file"]
    raw = chunk.read_bytes()

    chunk.write_bytes(raw[:-10])  # cut short
    with pytest.raises(ModelFileError, match="another size"):
        uqkit.load(folder)
    flipped = bytearray(raw)
    flipped[-5] ^= 0xFF  # a covariance value changed: found by verify(), which hashes all bytes
    chunk.write_bytes(bytes(flipped))
    store = CovarianceStore(folder)
    with pytest.raises(ModelFileError, match="SHA-256"):
        store.verify()
    with pytest.raises(ModelFileError, match="SHA-256"):
        uqkit.load(folder).verify_files()
    chunk.write_bytes(raw)
    CovarianceStore(folder).verify()

    edited = dict(manifest, dim=7)
    (folder / "manifest.json").write_text(json.dumps(edited))
    with pytest.raises(ModelFileError, match="modified"):
        uqkit.load(folder)
    (folder / "manifest.json").write_text(json.dumps(dict(manifest, version=99)))
    with pytest.raises(ModelFileError, match="version 99"):
        uqkit.load(folder)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="pass that folder"):
        uqkit.load(folder / "model.safetensors")
    assert uqkit.load(folder).covariance(0).shape == (6, 6)


def test_memory_budget_is_parsed_and_checked():
    assert parse_memory_budget("2GB") == 2 * 10**9
    assert parse_memory_budget("512 MiB") == 512 * 2**20
    for bad in ("lots", "2 parsecs", 10, True):
        with pytest.raises(InvalidInputError, match="memory_budget"):
            parse_memory_budget(bad)
    # full covariances in memory larger than the budget: refused, pointing to covariance_dir
    many = synthetic_glove(n_words=400, n_contexts=80, dim=6, n_observed=20, sigma=0.3, seed=0)
    with pytest.raises(InvalidInputError, match="covariance_dir"):
        _fit(many, memory_budget="64KiB")  # 400 * 36 * 8 bytes > 64 KiB
