"""Search latency, build time, memory and recall of the retrieval blocks at several corpus sizes.

Dense: synthetic 384-d unit vectors clustered around 1,000 topics (uniform random vectors have no
neighbourhood structure, which makes approximate recall meaninglessly low). Queries are perturbed
corpus vectors. BM25: synthetic paragraphs of 2-6 sentences sampled (fixed seed) from the seed reports;
sentences are segmented once, so the BM25 build time is split into a measured segmentation rate
(extrapolated to the corpus) and the time bm25s takes to index the tokens. Latency is per single query
on one thread; builds use all threads. Memory: size of the saved index files and the RSS growth of the build.

    python benchmarks/bench_search.py [--sizes 10000 100000 1000000] [--kinds flat hnsw ivfpq]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy_nlp.index import VectorIndex  # noqa: E402
from policy_nlp.search.bm25 import BM25Index  # noqa: E402
from policy_nlp.search.fusion import rrf  # noqa: E402
from policy_nlp.search.tokenize import tokenize  # noqa: E402

DIM = 384
N_QUERIES = 200
K = 10
FUSION_DEPTH = 50
SEEDS = Path(__file__).resolve().parent.parent / "corpus" / "seeds"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def clustered_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((1000, DIM), dtype=np.float32)
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):  # chunks keep the peak memory at one copy
        stop = min(n, start + 100_000)
        chunk = centres[rng.integers(0, len(centres), stop - start)]
        chunk += 0.5 * rng.standard_normal(chunk.shape, dtype=np.float32)
        out[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def latencies_ms(search: Callable[[int], object]) -> tuple[float, float]:
    """p50 and p95 of single queries on one thread (FAISS's OpenMP threads only add overhead at batch size 1)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    times = []
    for i in range(N_QUERIES):
        start = time.perf_counter()
        search(i)
        times.append((time.perf_counter() - start) * 1000)
    faiss.omp_set_num_threads(threads)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def saved_bytes(index: VectorIndex | BM25Index) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "index")
        return sum(f.stat().st_size for f in (Path(tmp) / "index").iterdir())


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, exact)]))


def row(name: str, n: int, build_s: float, p50: float, p95: float, size: int, rss: int, rec: str = "") -> None:
    print(f"{name:<22}{n:>9,}{build_s:>10.1f}{p50:>9.2f}{p95:>9.2f}{size / 2**20:>11.1f}{rss / 2**20:>10.1f}{rec:>10}",
          flush=True)


def bench_dense(n: int, vectors: np.ndarray, queries: np.ndarray, kinds: list[str]) -> VectorIndex:
    """Flat first: it gives the exact top-k for recall and the dense side of the hybrid benchmark."""
    ids = np.arange(n, dtype=np.int64)
    exact, flat = None, None
    for kind in ["flat"] + [k for k in kinds if k != "flat"]:
        before = rss_bytes()
        start = time.perf_counter()
        index = VectorIndex.build(ids, vectors, model_id="synthetic", kind=kind)
        build_s = time.perf_counter() - start
        rss = rss_bytes() - before
        size = saved_bytes(index)
        p50, p95 = latencies_ms(lambda i: index.search(queries[i], K))
        found = index.search(queries, K)[1]
        if kind == "flat":
            exact, flat = found, index
        row(f"dense {index.factory}", n, build_s, p50, p95, size, rss,
            "exact" if kind == "flat" else f"{recall(found, exact):.3f}")
        del index  # so the next build's RSS growth is its own
    return flat


def sentence_pool() -> list[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt")))
    return [s.strip() for s in re.split(r"[。；;！？\n]", text) if len(s.strip()) >= 8]


def bench_bm25(n: int, rng: np.random.Generator, sentences: list[str],
               sentence_tokens: list[list[str]]) -> tuple[BM25Index, list[str]]:
    picks = [rng.integers(0, len(sentences), rng.integers(2, 7)) for _ in range(n)]
    sample = ["。".join(sentences[j] for j in p) for p in picks[:2000]]
    start = time.perf_counter()
    for text in sample:
        tokenize(text)
    segment_s = (time.perf_counter() - start) / len(sample) * n
    token_lists = [[t for j in p for t in sentence_tokens[j]] for p in picks]
    before = rss_bytes()
    start = time.perf_counter()
    index = BM25Index.from_tokens(np.arange(n, dtype=np.int64), token_lists)
    index_s = time.perf_counter() - start
    rss = rss_bytes() - before
    del token_lists
    size = saved_bytes(index)
    queries = []
    for j in rng.integers(0, len(sentences), N_QUERIES):
        s = sentences[j]
        start_char = int(rng.integers(0, max(1, len(s) - 8)))
        queries.append(s[start_char:start_char + int(rng.integers(4, 9))])
    p50, p95 = latencies_ms(lambda i: index.search(queries[i], K))
    row("bm25 (index only)", n, index_s, p50, p95, size, rss)
    print(f"{'  + jieba segmenting':<22}{n:>9,}{segment_s:>10.1f}   (estimated from 2,000 paragraphs)", flush=True)
    return index, queries


def bench_hybrid(n: int, dense: VectorIndex, vectors: np.ndarray, bm25: BM25Index, texts: list[str]) -> None:
    def hybrid(i: int) -> list[tuple[int, float]]:
        dense_ids = dense.search(vectors[i], FUSION_DEPTH)[1][0]
        keyword_ids = bm25.search(texts[i], FUSION_DEPTH)[1]
        return rrf([dense_ids, keyword_ids])[:K]

    p50, p95 = latencies_ms(hybrid)
    row("hybrid flat+bm25+rrf", n, 0.0, p50, p95, 0, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=["flat", "hnsw", "ivfpq"], choices=["flat", "hnsw", "ivfpq"],
                        help="dense index kinds (flat always runs: it is the recall reference)")
    args = parser.parse_args()
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {N_QUERIES} single queries, k={K}")
    sentences = sentence_pool()
    sentence_tokens = [tokenize(s) for s in sentences]
    print(f"{'':<22}{'paras':>9}{'build s':>10}{'p50 ms':>9}{'p95 ms':>9}{'file MiB':>11}{'RSS MiB':>10}{'recall@10':>10}")
    for n in args.sizes:
        rng = np.random.default_rng(n)
        vectors = clustered_vectors(n, rng)
        noise = 0.1 * rng.standard_normal((N_QUERIES, DIM), dtype=np.float32)
        queries = vectors[rng.integers(0, n, N_QUERIES)] + noise
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        flat = bench_dense(n, vectors, queries, args.kinds)
        bm25, texts = bench_bm25(n, rng, sentences, sentence_tokens)
        bench_hybrid(n, flat, queries, bm25, texts)
        del flat, bm25, vectors


if __name__ == "__main__":
    main()
