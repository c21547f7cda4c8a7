"""GloVe-V: statistical uncertainty of word embeddings (Vallebueno et al., EMNLP 2024).

Count co-occurrences (:func:`count_cooccurrences`), train or read GloVe vectors (:class:`GloVe`,
:func:`read_glove_vectors`), then fit :class:`GloVeV` to get each word vector's covariance and
confidence intervals for similarities and other statistics.

Examples
--------
>>> from uqkit.embeddings import GloVeV, count_cooccurrences
>>> counts = count_cooccurrences(["a b c a b c"], window_size=2, min_count=1)
>>> counts.matrix.shape
(3, 3)
"""

from uqkit.embeddings._cooccurrence import Cooccurrences, count_cooccurrences, simple_tokenize
from uqkit.embeddings._glove import GloVe
from uqkit.embeddings._glove_v import GloVeV
from uqkit.embeddings._io import (
    GloVeVectors,
    read_glove_cooccurrence,
    read_glove_vectors,
    read_glove_vocab,
    write_glove_vectors,
)
from uqkit.embeddings._results import EmbeddingPrediction, Neighbours, StatisticResult
from uqkit.embeddings._statistics import cosine_similarity
from uqkit.embeddings._weighting import glove_weight

__all__ = [
    "Cooccurrences",
    "EmbeddingPrediction",
    "GloVe",
    "GloVeV",
    "GloVeVectors",
    "Neighbours",
    "StatisticResult",
    "cosine_similarity",
    "count_cooccurrences",
    "glove_weight",
    "read_glove_cooccurrence",
    "read_glove_vectors",
    "read_glove_vocab",
    "simple_tokenize",
    "write_glove_vectors",
]
