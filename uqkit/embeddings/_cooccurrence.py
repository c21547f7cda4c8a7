"""Streaming, memory-bounded co-occurrence counting as in the GloVe tool.

Implements the counts that GloVe fits (Pennington, Socher & Manning, EMNLP 2014, Sec. 3 and
Sec. 4.2): two tokens at distance ``d <= window_size`` inside one document add ``1/d`` to
:math:`X_{ij}` (``distance_weighting=True``) or ``1`` (``False``); with ``symmetric=True`` the
left and the right context both count, so :math:`X` is symmetric. Out-of-vocabulary tokens are
removed before windows are formed and windows never cross a document boundary, as in the
original ``vocab_count``/``cooccur`` programs.

Two passes over the corpus: the first counts words to build the vocabulary (``min_count``,
``max_vocab``), the second counts co-occurrences. Pairs are buffered in chunks of at most
``max_buffer_pairs`` entries and summed into a sparse matrix after each chunk, so the memory used
is the result plus a bounded buffer, whatever the size of the corpus.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from uqkit.exceptions import InvalidInputError

__all__ = ["Cooccurrences", "check_cooccurrence", "count_cooccurrences", "simple_tokenize"]

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def simple_tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words (letters/digits, inner apostrophes kept).

    Parameters
    ----------
    text : str
        One document.

    Returns
    -------
    list of str
        The tokens in order.

    Examples
    --------
    >>> simple_tokenize("The doctor's bag, and THE nurse.")
    ['the', "doctor's", 'bag', 'and', 'the', 'nurse']
    """
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True, eq=False)
class Cooccurrences:
    """Co-occurrence counts of a corpus and the vocabulary that indexes them.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix of shape (n_words, n_words)
        :math:`X_{ij}`, the (distance-weighted) number of times context word ``j`` occurs within
        the window of word ``i``. Rows and columns follow ``vocab``.
    vocab : list of str
        The words, most frequent first (ties broken alphabetically), as GloVe's ``vocab_count``.
    word_counts : ndarray of shape (n_words,)
        Corpus frequency of each word.
    n_tokens : int
        Number of tokens read (before removing out-of-vocabulary ones).
    n_documents : int
        Number of documents read.

    Examples
    --------
    >>> counts = count_cooccurrences([["a", "b", "a"]], window_size=2, min_count=1)
    >>> counts.vocab
    ['a', 'b']
    >>> counts.matrix.toarray()
    array([[1., 2.],
           [2., 0.]])
    """

    matrix: sparse.csr_matrix
    vocab: list[str]
    word_counts: np.ndarray
    n_tokens: int
    n_documents: int

    def index(self) -> dict[str, int]:
        """Map from word to its row/column in ``matrix``."""
        return {word: i for i, word in enumerate(self.vocab)}


def _documents(corpus, tokenizer: Callable[[str], list[str]]) -> Iterator[list[str]]:
    """Yield each document of ``corpus`` as a list of tokens (files are read line by line)."""
    if isinstance(corpus, (str, os.PathLike)):
        # a str on its own is a path (checked by _check_corpus), never a one-line document
        corpus = [Path(corpus)]
    for item in corpus:
        if isinstance(item, os.PathLike):
            with open(item, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    yield tokenizer(line)
        elif isinstance(item, str):
            yield tokenizer(item)
        else:
            yield [str(token) for token in item]


def _check_corpus(corpus, *, read_twice: bool) -> None:
    """Refuse a corpus that cannot be read as meant: a path that is no file, a one-shot iterator
    that the two passes would read twice."""
    if isinstance(corpus, (str, os.PathLike)):
        if not Path(corpus).is_file():
            shown = str(corpus) if len(str(corpus)) <= 60 else f"{str(corpus)[:57]}..."
            raise InvalidInputError(
                f"corpus {shown!r} is not a file: a str corpus is read as a path. Pass "
                "a path to an existing text file (one document per line), a list of such paths, "
                "or an iterable of documents (strings or token lists), e.g. [text]."
            )
        return
    if isinstance(corpus, (bytes, bytearray)):
        raise InvalidInputError(
            "corpus is bytes; pass a path to a text file or an iterable of documents (strings or "
            "token lists)."
        )
    if not read_twice:
        return
    if iter(corpus) is corpus:
        raise InvalidInputError(
            "corpus is a one-shot iterator, but counting reads it twice (vocabulary, then "
            "co-occurrences). Pass a list, a path, or a re-iterable object; or pass vocab=... "
            "to skip the vocabulary pass."
        )


def _build_vocab(
    corpus, tokenizer, min_count: int, max_vocab: int | None
) -> tuple[list[str], np.ndarray]:
    counter: Counter[str] = Counter()
    for tokens in _documents(corpus, tokenizer):
        counter.update(tokens)
    kept = sorted(
        ((word, count) for word, count in counter.items() if count >= min_count),
        key=lambda item: (-item[1], item[0]),
    )
    if max_vocab is not None:
        kept = kept[:max_vocab]
    if not kept:
        raise InvalidInputError(
            f"No word occurs at least min_count={min_count} times in the corpus; lower min_count."
        )
    return [w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64)


def count_cooccurrences(
    corpus: str | os.PathLike | Iterable,
    *,
    window_size: int = 10,
    min_count: int = 5,
    max_vocab: int | None = None,
    symmetric: bool = True,
    distance_weighting: bool = True,
    vocab: Sequence[str] | None = None,
    tokenizer: Callable[[str], list[str]] | None = None,
    max_buffer_pairs: int = 4_000_000,
) -> Cooccurrences:
    """Count windowed co-occurrences of a corpus into a sparse matrix, streaming.

    Follows the GloVe tool (Pennington et al., 2014, Sec. 4.2): a context word at distance ``d``
    adds ``1/d`` to :math:`X_{ij}`; windows stay inside a document and skip out-of-vocabulary
    tokens.

    Parameters
    ----------
    corpus : path, or list of ``pathlib.Path`` objects and/or documents
        A path (``str`` or ``Path``) names one text file: a ``str`` on its own is always a path,
        and one that is not an existing file is refused (wrap a text in a list, ``[text]``).
        Inside a list, ``Path`` objects name files and strings are documents (tokenised by
        ``tokenizer``), as are sequences of tokens.
        Text files hold one document per line. The corpus is read twice unless ``vocab`` is
        given, so it must not be a one-shot generator.
    window_size : int, default=10
        Largest distance between a word and a context word.
    min_count : int, default=5
        Words seen fewer times are dropped from the vocabulary.
    max_vocab : int, optional
        Keep at most this many of the most frequent words.
    symmetric : bool, default=True
        Count context on both sides (``X`` symmetric); ``False`` counts left context only.
    distance_weighting : bool, default=True
        Weight a pair at distance ``d`` by ``1/d``; ``False`` counts every pair as 1.
    vocab : sequence of str, optional
        A fixed vocabulary (its order indexes the matrix); skips the first pass.
    tokenizer : callable, optional
        ``str -> list[str]`` for string documents; default :func:`simple_tokenize`.
    max_buffer_pairs : int, default=4_000_000
        Pairs buffered before they are summed into the sparse result; bounds the working memory
        (about 16 bytes a pair) independently of the corpus size.

    Returns
    -------
    Cooccurrences
        The CSR matrix, the vocabulary and word counts.

    Examples
    --------
    >>> docs = ["the cat sat on the mat", "the dog sat"]
    >>> counts = count_cooccurrences(docs, window_size=2, min_count=1)
    >>> counts.vocab[:2]
    ['the', 'sat']
    >>> index = counts.index()
    >>> float(counts.matrix[index["the"], index["sat"]])  # three pairs at distance 2
    1.5
    """
    for name, value, low in (
        ("window_size", window_size, 1),
        ("min_count", min_count, 1),
        ("max_buffer_pairs", max_buffer_pairs, 1),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InvalidInputError(f"{name} must be an integer >= {low}; got {value!r}.")
    if max_vocab is not None and (not isinstance(max_vocab, (int, np.integer)) or max_vocab < 1):
        raise InvalidInputError(f"max_vocab must be None or an integer >= 1; got {max_vocab!r}.")
    tokenizer = simple_tokenize if tokenizer is None else tokenizer

    _check_corpus(corpus, read_twice=vocab is None)
    if vocab is None:
        words, counts = _build_vocab(corpus, tokenizer, min_count, max_vocab)
        known_counts = True
    else:
        words = [str(w) for w in vocab]
        if len(set(words)) != len(words):
            raise InvalidInputError("vocab contains duplicate words; pass each word once.")
        counts = np.zeros(len(words), dtype=np.int64)
        known_counts = False
    index = {word: i for i, word in enumerate(words)}
    n = len(words)
    result = sparse.csr_matrix((n, n), dtype=np.float64)
    tokens_per_chunk = max(window_size + 1, max_buffer_pairs // window_size)
    chunk_ids: list[np.ndarray] = []
    chunk_len = 0
    n_tokens = 0
    n_documents = 0

    def flush() -> None:
        nonlocal result, chunk_ids, chunk_len
        if chunk_ids:
            result = result + _count_chunk(chunk_ids, n, window_size, distance_weighting)
        chunk_ids, chunk_len = [], 0

    for tokens in _documents(corpus, tokenizer):
        n_documents += 1
        n_tokens += len(tokens)
        ids = np.fromiter((index.get(t, -1) for t in tokens), dtype=np.int64, count=len(tokens))
        ids = ids[ids >= 0]
        if not known_counts:
            np.add.at(counts, ids, 1)
        # split long documents so that one chunk never exceeds the buffer; the overlap keeps
        # every pair of the document counted exactly once (see _count_chunk's `start`)
        start = 0
        while start < len(ids):
            stop = min(len(ids), start + tokens_per_chunk)
            lo = max(0, start - window_size)
            chunk_ids.append(np.stack([ids[lo:stop], np.arange(lo, stop) >= start]))
            chunk_len += stop - lo
            start = stop
            if chunk_len >= tokens_per_chunk:
                flush()
    flush()
    if symmetric:
        result = (result + result.T).tocsr()
    result.sum_duplicates()
    result.sort_indices()
    return Cooccurrences(
        matrix=result, vocab=words, word_counts=counts, n_tokens=n_tokens, n_documents=n_documents
    )


def _count_chunk(
    pieces: list[np.ndarray], n: int, window_size: int, distance_weighting: bool
) -> sparse.csr_matrix:
    """Left-context counts ``A[w1, w2]`` (``w1`` before ``w2``) of a chunk of document pieces.

    Each piece is a ``(2, L)`` array: vocabulary ids, and a flag telling whether the token is
    counted as the *later* word of a pair (tokens carried over from the previous piece of the same
    document only serve as left context).
    """
    ids = np.concatenate([p[0] for p in pieces])
    is_new = np.concatenate([p[1] for p in pieces]).astype(bool)
    doc = np.repeat(np.arange(len(pieces)), [p.shape[1] for p in pieces])
    rows, cols, vals = [], [], []
    for d in range(1, window_size + 1):
        if d >= len(ids):
            break
        keep = (doc[:-d] == doc[d:]) & is_new[d:]
        rows.append(ids[:-d][keep])
        cols.append(ids[d:][keep])
        vals.append(np.full(int(keep.sum()), 1.0 / d if distance_weighting else 1.0))
    if not rows:
        return sparse.csr_matrix((n, n), dtype=np.float64)
    matrix = sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tocsr()
    matrix.sum_duplicates()
    return matrix


def check_cooccurrence(cooccurrence, name: str = "cooccurrence") -> sparse.csr_matrix:
    """Validate a co-occurrence matrix and return it as CSR float64 without explicit zeros.

    Parameters
    ----------
    cooccurrence : scipy.sparse matrix, ndarray or Cooccurrences
        Non-negative finite counts with at least one positive entry.
    name : str, default="cooccurrence"
        How error messages call it.

    Returns
    -------
    scipy.sparse.csr_matrix
        float64, duplicates summed, sorted indices, no explicit zeros.

    Examples
    --------
    >>> import numpy as np
    >>> check_cooccurrence(np.array([[0.0, 2.0], [2.0, 0.0]])).nnz
    2
    """
    if hasattr(cooccurrence, "matrix") and sparse.issparse(cooccurrence.matrix):
        cooccurrence = cooccurrence.matrix  # a Cooccurrences result
    if sparse.issparse(cooccurrence):
        matrix = sparse.csr_matrix(cooccurrence, dtype=np.float64, copy=True)
    else:
        array = np.asarray(cooccurrence, dtype=np.float64)
        if array.ndim != 2:
            raise InvalidInputError(
                f"{name} must be a 2-D (sparse) matrix of counts; got shape {array.shape}."
            )
        matrix = sparse.csr_matrix(array)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    if not np.all(np.isfinite(matrix.data)):
        raise InvalidInputError(f"{name} contains NaN or infinite counts.")
    if np.any(matrix.data < 0):
        raise InvalidInputError(f"{name} contains negative counts; co-occurrences must be >= 0.")
    if matrix.nnz == 0:
        raise InvalidInputError(f"{name} has no positive entry; nothing to fit.")
    matrix.sort_indices()
    return matrix
