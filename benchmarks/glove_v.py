"""GloVe-V on a 2-million-word corpus at D = 300: streamed covariances, throughput, WordSim-353.

Steps, all in one process on the CPU (``--threads`` threads for torch and numpy's BLAS):

1. count co-occurrences of all files of ``../shared/data/corpus`` (window 10, 1/distance,
   min count 5);
2. train GloVe vectors (``--dim``, ``--epochs``) with :class:`uqkit.embeddings.GloVe`, or read
   them from ``--vectors-cache`` (an ``.npz`` this script wrote before, with its training time);
3. the covariance step over the whole vocabulary (batched, float64, results discarded): its
   achieved GFLOP/s next to this machine's float64 GEMM throughput measured in the same process
   (before and after); FLOPs counted are the useful ones, ``2 |K_i| D^2`` for the Gram matrix and
   ``D^3`` for its Cholesky factor and inverse, per word;
4. :class:`uqkit.embeddings.GloVeV` streamed to a folder (``covariance_dir``, ``memory_budget``)
   for each storage mode (full, diagonal, ``"auto"``): time, peak RSS, bytes on disk; a sample of
   words is checked against a per-word numpy loop;
5. WordSim-353 from the ``"auto"`` folder opened lazily with :func:`uqkit.load`: all pairs in
   one ``similarity`` call, the Spearman correlation with the human scores and its bootstrap
   interval.

Peak resident memory is sampled during each step. Results go to ``benchmarks/results/glove_v.md``.

Usage: ``python benchmarks/glove_v.py [--dim 300] [--epochs 20] [--memory-budget 1GB]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

import uqkit
from uqkit.datasets import data_root
from uqkit.embeddings import GloVe, GloVeV, count_cooccurrences, glove_weight
from uqkit.embeddings._variance import batched_covariances


# ---------------------------------------------------------------------------- memory sampling
def _rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Peak resident set size (MB) while the ``with`` block runs, sampled every 20 ms."""

    def __enter__(self) -> PeakMemory:
        self.start = _rss_mb()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def timed(function):
    with PeakMemory() as memory:
        start = time.perf_counter()
        value = function()
        seconds = time.perf_counter() - start
    return value, seconds, memory


# ---------------------------------------------------------------------------- the baseline
def per_word_loop(
    matrix, W, V, b, c, rows, x_max=100.0, weight_exponent=0.75
) -> dict[int, np.ndarray]:
    """The straightforward implementation: one weighted least-squares covariance per word."""
    dim = W.shape[1]
    out = {}
    for i in rows:
        lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
        if hi - lo <= dim:
            continue
        contexts, counts = matrix.indices[lo:hi], matrix.data[lo:hi]
        f = np.minimum((counts / x_max) ** weight_exponent, 1.0)
        V_i = V[contexts]
        gram = V_i.T @ (f[:, None] * V_i)
        residual = np.log(counts) - b[i] - c[contexts] - V_i @ W[i]
        sigma2 = f @ residual**2 / (hi - lo - dim)
        out[i] = sigma2 * np.linalg.inv(gram)
    return out


def read_wordsim(path: Path) -> list[tuple[str, str, float]]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        first, second, score = line.split("\t")[:3]
        pairs.append((first.lower(), second.lower(), float(score)))
    return pairs


def mb(*arrays) -> float:
    return sum(a.nbytes for a in arrays) / 2**20


# ---------------------------------------------------------------------------- throughput
def gemm_gflops(n: int = 2048, repeats: int = 3) -> float:
    """Best float64 GEMM rate (GFLOP/s) of ``repeats`` ``n x n`` products, numpy's BLAS."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def covariance_flops(n_contexts: np.ndarray, dim: int) -> float:
    words = n_contexts[n_contexts > dim].astype(np.float64)
    return float(np.sum(2 * words * dim * dim + dim**3))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith("chunk-"))


def bootstrap_spearman(x, y, n_boot, rng) -> tuple[float, float]:
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(x), size=len(x))
        values.append(stats.spearmanr(x[idx], y[idx]).statistic)
    return tuple(float(v) for v in np.nanquantile(values, [0.025, 0.975]))


# ---------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-budget", default="1GB")
    parser.add_argument("--loop-words", type=int, default=200, help="words checked by the loop")
    parser.add_argument("--modes", default="full,diagonal,auto")
    parser.add_argument("--vectors-cache", default=None, help=".npz of trained vectors")
    parser.add_argument("--workdir", default=None, help="where the folders go (default: temp)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "glove_v.md"))
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    load_before = os.getloadavg()
    wall_start = time.perf_counter()
    root = data_root() / "corpus"
    files = sorted(root.glob("*.txt"))

    # 1. counting ------------------------------------------------------------------------
    counts, t_count, m_count = timed(
        lambda: count_cooccurrences(files, window_size=args.window, min_count=args.min_count)
    )
    X = counts.matrix
    n_words = len(counts.vocab)
    print(f"counted {counts.n_tokens} tokens: {n_words} words, {X.nnz} non-zeros, {t_count:.1f}s")

    # 2. training (or the cached vectors of an earlier run) ---------------------------------
    cache = Path(args.vectors_cache) if args.vectors_cache else None
    if cache is not None and cache.exists():
        saved = np.load(cache)
        W, V, b, c = saved["W"], saved["V"], saved["b"], saved["c"]
        cost, t_train, m_train_peak = saved["cost"], float(saved["seconds"]), None
        if W.shape != (n_words, args.dim):
            raise SystemExit(f"{cache} holds vectors of shape {W.shape}, not ({n_words}, D)")
    else:
        glove, t_train, m_train = timed(
            lambda: GloVe(
                n_components=args.dim, epochs=args.epochs, random_state=args.seed, device="cpu"
            ).fit(X)
        )
        W, V, b, c = glove.W_, glove.V_, glove.b_, glove.c_
        cost, m_train_peak = np.array(glove.history_[0]["train_loss"]), m_train.peak
        if cache is not None:
            np.savez(cache, W=W, V=V, b=b, c=c, cost=cost, seconds=t_train)
    print(f"GloVe D={args.dim}: {t_train:.1f}s, cost {cost[-1]:.4f}")
    W64, V64 = W.astype(np.float64), V.astype(np.float64)
    b64, c64 = b.astype(np.float64), c.astype(np.float64)
    n_contexts = np.diff(X.indptr)

    # 3. throughput of the covariance step ---------------------------------------------------
    from uqkit.embeddings._glove_v import _batch_limits
    from uqkit.embeddings._store import parse_memory_budget

    budget = parse_memory_budget(args.memory_budget)
    pairs, max_words = _batch_limits(budget, args.dim, 65536)
    gemm_before = gemm_gflops()

    def compute_only():
        done = 0
        for part in batched_covariances(
            X, W64, V64, b64, c64, x_max=100.0, weight_exponent=0.75, refit=False,
            batch_size=pairs, device=torch.device("cpu"), max_words=max_words,
        ):
            done += len(part.rows)
        return done

    n_cov, t_compute, m_compute = timed(compute_only)
    gemm_after = gemm_gflops()
    flops = covariance_flops(n_contexts, args.dim)
    achieved = flops / t_compute / 1e9
    gemm = max(gemm_before, gemm_after)
    print(f"covariance step: {achieved:.2f} GFLOP/s, GEMM {gemm_before:.2f}/{gemm_after:.2f}")

    # 4. streamed fits per storage mode ------------------------------------------------------
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="glove_v_"))
    workdir.mkdir(parents=True, exist_ok=True)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    fits = {}
    for mode in modes:
        folder = workdir / f"cov_{mode}"
        approximation = None if mode == "full" else mode
        model, seconds, memory = timed(
            lambda folder=folder, approximation=approximation: GloVeV(
                approximation=approximation, memory_budget=args.memory_budget,
                covariance_dir=folder, device="cpu",
            ).fit(X, W, V, b, c, vocab=counts.vocab)
        )
        saved_folder = model.save(folder)  # the model file next to the chunks it streamed
        fits[mode] = (model, seconds, memory.peak, folder_bytes(saved_folder), saved_folder)
        print(f"{mode}: {seconds:.1f}s, peak RSS {memory.peak:.0f} MB, "
              f"{fits[mode][3] / 2**20:.0f} MB on disk")
    check_mode = "full" if "full" in fits else modes[0]
    check_model = fits[check_mode][0]
    rng = np.random.default_rng(args.seed)
    covered = np.flatnonzero(check_model.has_covariance_)
    loop_rows = np.sort(rng.choice(covered, size=min(args.loop_words, len(covered)),
                                   replace=False))
    looped = per_word_loop(X, W64, V64, b64, c64, loop_rows)
    worst = max(
        np.max(np.abs(cov - check_model.covariance(int(i)))) / np.max(np.abs(cov))
        for i, cov in looped.items()
    ) if check_mode == "full" else float("nan")

    # 5. WordSim-353 from the lazily opened "auto" folder ------------------------------------
    lazy_mode = "auto" if "auto" in fits else modes[0]
    lazy, t_open, _ = timed(lambda: uqkit.load(fits[lazy_mode][4]))
    pairs_ws = read_wordsim(data_root() / "wordsim" / "wordsim353.tsv")
    index = counts.index()
    usable = [(a, b_, h) for a, b_, h in pairs_ws
              if a != b_ and all(w in index and lazy.has_covariance_[index[w]] for w in (a, b_))]
    skipped = len(pairs_ws) - len(usable)
    result, t_pairs, _ = timed(
        lambda: lazy.similarity([u[0] for u in usable], [u[1] for u in usable])
    )
    human = np.array([u[2] for u in usable])
    rho = stats.spearmanr(result.estimate, human)
    rho_lo, rho_hi = bootstrap_spearman(result.estimate, human, args.bootstrap, rng)
    excludes_zero = np.mean((result.lower > 0) | (result.upper < 0))
    neighbours = lazy.most_similar("doctor", k=5, random_state=args.seed) if (
        "doctor" in index and lazy.has_covariance_[index["doctor"]]) else None
    wall = time.perf_counter() - wall_start
    load_after = os.getloadavg()

    # ---------------------------------------------------------------------------- report
    weights = glove_weight(X.data)
    command = (f"python benchmarks/glove_v.py --dim {args.dim} --epochs {args.epochs} "
               f"--threads {args.threads} --memory-budget {args.memory_budget} "
               f"--modes {args.modes}")
    train_note = ("" if m_train_peak is not None else
                  " (vectors trained in an earlier process by the same `GloVe(n_components=D, "
                  "epochs=..., random_state=seed).fit(X)` call on the same counts, read from "
                  "`--vectors-cache`; the training time shown is that process's)")
    lines = [
        "# GloVe-V benchmark",
        "",
        f"Produced by `{command}` (under `nice -n 10`){train_note}.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs "
        f"(load average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end), "
        f"{args.threads} thread(s) for torch and BLAS, torch {torch.__version__}, CPU only. "
        f"Total wall time {wall / 60:.1f} min. Times on a loaded shared machine are inflated; "
        "the GFLOP/s share compares two measurements in the same process.",
        "",
        "## Corpus and pipeline",
        "",
        "| step | result | time (s) | peak RSS (MB) |",
        "|---|---|---:|---:|",
        f"| co-occurrence counting ({len(files)} files, window {args.window}, 1/d, min count "
        f"{args.min_count}) | {counts.n_tokens:,} tokens, {counts.n_documents:,} documents, "
        f"{n_words:,} words, {X.nnz:,} non-zeros ({mb(X.data, X.indices, X.indptr):.0f} MB CSR)"
        f" | {t_count:.1f} | {m_count.peak:.0f} |",
        f"| GloVe training (D = {args.dim}, {args.epochs} epochs, AdaGrad, batch 65,536) | "
        f"cost {cost[0]:.4f} → {cost[-1]:.4f} | {t_train:.1f} | "
        f"{'—' if m_train_peak is None else f'{m_train_peak:.0f}'} |",
        f"| covariance step, compute only (float64, batched, results discarded) | {n_cov:,} "
        f"words with \\|K\\| > D, {flops / 1e12:.2f} TFLOP | {t_compute:.1f} | "
        f"{m_compute.peak:.0f} |",
    ]
    names = {"full": "full D×D", "diagonal": "diagonal", "auto": '`"auto"` (90% Frobenius)',
             "low_rank": "low rank (90% Frobenius)"}
    for mode, (model, seconds, peak, size, _) in fits.items():
        extra = ""
        if mode != "full":
            has = model.has_covariance_
            kinds = model.covariance_kind_[has]
            extra = (f"; {np.mean(kinds == 2):.0%} diagonal, {np.mean(kinds == 3):.0%} low rank, "
                     f"min share kept {np.nanmin(model.frobenius_share_):.3f}")
        lines.append(
            f"| GloVe-V streamed to a folder, {names.get(mode, mode)}, memory_budget "
            f"{args.memory_budget} | {size / 2**20:,.0f} MB on disk{extra} | {seconds:.1f} | "
            f"{peak:.0f} |"
        )
    lines += [
        "",
        f"{len(check_model.insufficient_words_):,} words have at most D = {args.dim} contexts "
        "(listed in `insufficient_words_`, no covariance). Weights f(X): median "
        f"{np.median(weights):.3f}; contexts per word |K|: median {int(np.median(n_contexts))}, "
        f"max {int(n_contexts.max()):,}. The full covariances would take "
        f"{n_cov * args.dim**2 * 8 / 2**30:.1f} GiB in memory; streamed, they never are. Peak "
        "RSS is the process's resident memory, including heap that the C allocator keeps after "
        "frees (and reuses), so it runs above the live memory the budget bounds.",
        "",
        "## Throughput of the covariance step",
        "",
        "| measurement | GFLOP/s |",
        "|---|---:|",
        f"| float64 GEMM (2048×2048, numpy BLAS, {args.threads} thread), before / after | "
        f"{gemm_before:.2f} / {gemm_after:.2f} |",
        f"| covariance step over the whole vocabulary | {achieved:.2f} |",
        f"| **share of the better GEMM measurement** | **{achieved / gemm:.0%}** |",
        "",
        "Words are sorted by |K| and packed into batches of at most "
        f"{pairs:,} (word, context) pairs and {max_words:,} words (from the memory budget), so "
        "small words share one stacked product and the Gram matrices run at GEMM speed; the "
        "per-word Cholesky factor and inverse (D³) are batched LAPACK calls.",
        "",
        f"Check: {len(looped)} random words computed by a per-word numpy loop agree with the "
        f"streamed full covariances to a relative {worst:.1e}.",
        "",
        "## WordSim-353",
        "",
        f"From the `{lazy_mode}` folder opened lazily with `uqkit.load` ({t_open:.2f} s), all "
        f"{len(usable)} usable pairs in one `similarity` call ({t_pairs:.2f} s); {skipped} of "
        f"{len(pairs_ws)} pairs skipped (a word missing from the vocabulary, without a "
        "covariance, or a pair of identical words). Spearman correlation of the cosine with the "
        f"human scores: **ρ = {rho.statistic:.3f}**, 95% bootstrap interval "
        f"[{rho_lo:.3f}, {rho_hi:.3f}] ({args.bootstrap} resamples of the pairs); the 95% "
        f"delta-method interval of the cosine excludes 0 for {excludes_zero:.0%} of the pairs.",
    ]
    if neighbours is not None:
        lines += [
            "",
            "`most_similar(\"doctor\", k=5)` (rank stability from 1,000 draws):",
            "",
            "| neighbour | cosine | se | 95% CI | P(same rank) | P(in top 5) |",
            "|---|---:|---:|---|---:|---:|",
        ]
        for row in neighbours.to_rows():
            lines.append(
                f"| {row['word']} | {row['similarity']:.3f} | {row['std_error']:.3f} | "
                f"[{row['lower']:.3f}, {row['upper']:.3f}] | {row['rank_stability']:.2f} | "
                f"{row['top_k_probability']:.2f} |"
            )
    lines += [
        "",
        "All covered pairs (sorted by human score):",
        "",
        "| word 1 | word 2 | human | cosine | se | 95% CI |",
        "|---|---|---:|---:|---:|---|",
    ]
    for k in np.argsort(-human, kind="stable"):
        a, b_, h = usable[k]
        lines.append(
            f"| {a} | {b_} | {h:.2f} | {result.estimate[k]:.3f} | {result.std_error[k]:.3f} | "
            f"[{result.lower[k]:.3f}, {result.upper[k]:.3f}] |"
        )
    text = "\n".join(lines) + "\n"
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print("\n".join(lines[:45]))
    print(f"... written to {output}")
    if not args.workdir:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
