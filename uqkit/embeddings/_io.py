"""Read and write the files of the original GloVe tool (Pennington et al., 2014).

The tool (``vocab_count``, ``cooccur``, ``glove``) writes

* ``vocab.txt``: ``word count`` per line, most frequent first;
* ``cooccurrence.bin``: records ``(int32 word1, int32 word2, float64 count)``, 1-based ids;
* ``vectors.txt``: ``word x_1 ... x_n`` per line, optionally after a ``n_words D`` header line.
  With ``-model 0`` a line holds ``w_i, b_i, v_i, c_i`` (``n = 2(D+1)``: everything GloVe-V
  needs); ``-model 1`` the word vectors only; ``-model 2`` (the default) ``w_i + v_i``, which
  GloVe-V cannot use;
* ``vectors.bin`` (``-binary 1``): all parameters as float64, ``2 * n_words`` rows of
  ``D + 1`` values (word vector and bias, then context vector and bias).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse

from uqkit.exceptions import InvalidInputError

__all__ = [
    "GloVeVectors",
    "read_glove_cooccurrence",
    "read_glove_vectors",
    "read_glove_vocab",
    "write_glove_vectors",
]

_RECORD = np.dtype([("word1", "<i4"), ("word2", "<i4"), ("count", "<f8")])


class GloVeVectors(NamedTuple):
    """Parameters read from a GloVe file; ``V``, ``b``, ``c`` are None when the file lacks them.

    Attributes
    ----------
    vocab : list of str
    W : ndarray of shape (n_words, D)
    V : ndarray of shape (n_words, D) or None
    b : ndarray of shape (n_words,) or None
    c : ndarray of shape (n_words,) or None

    Examples
    --------
    >>> import numpy as np
    >>> params = GloVeVectors(["a"], np.ones((1, 2)), None, None, None)
    >>> params.W.shape, params.V is None
    ((1, 2), True)
    """

    vocab: list[str]
    W: np.ndarray
    V: np.ndarray | None
    b: np.ndarray | None
    c: np.ndarray | None


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"No file at {str(path)!r}.")
    return path


def read_glove_vocab(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read a ``vocab.txt`` written by GloVe's ``vocab_count``.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    words : list of str
    counts : ndarray of shape (n_words,)

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "vocab.txt"
    >>> _ = p.write_text("the 10\\ncat 3\\n")
    >>> read_glove_vocab(p)
    (['the', 'cat'], array([10,  3]))
    """
    words, counts = [], []
    with open(_existing(path), encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise InvalidInputError(f"{path}:{number}: expected 'word count', got {line!r}.")
            words.append(parts[0])
            counts.append(int(parts[1]))
    return words, np.array(counts, dtype=np.int64)


def read_glove_cooccurrence(
    path: str | os.PathLike, n_words: int | None = None
) -> sparse.csr_matrix:
    """Read a binary ``cooccurrence.bin`` (or shuffled ``cooccurrence.shuf.bin``) into CSR.

    Parameters
    ----------
    path : str or PathLike
    n_words : int, optional
        Size of the vocabulary (default: the largest id in the file).

    Returns
    -------
    csr_matrix of shape (n_words, n_words)
        Row/column ``k`` is the ``k``-th word of ``vocab.txt`` (ids are 1-based in the file).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cooc.bin"
    >>> rec = np.array([(1, 2, 0.5), (2, 1, 0.5)], dtype=[("a", "<i4"), ("b", "<i4"), ("x", "<f8")])
    >>> rec.tofile(p)
    >>> read_glove_cooccurrence(p).toarray()
    array([[0. , 0.5],
           [0.5, 0. ]])
    """
    path = _existing(path)
    if path.stat().st_size % _RECORD.itemsize:
        raise InvalidInputError(
            f"{str(path)!r} is not a GloVe co-occurrence file: its size is not a multiple of "
            f"{_RECORD.itemsize} bytes (int32, int32, float64 records)."
        )
    records = np.fromfile(path, dtype=_RECORD)
    rows = records["word1"].astype(np.int64) - 1
    cols = records["word2"].astype(np.int64) - 1
    if len(records) and (rows.min() < 0 or cols.min() < 0):
        raise InvalidInputError(f"{str(path)!r} holds word ids below 1; GloVe ids are 1-based.")
    size = int(max(rows.max(initial=-1), cols.max(initial=-1)) + 1)
    if n_words is not None:
        if size > n_words:
            raise InvalidInputError(
                f"{str(path)!r} holds word ids up to {size} > n_words={n_words}."
            )
        size = int(n_words)
    matrix = sparse.coo_matrix((records["count"], (rows, cols)), shape=(size, size)).tocsr()
    matrix.sum_duplicates()
    return matrix


def read_glove_vectors(
    path: str | os.PathLike,
    *,
    layout: str = "auto",
    vocab: str | os.PathLike | list[str] | None = None,
) -> GloVeVectors:
    """Read vectors (and biases when present) written by the GloVe tool.

    Parameters
    ----------
    path : str or PathLike
        ``vectors.txt`` or, with a ``.bin`` suffix, the binary ``vectors.bin``.
    layout : {"auto", "full", "vectors"}, default="auto"
        Text files only. ``"full"``: lines hold ``w, b, v, c`` (``-model 0``); ``"vectors"``:
        lines hold one vector (``-model 1`` or ``2``). ``"auto"`` decides from the header line
        when there is one, and otherwise reads ``"vectors"``.
    vocab : path to ``vocab.txt`` or list of str, optional
        Required for ``.bin`` files, which store no words.

    Returns
    -------
    GloVeVectors

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "vectors.txt"
    >>> W, V = np.ones((2, 3)), np.zeros((2, 3))
    >>> _ = write_glove_vectors(p, ["a", "b"], W, V, np.ones(2), np.zeros(2), header=True)
    >>> read_glove_vectors(p).b
    array([1., 1.])
    """
    if layout not in ("auto", "full", "vectors"):
        raise InvalidInputError(f"layout must be 'auto', 'full' or 'vectors'; got {layout!r}.")
    path = _existing(path)
    if isinstance(vocab, (str, os.PathLike)):
        vocab = read_glove_vocab(vocab)[0]
    if path.suffix == ".bin":
        if vocab is None:
            raise InvalidInputError(
                "A binary vectors.bin stores no words: pass vocab= (vocab.txt or a list)."
            )
        values = np.fromfile(path, dtype="<f8")
        n = len(vocab)
        if n == 0 or values.size % (2 * n):
            raise InvalidInputError(
                f"{str(path)!r} holds {values.size} numbers, not 2 * n_words * (D + 1) for "
                f"n_words = {n}; is vocab the one the vectors were trained with?"
            )
        table = values.reshape(2 * n, -1)
        dim = table.shape[1] - 1
        return GloVeVectors(
            list(vocab),
            table[:n, :dim].copy(),
            table[n:, :dim].copy(),
            table[:n, dim].copy(),
            table[n:, dim].copy(),
        )

    with open(path, encoding="utf-8") as handle:
        first = handle.readline().split()
    header_dim = None
    if len(first) == 2 and all(part.isdigit() for part in first):
        header_dim = int(first[1])
    frame = pd.read_csv(
        path,
        sep=" ",
        header=None,
        quoting=csv.QUOTE_NONE,
        skiprows=1 if header_dim else 0,
        keep_default_na=False,
        na_filter=False,
        dtype={0: str},
        encoding="utf-8",
    )
    words = frame.iloc[:, 0].astype(str).tolist()
    values = frame.iloc[:, 1:].to_numpy(dtype=np.float64)
    width = values.shape[1]
    if layout == "auto":
        layout = "full" if header_dim is not None and width == 2 * (header_dim + 1) else "vectors"
    if header_dim is not None and width not in (header_dim, 2 * (header_dim + 1)):
        raise InvalidInputError(
            f"{str(path)!r} says D = {header_dim} but its lines hold {width} numbers."
        )
    if vocab is not None and list(vocab) != words:
        raise InvalidInputError(f"the words of {str(path)!r} differ from vocab.")
    if layout == "vectors":
        return GloVeVectors(words, values, None, None, None)
    if width % 2:
        raise InvalidInputError(
            f"layout='full' needs 2(D + 1) numbers per line (w, b, v, c); {str(path)!r} has "
            f"{width}. Write the vectors with the GloVe tool's -model 0."
        )
    dim = width // 2 - 1
    return GloVeVectors(
        words,
        values[:, :dim].copy(),
        values[:, dim + 1 : 2 * dim + 1].copy(),
        values[:, dim].copy(),
        values[:, 2 * dim + 1].copy(),
    )


def write_glove_vectors(
    path: str | os.PathLike,
    vocab: list[str],
    W,
    V=None,
    b=None,
    c=None,
    *,
    header: bool = False,
) -> Path:
    """Write vectors in the GloVe tool's text format (``-model 0`` when ``V, b, c`` are given).

    Parameters
    ----------
    path : str or PathLike
    vocab : list of str
    W : array-like of shape (n_words, D)
    V, b, c : array-like, optional
        Context vectors and both biases; all three or none.
    header : bool, default=False
        Write the ``n_words D`` first line (the tool's ``-write-header 1``).

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "vectors.txt"
    >>> _ = write_glove_vectors(path, ["a", "b"], np.eye(2))
    >>> path.read_text().splitlines()[0]
    'a 1.0 0.0'
    """
    W = np.asarray(W, dtype=np.float64)
    extras = [V, b, c]
    if any(e is None for e in extras) and not all(e is None for e in extras):
        raise InvalidInputError("Pass V, b and c together (full layout) or none of them.")
    if len(vocab) != len(W):
        raise InvalidInputError(f"vocab has {len(vocab)} words but W has {len(W)} rows.")
    if V is not None:
        columns = [W, np.asarray(b, float), np.asarray(V, float), np.asarray(c, float)]
        table = np.column_stack(columns)
    else:
        table = W
    path = Path(path)
    with open(path, "w", encoding="utf-8") as handle:
        if header:
            handle.write(f"{len(W)} {W.shape[1]}\n")
        for word, row in zip(vocab, table):
            if not word or any(ch.isspace() for ch in word):
                raise InvalidInputError(f"word {word!r} is empty or contains white space.")
            handle.write(word + " " + " ".join(repr(float(x)) for x in row) + "\n")
    return path
