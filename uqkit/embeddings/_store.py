"""A folder of GloVe-V covariances: chunked safetensors files, a JSON manifest, lazy reads.

Vallebueno, Handan-Nader, Manning & Ho (EMNLP 2024) store one covariance per word: full, its
diagonal or a low-rank factor (Sec. 3 and their storage scheme, :mod:`uqkit.embeddings._storage`).
At the paper's scale (71k words, D = 300) the full matrices take ~51 GB, so :class:`ChunkWriter`
writes them batch by batch, as they are computed, into files of bounded size, and
:class:`CovarianceStore` opens such a folder without reading it: each query reads only the slices
of the words it needs (safetensors ``get_slice``, the file memory-mapped).

Layout of a folder::

    manifest.json                 format, version, D, vocabulary size, approximation, chunks
    chunk-00000.safetensors       rows (m,) int64, kind (m,) int8, share (m,) float64, and
    chunk-00001.safetensors       full (m, D, D) or diagonal (m, D) [+ factor_offsets (m + 1,),
    ...                           factors (sum of ranks, D)], in float64
    model.safetensors             (written by ``GloVeV.save``) the uqkit model file

The manifest records each chunk's size in bytes, the SHA-256 of its safetensors header (names,
dtypes, shapes and offsets) and the SHA-256 of the whole file, and its own SHA-256. Opening checks
the manifest, the chunk sizes and the chunk headers (cheap: no tensor data is read);
:meth:`CovarianceStore.verify` hashes every byte. Nothing is unpickled, so opening never runs code.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import numpy as np

from uqkit.embeddings._storage import DIAGONAL, FULL, LOW_RANK, StoredCovariance
from uqkit.exceptions import InvalidInputError, ModelFileError

__all__ = [
    "MANIFEST",
    "STORE_FORMAT",
    "STORE_VERSION",
    "ChunkWriter",
    "CovarianceStore",
    "parse_memory_budget",
]

MANIFEST = "manifest.json"
STORE_FORMAT = "uqkit-glove-v-covariances"
STORE_VERSION = 1
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")
_SMALLEST_BUDGET = 2**16


def parse_memory_budget(value) -> int:
    """Bytes of a ``memory_budget``: an integer number of bytes or a string such as ``"2GB"``.

    Decimal units (``KB``, ``MB``, ``GB``, ``TB``: powers of 1000) and binary units (``KiB``,
    ``MiB``, ``GiB``, ``TiB``: powers of 1024) are accepted, in any case.

    Examples
    --------
    >>> parse_memory_budget("2GB"), parse_memory_budget("1.5 MiB"), parse_memory_budget(65536)
    (2000000000, 1572864, 65536)
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        number = int(value)
    elif isinstance(value, str) and (match := _BUDGET.match(value)) and (
        match.group(2).upper() in _UNITS
    ):
        number = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    else:
        raise InvalidInputError(
            f"memory_budget must be a number of bytes or a string such as '2GB' or '512MiB'; got "
            f"{value!r}."
        )
    if number < _SMALLEST_BUDGET:
        raise InvalidInputError(
            f"memory_budget of {number} bytes is too small; use at least {_SMALLEST_BUDGET} bytes "
            "(64KiB). A few hundred MB is a good value on a laptop."
        )
    return number


def _header_sha(path: Path) -> str:
    """SHA-256 of a safetensors file's header (its 8-byte length and the JSON table)."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) != 8:
            raise ModelFileError(f"{str(path)!r} is truncated (no safetensors header).")
        (size,) = struct.unpack("<Q", head)
        if size > 100 * 2**20:
            raise ModelFileError(f"{str(path)!r} has an implausible safetensors header.")
        table = handle.read(size)
    return hashlib.sha256(head + table).hexdigest()


def _file_sha(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            sha.update(block)
    return sha.hexdigest()


def _manifest_sha(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class ChunkWriter:
    """Write covariances batch by batch into chunk files of about ``chunk_bytes`` each.

    Parameters
    ----------
    folder : path
        Destination folder (created; chunk files and the manifest of an earlier store in it are
        replaced).
    n_words, dim : int
        Vocabulary size and dimension ``D``.
    approximation : {None, "diagonal", "low_rank", "auto"}
        The storage chosen by :func:`~uqkit.embeddings._storage.approximate` (None: full).
    chunk_bytes : int
        Buffered bytes after which a chunk is written; the writer holds at most about this much.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     writer = ChunkWriter(folder, n_words=3, dim=2, approximation=None, chunk_bytes=2**16)
    ...     writer.add_full(np.array([2, 0]), np.stack([np.eye(2), 2 * np.eye(2)]))
    ...     manifest = writer.close()
    ...     store = CovarianceStore(folder)
    ...     store.stored(0).matrix().tolist(), store.has(1)
    ([[2.0, 0.0], [0.0, 2.0]], False)
    """

    def __init__(self, folder, *, n_words: int, dim: int, approximation, chunk_bytes: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in [*self.folder.glob("chunk-*.safetensors"), self.folder / MANIFEST]:
            old.unlink(missing_ok=True)
        self.n_words, self.dim = int(n_words), int(dim)
        self.approximation = approximation
        self.chunk_bytes = int(chunk_bytes)
        self.chunks: list[dict] = []
        self._parts: list[dict[str, np.ndarray]] = []
        self._buffered = 0

    def add_full(self, rows: np.ndarray, covariances: np.ndarray) -> None:
        """Buffer the full ``(m, D, D)`` covariances of the words ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        self._add({
            "rows": rows,
            "kind": np.full(len(rows), FULL, dtype=np.int8),
            "share": np.ones(len(rows)),
            "full": np.ascontiguousarray(covariances, dtype=np.float64),
        })

    def add_approximated(self, rows, kind, share, diagonal, ranks, factors) -> None:
        """Buffer approximated covariances: per word its kind, share kept, exact diagonal and
        rank, and the stacked columns of the low-rank factors (``Approximation`` on the CPU)."""
        rows = np.asarray(rows, dtype=np.int64)
        ranks = np.asarray(ranks, dtype=np.int64)
        self._add({
            "rows": rows,
            "kind": np.asarray(kind, dtype=np.int8),
            "share": np.asarray(share, dtype=np.float64),
            "diagonal": np.ascontiguousarray(diagonal, dtype=np.float64),
            "ranks": ranks,
            "factors": np.ascontiguousarray(factors, dtype=np.float64).reshape(-1, self.dim),
        })

    def _add(self, part: dict[str, np.ndarray]) -> None:
        if not len(part["rows"]):
            return
        self._parts.append(part)
        self._buffered += sum(a.nbytes for a in part.values())
        if self._buffered >= self.chunk_bytes:
            self.flush()

    def flush(self) -> None:
        """Write the buffered words as one chunk file."""
        if not self._parts:
            return
        from safetensors.numpy import save

        parts, self._parts, self._buffered = self._parts, [], 0
        if len(parts) == 1:  # a batch as large as a chunk: written without a copy
            tensors = {name: a for name, a in parts[0].items() if name != "ranks"}
        else:
            tensors = {name: np.concatenate([p[name] for p in parts])
                       for name in parts[0] if name != "ranks"}
        if "ranks" in parts[0]:
            ranks = np.concatenate([p["ranks"] for p in parts])
            tensors["factor_offsets"] = np.concatenate([[0], np.cumsum(ranks)]).astype(np.int64)
        del parts
        words = len(tensors["rows"])
        data = save(tensors)  # the file's bytes: hashed here instead of read back
        del tensors
        name = f"chunk-{len(self.chunks):05d}.safetensors"
        path = self.folder / name
        path.write_bytes(data)
        (size,) = struct.unpack("<Q", data[:8])
        self.chunks.append({
            "file": name,
            "words": words,
            "bytes": len(data),
            "header_sha256": hashlib.sha256(data[: 8 + size]).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
        })

    def close(self) -> dict:
        """Write the last chunk and the manifest; returns the manifest."""
        self.flush()
        manifest = {
            "format": STORE_FORMAT,
            "version": STORE_VERSION,
            "dim": self.dim,
            "n_words": self.n_words,
            "dtype": "float64",
            "approximation": self.approximation,
            "chunks": self.chunks,
        }
        manifest["sha256"] = _manifest_sha(manifest)
        (self.folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        return manifest


class CovarianceStore:
    """A folder written by :class:`ChunkWriter`, opened lazily.

    Opening reads the manifest and each chunk's ``rows`` (the word indices it holds) and checks
    the manifest's digest, the chunk sizes and headers; a covariance is read from its file only
    when asked for (safetensors slices of the memory-mapped file).

    Parameters
    ----------
    folder : path
        The folder.

    Raises
    ------
    ModelFileError
        If the manifest is missing, of another format or version, or edited, or a chunk file is
        missing, truncated or its header changed.
    """

    def __init__(self, folder) -> None:
        self.folder = Path(folder)
        where = str(self.folder)
        path = self.folder / MANIFEST
        if not path.is_file():
            raise ModelFileError(
                f"No GloVe-V covariance folder at {where!r} ({MANIFEST} is missing). Fit GloVeV "
                "with covariance_dir=... or save a fitted model to write one."
            )
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelFileError(f"{str(path)!r} is not a readable manifest: {err}.") from err
        if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
            raise ModelFileError(f"{str(path)!r} is not a GloVe-V covariance manifest.")
        version = manifest.get("version")
        if version != STORE_VERSION:
            raise ModelFileError(
                f"{str(path)!r} is in covariance-folder version {version!r}; this uqkit reads "
                f"version {STORE_VERSION}. Use the uqkit release that wrote it, or refit."
            )
        if manifest.get("sha256") != _manifest_sha(manifest):
            raise ModelFileError(
                f"{str(path)!r} was modified after it was written (digest mismatch). Use the "
                "original folder or refit and save again."
            )
        self.manifest = manifest
        self.dim = int(manifest["dim"])
        self.n_words = int(manifest["n_words"])
        self.approximation = manifest["approximation"]
        self._chunk = np.full(self.n_words, -1, dtype=np.int32)
        self._slot = np.zeros(self.n_words, dtype=np.int64)
        self._offsets: list[np.ndarray | None] = []
        for number, chunk in enumerate(manifest["chunks"]):
            file = self._chunk_path(chunk)
            if not file.is_file() or file.stat().st_size != chunk["bytes"]:
                raise ModelFileError(
                    f"chunk {chunk['file']!r} of {where!r} is missing or has another size than "
                    "its manifest records (a copy cut short?). Copy the whole folder again or "
                    "refit."
                )
            if _header_sha(file) != chunk["header_sha256"]:
                raise ModelFileError(
                    f"the header of chunk {chunk['file']!r} of {where!r} was modified (names, "
                    "dtypes or shapes differ from the manifest). Use the original folder or refit."
                )
            rows = self._read(number, "rows")
            if rows.min(initial=0) < 0 or rows.max(initial=-1) >= self.n_words:
                raise ModelFileError(f"chunk {chunk['file']!r} of {where!r} names unknown words.")
            self._chunk[rows] = number
            self._slot[rows] = np.arange(len(rows))
            self._offsets.append(None)

    def _chunk_path(self, chunk: dict) -> Path:
        name = str(chunk.get("file", ""))
        if not re.fullmatch(r"chunk-[0-9]{5}\.safetensors", name):
            raise ModelFileError(f"{name!r} is not a chunk file name of a covariance folder.")
        return self.folder / name

    def _read(self, number: int, name: str, lo: int | None = None, hi: int | None = None):
        from safetensors import safe_open

        chunk = self.manifest["chunks"][number]
        try:
            with safe_open(str(self._chunk_path(chunk)), framework="numpy") as handle:
                if lo is None:
                    return handle.get_tensor(name)
                return handle.get_slice(name)[lo:hi]
        except ModelFileError:
            raise
        except Exception as err:  # safetensors' own error types for damaged files
            raise ModelFileError(
                f"chunk {chunk['file']!r} of {str(self.folder)!r} cannot be read ({err}). Use "
                "the original folder or refit."
            ) from err

    def has(self, index: int) -> bool:
        """Whether word ``index`` has a stored covariance."""
        return bool(self._chunk[index] >= 0)

    def covered(self) -> np.ndarray:
        """Whether each word has a stored covariance, shape (n_words,)."""
        return self._chunk >= 0

    def stored(self, index: int) -> StoredCovariance:
        """The stored covariance of word ``index``; reads only that word's slices."""
        number, slot = int(self._chunk[index]), int(self._slot[index])
        if number < 0:
            raise InvalidInputError(f"word {index} has no stored covariance.")
        kind = int(self._read(number, "kind", slot, slot + 1)[0])
        if kind == FULL:
            return StoredCovariance(FULL, self._read(number, "full", slot, slot + 1)[0])
        if kind == DIAGONAL:
            return StoredCovariance(DIAGONAL, self._read(number, "diagonal", slot, slot + 1)[0])
        if kind != LOW_RANK:
            raise ModelFileError(f"unknown covariance kind {kind} in {str(self.folder)!r}.")
        if self._offsets[number] is None:
            self._offsets[number] = self._read(number, "factor_offsets")
        lo, hi = (int(v) for v in self._offsets[number][slot : slot + 2])
        return StoredCovariance(LOW_RANK, self._read(number, "factors", lo, hi).T)

    def diagonal(self, index: int) -> np.ndarray:
        """The exact diagonal of word ``index``'s covariance (stored with every approximation)."""
        stored = self.stored(index)
        if stored.kind == FULL:
            return np.diag(stored.values).copy()
        number, slot = int(self._chunk[index]), int(self._slot[index])
        return self._read(number, "diagonal", slot, slot + 1)[0]

    def verify(self) -> None:
        """Hash every byte of every chunk against the manifest.

        Raises
        ------
        ModelFileError
            If a chunk's bytes differ from those written.
        """
        for chunk in self.manifest["chunks"]:
            if _file_sha(self._chunk_path(chunk)) != chunk["sha256"]:
                raise ModelFileError(
                    f"chunk {chunk['file']!r} of {str(self.folder)!r} was modified after it was "
                    "written (SHA-256 mismatch). Use the original folder or refit."
                )

    def disk_bytes(self) -> int:
        """Bytes of all chunk files."""
        return int(sum(chunk["bytes"] for chunk in self.manifest["chunks"]))
