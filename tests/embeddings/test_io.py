"""Files of the original GloVe tool: round trips and the binary layouts."""

from __future__ import annotations

import numpy as np
import pytest

from uqkit.embeddings import (
    read_glove_cooccurrence,
    read_glove_vectors,
    read_glove_vocab,
    write_glove_vectors,
)
from uqkit.exceptions import InvalidInputError


@pytest.fixture
def params():
    rng = np.random.default_rng(0)
    return (
        ["the", "doctor", "null"],
        rng.normal(size=(3, 4)),
        rng.normal(size=(3, 4)),
        rng.normal(size=3),
        rng.normal(size=3),
    )


@pytest.mark.parametrize("header", [True, False])
def test_full_layout_round_trip(tmp_path, params, header):
    vocab, W, V, b, c = params
    path = write_glove_vectors(tmp_path / "vectors.txt", vocab, W, V, b, c, header=header)
    read = read_glove_vectors(path, layout="auto" if header else "full")
    assert read.vocab == vocab  # "null" stays a word, not a missing value
    for got, want in zip(read[1:], (W, V, b, c)):
        np.testing.assert_array_equal(got, want)


def test_vectors_only_and_auto_without_header(tmp_path, params):
    vocab, W, *_ = params
    path = write_glove_vectors(tmp_path / "vectors.txt", vocab, W)
    read = read_glove_vectors(path)
    np.testing.assert_array_equal(read.W, W)
    assert read.V is None and read.b is None and read.c is None


def test_binary_vectors_layout(tmp_path, params):
    vocab, W, V, b, c = params
    (tmp_path / "vocab.txt").write_text("".join(f"{w} {10 - i}\n" for i, w in enumerate(vocab)))
    # the tool's vectors.bin: 2 * n rows of D + 1 doubles (word rows, then context rows)
    np.concatenate([np.column_stack([W, b]), np.column_stack([V, c])]).tofile(tmp_path / "v.bin")
    read = read_glove_vectors(tmp_path / "v.bin", vocab=tmp_path / "vocab.txt")
    assert read.vocab == vocab
    for got, want in zip(read[1:], (W, V, b, c)):
        np.testing.assert_array_equal(got, want)
    words, counts = read_glove_vocab(tmp_path / "vocab.txt")
    assert words == vocab and counts.tolist() == [10, 9, 8]
    with pytest.raises(InvalidInputError, match="vocab"):
        read_glove_vectors(tmp_path / "v.bin")


def test_binary_cooccurrence_records(tmp_path):
    records = np.array(
        [(1, 2, 0.5), (2, 1, 0.5), (3, 3, 2.0), (1, 2, 1.0)],
        dtype=[("a", "<i4"), ("b", "<i4"), ("x", "<f8")],
    )
    records.tofile(tmp_path / "cooccurrence.bin")
    matrix = read_glove_cooccurrence(tmp_path / "cooccurrence.bin", n_words=4)
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 0], expected[2, 2] = 1.5, 0.5, 2.0
    np.testing.assert_array_equal(matrix.toarray(), expected)
    (tmp_path / "bad.bin").write_bytes(b"123")
    with pytest.raises(InvalidInputError, match="multiple of 16"):
        read_glove_cooccurrence(tmp_path / "bad.bin")


def test_header_mismatch_and_partial_parameters(tmp_path, params):
    vocab, W, V, _, _ = params
    path = tmp_path / "vectors.txt"
    path.write_text("3 7\n" + "".join(f"{w} 1 2 3\n" for w in vocab))
    with pytest.raises(InvalidInputError, match="D = 7"):
        read_glove_vectors(path)
    with pytest.raises(InvalidInputError, match="together"):
        write_glove_vectors(tmp_path / "x.txt", vocab, W, V)
