"""Interop with gensim's ``KeyedVectors``: GloVe-V vectors out, vectors you already have in.

GloVe-V (Vallebueno, Handan-Nader, Manning & Ho, EMNLP 2024) needs the GloVe word vectors ``W``
in the row order of the co-occurrence matrix; gensim users hold them as ``KeyedVectors`` (word
to vector). :func:`to_keyed_vectors` exports a fitted model's vectors (with each word's number of
contexts, :math:`\\hat\\sigma_i^2` and whether it has a covariance as per-key attributes) and
:func:`vectors_in_order` reads a ``KeyedVectors``-like object back in a given vocabulary order.
Only the ``KeyedVectors`` interface is used (``index_to_key``, ``vector_size``, ``__getitem__``,
``__contains__``, ``add_vectors``, ``set_vecattr``), so any object providing it works.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from uqkit.exceptions import InvalidInputError, require

__all__ = ["to_keyed_vectors", "vectors_in_order"]


def to_keyed_vectors(vocab: Sequence[str], vectors: np.ndarray, attributes: dict | None = None):
    """A ``gensim.models.KeyedVectors`` holding ``vectors`` (float64) under the keys ``vocab``.

    Parameters
    ----------
    vocab : sequence of str
        The keys, one per row.
    vectors : ndarray of shape (n_words, D)
    attributes : dict of str to ndarray of shape (n_words,), optional
        Per-key attributes (``kv.get_vecattr(word, name)``).

    Returns
    -------
    gensim.models.KeyedVectors
    """
    require("gensim", "embeddings")
    from gensim.models import KeyedVectors

    vectors = np.asarray(vectors, dtype=np.float64)
    keyed = KeyedVectors(vectors.shape[1], count=0, dtype=np.float64)
    keyed.add_vectors(list(vocab), vectors)
    for name, values in (attributes or {}).items():
        for word, value in zip(vocab, np.asarray(values).tolist()):
            keyed.set_vecattr(word, name, value)
    return keyed


def vectors_in_order(keyed_vectors, vocab: Sequence[str]) -> np.ndarray:
    """The vectors of ``vocab``, in that order, from a ``KeyedVectors``-like object.

    Parameters
    ----------
    keyed_vectors : gensim.models.KeyedVectors or an object with the same interface
        ``__contains__(word)``, ``__getitem__(word) -> vector`` and ``vector_size``.
    vocab : sequence of str
        Words in the row order wanted (the co-occurrence matrix's).

    Returns
    -------
    ndarray of shape (len(vocab), vector_size), float64

    Raises
    ------
    InvalidInputError
        If a word of ``vocab`` has no vector.

    Examples
    --------
    >>> vectors_in_order({"b": [0.0, 1.0], "a": [1.0, 0.0]}, ["a", "b"]).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    missing = [word for word in vocab if word not in keyed_vectors]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} words of the vocabulary have no vector in the KeyedVectors (first: "
            f"{missing[:3]!r}). Pass the vectors the co-occurrence counts were trained with, or "
            "restrict the counts to the words that have a vector."
        )
    rows = [np.asarray(keyed_vectors[word], dtype=np.float64) for word in vocab]
    dims = {row.shape for row in rows}
    if len(dims) != 1 or len(next(iter(dims))) != 1:
        raise InvalidInputError(f"the KeyedVectors hold vectors of shapes {sorted(dims)}; need "
                                "one dimension D for all words.")
    return np.stack(rows)
