"""A gender-bias test on word embeddings with GloVe-V confidence intervals.

Counts co-occurrences in the State of the Union corpus (shared data folder), trains GloVe vectors,
and fits :class:`uqkit.embeddings.GloVeV` (Vallebueno et al., EMNLP 2024) to get the sampling
covariance of every word vector. It then asks, for a few occupation words, whether
``cos(word, "he") - cos(word, "she")`` differs from zero once the vectors' own statistical
uncertainty is taken into account: the point estimate alone cannot say, the interval can.

Run::

    python examples/glove_v_bias_test.py            # a few minutes on a CPU
    python examples/glove_v_bias_test.py --quick    # seconds (CI)
"""

from __future__ import annotations

import argparse
import os

from uqkit.datasets import data_root
from uqkit.embeddings import GloVe, GloVeV, count_cooccurrences

WORDS = ["president", "congress", "soldiers", "workers", "children", "family", "business"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for tests (seconds)")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("UQKIT_EXAMPLE_QUICK") == "1"

    lines = (data_root() / "corpus" / "state_union.txt").read_text(encoding="utf-8").splitlines()
    documents = lines[:2000] if quick else lines
    counts = count_cooccurrences(documents, window_size=10, min_count=5,
                                 max_vocab=1000 if quick else 10_000)
    print(f"vocabulary: {len(counts.vocab)} words, {counts.matrix.nnz} non-zero co-occurrences")

    glove = GloVe(n_components=10 if quick else 50, epochs=5 if quick else 50,
                  random_state=0).fit(counts)
    glove_v = GloVeV().fit(counts, glove.W_, glove.V_, glove.b_, glove.c_)

    index = set(counts.vocab)
    words = [w for w in WORDS if w in index]
    if not {"he", "she"} <= index:
        raise SystemExit("'he' and 'she' are not in the vocabulary; use a larger corpus.")
    print("word          cos(w,he) - cos(w,she)   95% interval          p-value")
    for word in words:
        result = glove_v.compare((word, "he"), (word, "she"))
        lower, upper = result.interval
        verdict = "differs from 0" if result.p_value < 0.05 else "not distinguishable from 0"
        print(f"{word:12s}  {result.estimate:+.3f} ± {result.std_error:.3f}      "
              f"[{lower:+.3f}, {upper:+.3f}]   {result.p_value:.3f}  {verdict}")


if __name__ == "__main__":
    main()
