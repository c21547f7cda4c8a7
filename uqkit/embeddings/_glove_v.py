"""GloVe-V: the estimator of the sampling covariances of GloVe word vectors.

Vallebueno, Handan-Nader, Manning & Ho, "Statistical Uncertainty in Word Embeddings: GloVe-V",
EMNLP 2024. Holding the context vectors and biases at the GloVe optimum, each word vector is a
weighted least-squares estimate with covariance :math:`\\Sigma_i` (Sec. 3, computed in
:mod:`uqkit.embeddings._variance`, stored as in :mod:`uqkit.embeddings._storage`). Statistics of
several words get their uncertainty from :mod:`uqkit.embeddings._statistics` (Sec. 4).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from uqkit._data import resolve_device
from uqkit._io import FOLDER_MODEL_FILE, write_model_file
from uqkit.base import UQEstimator, check_fitted
from uqkit.embeddings._cooccurrence import check_cooccurrence
from uqkit.embeddings._keyed import to_keyed_vectors, vectors_in_order
from uqkit.embeddings._queries import Word, WordStatisticsMixin
from uqkit.embeddings._results import EmbeddingPrediction
from uqkit.embeddings._storage import (
    DIAGONAL,
    FULL,
    NONE,
    StoredCovariance,
    approximate,
    pack_factors,
)
from uqkit.embeddings._store import MANIFEST, ChunkWriter, CovarianceStore, parse_memory_budget
from uqkit.embeddings._variance import batched_covariances
from uqkit.exceptions import InvalidInputError, ModelFileError

__all__ = ["GloVeV"]

logger = logging.getLogger(__name__)

_STORAGE = (
    "covariances_",
    "covariance_kind_",
    "diagonals_",
    "frobenius_share_",
    "factors_",
    "factor_offsets_",
    "covariance_dir_",
)
# what stays in the model file of a folder-shaped save; the covariances are in the chunks
_IN_CHUNKS = ("covariances_", "diagonals_", "factors_", "factor_offsets_", "covariance_dir_")


class GloVeV(WordStatisticsMixin, UQEstimator):
    """Per-word covariances of GloVe vectors and confidence intervals for their statistics.

    Implements GloVe-V (Vallebueno, Handan-Nader, Manning & Ho, EMNLP 2024): each word vector
    :math:`w_i` is a weighted least-squares estimate over its observed contexts given the context
    vectors and biases, with covariance
    :math:`\\Sigma_i = \\hat\\sigma_i^2 (\\sum_{j\\in K_i} f(X_{ij}) v_j v_j^\\top)^{-1}` (Sec. 3,
    Eqs. 4-6). Words with :math:`|K_i| \\le D` observed contexts have no defined variance; they
    are listed in ``insufficient_words_`` and asking for them raises an error.

    Parameters
    ----------
    x_max : float, default=100
        Cut-off of the GloVe weighting function :math:`f(x) = \\min\\{(x/x_{\\max})^a, 1\\}`
        (:func:`~uqkit.embeddings.glove_weight`); use the value the vectors were trained with.
    weight_exponent : float, default=0.75
        Exponent :math:`a` of the weighting function (the GloVe paper's :math:`\\alpha`).
    approximation : {None, "diagonal", "low_rank", "auto"}, default=None
        Storage of each :math:`\\Sigma_i`: full (None); its diagonal; its smallest-rank
        eigen-truncation keeping ``frobenius_share`` of the Frobenius norm; or ``"auto"``, the
        diagonal where it keeps that share and the low-rank truncation elsewhere (the paper's
        storage scheme).
    frobenius_share : float, default=0.9
        Share of :math:`\\lVert\\Sigma_i\\rVert_F` an approximation keeps (``"low_rank"`` and
        ``"auto"`` guarantee it; ``"diagonal"`` records what it keeps in ``frobenius_share_``).
    refit_vectors : bool, default=False
        Replace the given word vectors by the exact weighted least-squares solution given
        ``V, b, c`` (they agree at the GloVe optimum). Default: use the given vectors, as the paper.
    batch_size : int, default=65536
        Largest number of (word, context) pairs, padding included, gathered at once (lowered
        further when ``memory_budget`` needs it). A word with more contexts is processed alone,
        its contexts in blocks.
    memory_budget : int or str, default="1GB"
        Working memory of the covariance step in bytes, or a string such as ``"2GB"``,
        ``"512MiB"`` (decimal ``KB/MB/GB``, binary ``KiB/MiB/GiB``). 3/8 goes to the gathered
        context vectors of a batch, 1/8 to the ``(B, D, D)`` results of a batch and 3/8 to the
        chunk being written (chunks of ``memory_budget / 8`` bytes). With ``covariance_dir``
        the memory of ``fit`` is this budget plus a copy of the inputs, the per-word arrays
        (``vectors_``, ``sigma2_``, ...: about ``8 (D + 8)`` bytes a word), whatever the
        vocabulary size (numpy allocations traced; the resident memory also holds heap that the
        C allocator keeps after frees). One word at a time needs about
        ``64 D^2`` bytes (its Gram matrix, factor, inverse and approximation); a smaller budget
        is exceeded by that much. Without it the covariances are
        kept in memory; a full storage larger than the budget is refused with a pointer to
        ``covariance_dir``.
    covariance_dir : str or path, optional
        Folder to stream the covariances into as they are computed: chunked safetensors files of
        about ``memory_budget / 8`` bytes and a ``manifest.json``
        (:mod:`uqkit.embeddings._store`); the fitted model reads it lazily. Default: in memory.
    device : str or torch.device, default="auto"
        Where the covariances are computed (float64).
    verbose : int, default=0
        Print progress when positive.

    Attributes
    ----------
    vocab_ : list of str or None
        The words, in the row order of the co-occurrence matrix.
    vectors_ : ndarray of shape (n_words, D)
        The word vectors :math:`\\hat w_i` (float64).
    n_contexts_ : ndarray of shape (n_words,)
        :math:`|K_i|`, the number of observed contexts.
    sigma2_ : ndarray of shape (n_words,)
        :math:`\\hat\\sigma_i^2`; NaN where undefined.
    has_covariance_ : ndarray of shape (n_words,) of bool
        Whether :math:`\\Sigma_i` is defined.
    insufficient_words_ : list
        Words (or indices without ``vocab``) with no covariance: :math:`|K_i| \\le D`, or a
        singular :math:`\\sum_j f v_j v_j^\\top`.
    covariances_ : ndarray of shape (n_words, D, D)
        Full covariances (``approximation=None``); NaN rows where undefined.
    covariance_kind_ : ndarray of shape (n_words,)
        With an approximation: 0 none, 2 diagonal, 3 low rank.
    diagonals_ : ndarray of shape (n_words, D)
        With an approximation: the exact diagonal of every :math:`\\Sigma_i`.
    factors_, factor_offsets_ : ndarray
        With an approximation: rows ``factor_offsets_[i]:factor_offsets_[i+1]`` of ``factors_``
        are the columns of :math:`L_i` with :math:`\\Sigma_i \\approx L_iL_i^\\top`.
    frobenius_share_ : ndarray of shape (n_words,)
        With an approximation: share of :math:`\\lVert\\Sigma_i\\rVert_F` kept.
    covariance_dir_ : str
        The folder the covariances are read from (fitted with ``covariance_dir``, or loaded);
        ``covariances_``, ``diagonals_``, ``factors_`` and ``factor_offsets_`` are then not in
        memory.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n, D = 40, 2
    >>> W, V = rng.normal(size=(n, D)), rng.normal(size=(n, D))
    >>> b, c = np.full(n, 2.0), np.full(n, 2.0)
    >>> X = np.exp(W @ V.T + b[:, None] + c[None, :] + 0.1 * rng.normal(size=(n, n)))
    >>> model = GloVeV(refit_vectors=True).fit(X, W, V, b, c)
    >>> model.covariance(0).shape
    (2, 2)
    >>> result = model.similarity(0, 1)
    >>> bool(result.lower < result.estimate < result.upper)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "x_max": [Interval(Real, 0, None, closed="neither")],
        "weight_exponent": [Interval(Real, 0, None, closed="left")],
        "approximation": [StrOptions({"diagonal", "low_rank", "auto"}), None],
        "frobenius_share": [Interval(Real, 0, 1, closed="right")],
        "refit_vectors": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "memory_budget": [Interval(Integral, 1, None, closed="left"), str],
        "covariance_dir": [str, os.PathLike, None],
        "device": [str, torch.device],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        x_max: float = 100.0,
        weight_exponent: float = 0.75,
        approximation: str | None = None,
        frobenius_share: float = 0.9,
        refit_vectors: bool = False,
        batch_size: int = 65536,
        memory_budget: int | str = "1GB",
        covariance_dir: str | os.PathLike | None = None,
        device: str | torch.device = "auto",
        verbose: int = 0,
    ) -> None:
        self.x_max = x_max
        self.weight_exponent = weight_exponent
        self.approximation = approximation
        self.frobenius_share = frobenius_share
        self.refit_vectors = refit_vectors
        self.batch_size = batch_size
        self.memory_budget = memory_budget
        self.covariance_dir = covariance_dir
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, cooccurrence, W, V, b, c, vocab: Sequence[str] | None = None) -> GloVeV:
        """Compute :math:`\\hat\\sigma_i^2` and :math:`\\Sigma_i` for every word, batched.

        Parameters
        ----------
        cooccurrence : scipy.sparse matrix, ndarray or Cooccurrences, shape (n_words, n_contexts)
            The counts the vectors were trained on.
        W : array-like of shape (n_words, D)
            Word vectors (the GloVe tool's ``W``, not ``W + V``).
        V : array-like of shape (n_contexts, D)
            Context vectors.
        b : array-like of shape (n_words,)
            Word biases.
        c : array-like of shape (n_contexts,)
            Context biases.
        vocab : sequence of str, optional
            Words in row order; without it words are addressed by index. Taken from
            ``cooccurrence.vocab`` when a :class:`Cooccurrences` is passed.

        Returns
        -------
        GloVeV
            The fitted estimator.
        """
        self._check_params()
        if vocab is None and hasattr(cooccurrence, "vocab"):
            vocab = cooccurrence.vocab
        matrix, W, V, b, c, vocab = _check_fit_inputs(cooccurrence, W, V, b, c, vocab)
        n_words, dim = W.shape
        budget = parse_memory_budget(self.memory_budget)
        n_contexts = np.diff(matrix.indptr).astype(np.int64)
        streamed = self.covariance_dir is not None
        if not streamed and self.approximation is None:
            needed = int(np.count_nonzero(n_contexts > dim)) * dim * dim * 8
            if needed > budget:
                raise InvalidInputError(
                    f"the full covariances of this vocabulary take {needed / 1e9:.2f} GB, more "
                    f"than memory_budget={self.memory_budget!r}. Pass covariance_dir=... to "
                    "stream them to disk, an approximation ('auto' keeps 90% of each Frobenius "
                    "norm), or a larger memory_budget."
                )
        for name in _STORAGE:  # a previous fit may have used another storage
            if name in vars(self):
                delattr(self, name)
        self._store = None
        self.device_ = resolve_device(self.device)
        self.vocab_ = vocab
        self._index_cache = None
        self.n_components_ = dim
        self.n_contexts_ = n_contexts
        self.vectors_ = W.copy()
        self.sigma2_ = np.full(n_words, np.nan)
        self.has_covariance_ = np.zeros(n_words, dtype=bool)
        if self.approximation is not None:
            self.covariance_kind_ = np.full(n_words, NONE, dtype=np.int8)
            self.frobenius_share_ = np.full(n_words, np.nan)
        writer = None
        if streamed:
            writer = ChunkWriter(
                self.covariance_dir,
                n_words=n_words,
                dim=dim,
                approximation=self.approximation,
                chunk_bytes=budget // 8,
            )
        elif self.approximation is None:
            self.covariances_ = np.empty((n_words, dim, dim))  # NaN-filled below where undefined
        else:
            self.diagonals_ = np.full((n_words, dim), np.nan)
            pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

        pairs, max_words = _batch_limits(budget, dim, int(self.batch_size))
        done = 0
        for part in batched_covariances(
            matrix,
            W,
            V,
            b,
            c,
            x_max=float(self.x_max),
            weight_exponent=float(self.weight_exponent),
            refit=bool(self.refit_vectors),
            batch_size=pairs,
            device=self.device_,
            max_words=max_words,
        ):
            rows = part.rows
            self.vectors_[rows] = part.vectors.cpu().numpy()
            self.sigma2_[rows] = part.sigma2.cpu().numpy()
            self.has_covariance_[rows] = True
            cov = part.covariances  # exactly symmetric (cholesky_inverse mirrors its triangle)
            if self.approximation is None:
                if writer is not None:
                    writer.add_full(rows, cov.cpu().numpy())
                else:
                    self.covariances_[rows] = cov.cpu().numpy()
            elif len(rows):
                approx = approximate(cov, self.approximation, float(self.frobenius_share))
                self.covariance_kind_[rows] = approx.kind.cpu().numpy()
                self.frobenius_share_[rows] = approx.share.cpu().numpy()
                if writer is not None:
                    writer.add_approximated(
                        rows,
                        approx.kind.cpu().numpy(),
                        approx.share.cpu().numpy(),
                        approx.diagonal.cpu().numpy(),
                        approx.ranks.cpu().numpy(),
                        approx.factors.cpu().numpy(),
                    )
                else:
                    self.diagonals_[rows] = approx.diagonal.cpu().numpy()
                    pieces.append((rows, approx.ranks.cpu().numpy(), approx.factors.cpu().numpy()))
            del cov, part
            done += len(rows)
            if self.verbose:
                logger.info("GloVe-V: covariances of %d words computed", done)

        if writer is not None:
            writer.close()
            self._store = CovarianceStore(self.covariance_dir)
            self.covariance_dir_ = str(self.covariance_dir)
        elif self.approximation is not None:
            self.factor_offsets_, self.factors_ = pack_factors(pieces, n_words, dim)
        missing = np.flatnonzero(~self.has_covariance_)
        if "covariances_" in vars(self):
            self.covariances_[missing] = np.nan
        self.insufficient_words_ = [self._word_name(i) for i in missing]
        return self

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Save the fitted model as a folder: the covariance chunks, their manifest and a uqkit
        model file ``model.safetensors`` (vectors, variances, vocabulary; no pickle).

        The layout is the one ``fit(covariance_dir=...)`` writes (:mod:`uqkit.embeddings._store`);
        :func:`uqkit.load` opens the folder lazily. A streamed model's chunks are copied (or
        reused when ``path`` is its own folder).

        Parameters
        ----------
        path : str or path
            The folder to write (created).

        Returns
        -------
        Path
            The folder. Load it with ``uqkit.load(folder)``.
        """
        check_fitted(self, "vectors_")
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise InvalidInputError(
                f"GloVeV saves to a folder, but {str(folder)!r} is a file. Pass a new folder name."
            )
        store = getattr(self, "_store", None)
        if store is None:
            manifest = self._write_chunks(folder)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            if folder.resolve() != store.folder.resolve():
                for old in [*folder.glob("chunk-*.safetensors"), folder / MANIFEST]:
                    old.unlink(missing_ok=True)
                for chunk in store.manifest["chunks"]:
                    shutil.copyfile(store.folder / chunk["file"], folder / chunk["file"])
                shutil.copyfile(store.folder / MANIFEST, folder / MANIFEST)
            manifest = store.manifest
        header, tensors = self._to_saved()
        header["covariances"] = {"manifest_sha256": manifest["sha256"]}
        write_model_file(folder / FOLDER_MODEL_FILE, header, tensors)
        return folder

    def verify_files(self) -> None:
        """Hash every byte of the covariance chunks against the manifest (streamed or loaded
        models; opening checks only sizes and headers). Nothing to check for a model in memory.

        Raises
        ------
        ModelFileError
            If a chunk's bytes differ from those written.
        """
        check_fitted(self, "vectors_")
        store = getattr(self, "_store", None)
        if store is not None:
            store.verify()

    def _write_chunks(self, folder: Path) -> dict:
        """Write in-memory covariances in the folder layout."""
        budget = parse_memory_budget(self.memory_budget)
        dim = self.n_components_
        writer = ChunkWriter(
            folder,
            n_words=len(self.vectors_),
            dim=dim,
            approximation=self.approximation,
            chunk_bytes=budget // 8,
        )
        rows = np.flatnonzero(self.has_covariance_)
        step = max(1, (budget // 16) // (8 * dim * dim))
        for lo in range(0, len(rows), step):
            part = rows[lo : lo + step]
            if self.approximation is None:
                writer.add_full(part, self.covariances_[part])
                continue
            offsets = self.factor_offsets_
            ranks = offsets[part + 1] - offsets[part]
            factors = [self.factors_[offsets[i] : offsets[i + 1]] for i in part]
            writer.add_approximated(
                part,
                self.covariance_kind_[part],
                self.frobenius_share_[part],
                self.diagonals_[part],
                ranks,
                np.concatenate(factors) if factors else np.zeros((0, dim)),
            )
        return writer.close()

    def _param_to_saved(self, name: str, value):
        if name == "covariance_dir" and value is not None:
            return str(value)  # a path is saved as text
        return super()._param_to_saved(name, value)

    def _fitted_attributes(self) -> list[str]:
        # the covariances go to the chunk files, not into the model file
        return [name for name in super()._fitted_attributes() if name not in _IN_CHUNKS]

    @classmethod
    def _from_saved(cls, header: dict, tensors: dict, device: str | None = None) -> GloVeV:
        folder = header.get("_folder")
        if folder is None:
            raise ModelFileError(
                "a GloVeV model is saved as a folder (its covariances in chunk files next to "
                "model.safetensors); pass that folder to uqkit.load, not the model file alone."
            )
        store = CovarianceStore(folder)
        expected = header.get("covariances", {}).get("manifest_sha256")
        if store.manifest["sha256"] != expected:
            raise ModelFileError(
                f"the covariance chunks in {folder!r} belong to another fit than its "
                "model.safetensors (manifest digest mismatch). Save the model again."
            )
        estimator = super()._from_saved(header, tensors, device=device)
        has = np.asarray(estimator.has_covariance_, dtype=bool)
        if (
            store.n_words != len(has)
            or store.dim != estimator.n_components_
            or not np.array_equal(store.covered(), has)
        ):
            raise ModelFileError(
                f"the covariance chunks in {folder!r} do not cover the words of its "
                "model.safetensors. Save the model again."
            )
        estimator._store = store
        estimator.covariance_dir_ = str(folder)
        return estimator

    # ------------------------------------------------------------------ gensim
    def to_keyed_vectors(self):
        """The word vectors as a gensim ``KeyedVectors`` (float64; needs ``uqkit[embeddings]``).

        Keys are the vocabulary (``str(index)`` without one); per-key attributes ``n_contexts``,
        ``sigma2`` and ``has_covariance`` (``kv.get_vecattr(word, "sigma2")``). The covariances
        stay in the model: query them here.

        Returns
        -------
        gensim.models.KeyedVectors
        """
        check_fitted(self, "vectors_")
        vocab = self.vocab_ if self.vocab_ is not None else [str(i) for i in
                                                               range(len(self.vectors_))]
        return to_keyed_vectors(
            vocab,
            self.vectors_,
            {
                "n_contexts": self.n_contexts_,
                "sigma2": self.sigma2_,
                "has_covariance": self.has_covariance_.astype(np.int8),
            },
        )

    @classmethod
    def from_keyed_vectors(
        cls, keyed_vectors, cooccurrence, V, b, c, vocab: Sequence[str] | None = None, **params
    ) -> GloVeV:
        """Fit GloVe-V to word vectors held in a gensim ``KeyedVectors``.

        The vectors are taken in the row order of the co-occurrence matrix (its ``vocab``, or
        ``vocab``), then :meth:`fit` runs as usual; ``V, b, c`` are the context vectors and biases
        trained with them (Vallebueno et al., EMNLP 2024, Sec. 3, need all four).

        Parameters
        ----------
        keyed_vectors : gensim.models.KeyedVectors or an object with its interface
            ``word in kv`` and ``kv[word]``.
        cooccurrence, V, b, c
            As in :meth:`fit`.
        vocab : sequence of str, optional
            Words in row order (default: ``cooccurrence.vocab``).
        **params
            Parameters of :class:`GloVeV`.

        Returns
        -------
        GloVeV
            The fitted estimator.
        """
        if vocab is None:
            vocab = getattr(cooccurrence, "vocab", None)
        if vocab is None:
            raise InvalidInputError(
                "from_keyed_vectors needs the words of the co-occurrence rows: pass a "
                "Cooccurrences result or vocab=[...]."
            )
        W = vectors_in_order(keyed_vectors, list(vocab))
        return cls(**params).fit(cooccurrence, W, V, b, c, vocab=vocab)

    # ------------------------------------------------------------------ look-ups
    def _word_name(self, index: int) -> Word:
        return self.vocab_[index] if self.vocab_ is not None else int(index)

    def _index(self, word: Word) -> int:
        check_fitted(self, "vectors_")
        n_words = len(self.vectors_)
        if isinstance(word, (int, np.integer)) and not isinstance(word, bool):
            if not 0 <= int(word) < n_words:
                raise InvalidInputError(
                    f"word index {int(word)} is out of range for a vocabulary of {n_words} words."
                )
            return int(word)
        if isinstance(word, str):
            if self.vocab_ is None:
                raise InvalidInputError(
                    f"GloVeV was fitted without a vocabulary, so {word!r} cannot be looked up; "
                    "pass vocab=... to fit or use integer indices."
                )
            if getattr(self, "_index_cache", None) is None:
                self._index_cache = {w: i for i, w in enumerate(self.vocab_)}
            if word not in self._index_cache:
                raise InvalidInputError(f"{word!r} is not in the vocabulary.")
            return self._index_cache[word]
        raise InvalidInputError(f"a word must be a string or an integer index; got {word!r}.")

    def _require_covariance(self, indices) -> None:
        for i in np.atleast_1d(indices):
            if not self.has_covariance_[i]:
                k, dim = int(self.n_contexts_[i]), self.n_components_
                reason = (
                    f"has only {k} observed contexts, not more than D = {dim}"
                    if k <= dim
                    else f"has {k} contexts whose weighted context vectors are linearly dependent"
                )
                raise InvalidInputError(
                    f"word {self._word_name(int(i))!r} {reason}, so GloVe-V defines no covariance "
                    "for it (see insufficient_words_). Use words with more co-occurrence data, a "
                    "larger corpus or fewer dimensions."
                )

    def _stored(self, index: int) -> StoredCovariance:
        """The stored covariance of word ``index`` (which must have one)."""
        store = getattr(self, "_store", None)
        if store is not None:  # streamed or loaded: read from the chunk files
            return store.stored(index)
        if self.approximation is None:
            return StoredCovariance(FULL, self.covariances_[index])
        kind = int(self.covariance_kind_[index])
        if kind == DIAGONAL:
            return StoredCovariance(DIAGONAL, self.diagonals_[index])
        offsets = self.factor_offsets_
        return StoredCovariance(kind, self.factors_[offsets[index] : offsets[index + 1]].T)

    def covariance(self, word: Word) -> np.ndarray:
        """The covariance matrix :math:`\\Sigma_i` of one word vector (as stored).

        Parameters
        ----------
        word : str or int
            A word of the vocabulary or its index.

        Returns
        -------
        ndarray of shape (D, D)

        Raises
        ------
        InvalidInputError
            If the word has no defined covariance (listed in ``insufficient_words_``).
        """
        index = self._index(word)
        self._require_covariance(index)
        return self._stored(index).matrix()

    def predict_uncertainty(self, words: Sequence[Word]) -> EmbeddingPrediction:
        """The vectors of ``words`` with their covariances.

        Parameters
        ----------
        words : sequence of str or int
            Words or vocabulary indices.

        Returns
        -------
        EmbeddingPrediction
            ``mean`` (m, D) and ``covariance`` (m, D, D).
        """
        if isinstance(words, (str, int, np.integer)):
            words = [words]
        indices = [self._index(w) for w in words]
        self._require_covariance(indices)
        return EmbeddingPrediction(
            words=list(words),
            mean=self.vectors_[indices].copy(),
            covariance=np.stack([self.covariance(i) for i in indices]),
        )


def _batch_limits(budget: int, dim: int, batch_size: int) -> tuple[int, int]:
    """(word, context) pairs and words of one batch within ``budget`` bytes.

    3/8 of the budget for the gathered pairs (``sqrt(f) v_j`` and the index, weight and target
    arrays: about ``16 D + 64`` bytes a pair), 1/8 for the ``(B, D, D)`` Gram matrices, factors,
    inverses and approximations (about ``64 D^2`` bytes a word); the chunk being written takes
    3/8 (its buffer, the concatenated copy and the serialized file of ``budget / 8`` bytes each).
    """
    pairs = max(1, min(batch_size, (3 * budget // 8) // (16 * dim + 64)))
    words = max(1, (budget // 8) // (64 * dim * dim + 64 * dim))
    return pairs, words


def _check_array(values, name: str, ndim: int) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.array(values, dtype=np.float64)
    if array.ndim != ndim:
        raise InvalidInputError(f"{name} must be a {ndim}-D array; got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    return array


def _check_fit_inputs(cooccurrence, W, V, b, c, vocab):
    """Validated ``(matrix, W, V, b, c, vocab)`` of :meth:`GloVeV.fit`, float64, shapes checked."""
    matrix = check_cooccurrence(cooccurrence)
    n_words, n_ctx = matrix.shape
    W = _check_array(W, "W", 2)
    V = _check_array(V, "V", 2)
    b = _check_array(b, "b", 1)
    c = _check_array(c, "c", 1)
    dim = W.shape[1]
    for name, got, want in (
        ("W", W.shape, (n_words, dim)),
        ("V", V.shape, (n_ctx, dim)),
        ("b", b.shape, (n_words,)),
        ("c", c.shape, (n_ctx,)),
    ):
        if got != want:
            raise InvalidInputError(
                f"{name} has shape {got} but the co-occurrence matrix of shape "
                f"{matrix.shape} and W of dimension {dim} need {want}."
            )
    if vocab is not None:
        vocab = [str(word) for word in vocab]
        if len(vocab) != n_words or len(set(vocab)) != n_words:
            raise InvalidInputError(
                f"vocab must list {n_words} distinct words (one per row of the co-occurrence "
                f"matrix); got {len(vocab)} entries, {len(set(vocab))} distinct."
            )
    return matrix, W, V, b, c, vocab
