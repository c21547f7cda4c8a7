"""Co-occurrence counting: brute-force equality, vocabulary rules, streaming inputs."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from uqkit.embeddings import count_cooccurrences, simple_tokenize
from uqkit.exceptions import InvalidInputError


def brute_force(docs, vocab, window, symmetric, distance_weighting):
    """The GloVe tool's loop: drop unknown words, then pair each word with its left context."""
    index = {w: i for i, w in enumerate(vocab)}
    counts: dict[tuple[int, int], float] = defaultdict(float)
    for doc in docs:
        ids = [index[t] for t in doc if t in index]
        for j, right in enumerate(ids):
            for k in range(max(0, j - window), j):
                weight = 1.0 / (j - k) if distance_weighting else 1.0
                counts[ids[k], right] += weight
                if symmetric:
                    counts[right, ids[k]] += weight
    dense = np.zeros((len(vocab), len(vocab)))
    for (i, j), value in counts.items():
        dense[i, j] = value
    return dense


def random_docs(seed, n_docs=12, alphabet=8):
    rng = np.random.default_rng(seed)
    words = [f"w{k}" for k in range(alphabet)]
    probs = 1.0 / np.arange(1, alphabet + 1)
    probs /= probs.sum()
    return [list(rng.choice(words, size=rng.integers(0, 40), p=probs)) for _ in range(n_docs)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("window", "symmetric", "distance_weighting", "buffer"),
    [(1, True, True, 1_000_000), (3, True, True, 5), (5, False, True, 17), (4, True, False, 9)],
)
def test_counts_equal_brute_force(seed, window, symmetric, distance_weighting, buffer):
    docs = random_docs(seed)
    result = count_cooccurrences(
        docs,
        window_size=window,
        min_count=2,
        symmetric=symmetric,
        distance_weighting=distance_weighting,
        max_buffer_pairs=buffer,
    )
    expected = brute_force(docs, result.vocab, window, symmetric, distance_weighting)
    np.testing.assert_allclose(result.matrix.toarray(), expected, rtol=1e-12, atol=1e-12)
    assert result.n_documents == len(docs)
    assert result.n_tokens == sum(map(len, docs))


def test_vocabulary_min_count_cap_and_order():
    docs = [["b", "a", "c", "a", "b", "d"], ["c", "e"]]
    result = count_cooccurrences(docs, window_size=2, min_count=2, max_vocab=2)
    # a, b, c all occur twice: ties are broken alphabetically, then capped at two words
    assert result.vocab == ["a", "b"]
    np.testing.assert_array_equal(result.word_counts, [2, 2])
    counts = Counter(t for d in docs for t in d)
    full = count_cooccurrences(docs, window_size=2, min_count=1)
    assert [counts[w] for w in full.vocab] == sorted(counts.values(), reverse=True)


def test_symmetric_matrix_and_files(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("The cat sat on the mat.\nA dog, a cat.\n")
    second.write_text("the dog sat\n")
    from_files = count_cooccurrences([first, second], window_size=3, min_count=1)
    docs = [simple_tokenize(line) for p in (first, second) for line in p.read_text().splitlines()]
    from_lists = count_cooccurrences(docs, window_size=3, min_count=1)
    assert from_files.vocab == from_lists.vocab
    np.testing.assert_array_equal(from_files.matrix.toarray(), from_lists.matrix.toarray())
    dense = from_files.matrix.toarray()
    np.testing.assert_array_equal(dense, dense.T)
    assert from_files.n_documents == 3


def test_fixed_vocab_skips_first_pass_and_drops_unknown_words():
    result = count_cooccurrences(iter([["x", "a", "y", "b"]]), window_size=1, vocab=["a", "b"])
    # "y" is removed before windows are formed, so a and b become neighbours
    np.testing.assert_array_equal(result.matrix.toarray(), [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(result.word_counts, [1, 1])


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="one-shot iterator"):
        count_cooccurrences(iter([["a", "b"]]), min_count=1)
    with pytest.raises(InvalidInputError, match="not a file"):
        count_cooccurrences(tmp_path / "missing.txt")
    with pytest.raises(InvalidInputError, match="lower min_count"):
        count_cooccurrences([["a"]], min_count=5)
    with pytest.raises(InvalidInputError, match="window_size"):
        count_cooccurrences([["a"]], window_size=0)
    with pytest.raises(InvalidInputError, match="duplicate"):
        count_cooccurrences([["a"]], vocab=["a", "a"])


def test_a_str_corpus_is_a_path_to_a_file(tmp_path):
    corpus = tmp_path / "corpus_data.txt"
    corpus.write_text("the cat sat\nthe dog sat\n")
    from_str = count_cooccurrences(str(corpus), window_size=2, min_count=1)
    from_path = count_cooccurrences(corpus, window_size=2, min_count=1)
    # the file's words, never the words of the path string itself
    assert sorted(from_str.vocab) == ["cat", "dog", "sat", "the"]
    assert from_str.vocab == from_path.vocab and from_str.n_documents == 2
    np.testing.assert_array_equal(from_str.matrix.toarray(), from_path.matrix.toarray())
    # with a fixed vocabulary (no first pass) too
    fixed = count_cooccurrences(str(corpus), window_size=2, vocab=["cat", "sat"])
    np.testing.assert_array_equal(fixed.word_counts, [1, 2])


def test_a_str_that_is_no_file_is_refused_with_the_fix():
    for vocab in (None, ["the"]):
        with pytest.raises(InvalidInputError, match=r"not a file.*iterable of documents"):
            count_cooccurrences("the cat sat on the mat", min_count=1, vocab=vocab)
