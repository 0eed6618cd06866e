"""Latency of one default (hybrid) query with every signal on, at 100k paragraphs: query encoding (e5 int8 ONNX),
FAISS flat search, BM25 over jieba words, BM25 over character uni+bigrams, weighted RRF, the learned reranking of
the fused top 50 and the relevance estimate of the top 10 — everything `policy-nlp search` does except reading
rows from SQLite (the hits' rows and the reranked candidates' texts, documents and neighbours; here they come from
memory, the synthetic paragraphs in documents of `DOCUMENT_PARAGRAPHS`).

Paragraphs are made of 2-6 sentences sampled (fixed seed) from the seed reports and, when it is there,
../shared/corpus/meiyu (read at run time, never stored); vectors are random unit vectors (a flat search costs the
same whatever they hold). Queries are the judged queries (phrases, pasted paragraphs, questions), each timed on its
own, with FAISS on one thread (its OpenMP threads only add overhead for a single query, and under load they cost
hundreds of milliseconds). The encoder needs a home where the embedded model was converted (any home that ran `policy-nlp index build`).
Run it with two threads to match the two-core target:

    OMP_NUM_THREADS=2 python benchmarks/bench_query_latency.py --home /tmp/eval_home [--size 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy_nlp.embed import load_encoder  # noqa: E402
from policy_nlp.index import VectorIndex  # noqa: E402
from policy_nlp.search.bm25 import BM25Index  # noqa: E402
from policy_nlp.search.engine import CANDIDATES, SearchEngine  # noqa: E402
from policy_nlp.search.evaluate import DEFAULT_QUERIES  # noqa: E402
from policy_nlp.search.fusion import FUSION  # noqa: E402
from policy_nlp.search.indexes import Indexes  # noqa: E402
from policy_nlp.search.ranker import RANKER, Candidates  # noqa: E402
from policy_nlp.search.relevance import RELEVANCE, features  # noqa: E402
from policy_nlp.search.tokenize import ANALYZERS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "corpus" / "seeds", REPO.parent / "shared" / "corpus" / "meiyu"]
K = 10
DOCUMENT_PARAGRAPHS = 20


def sentence_pool() -> list[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for d in SOURCES if d.is_dir() for p in sorted(d.glob("*.txt")))
    return [s.strip() for s in re.split(r"[。；;！？\n]", text) if len(s.strip()) >= 8]


def synthetic_indexes(n: int, dim: int, rng: np.random.Generator) -> tuple[Indexes, dict[int, str]]:
    """Every index over `n` synthetic paragraphs; sentences are analyzed once and their tokens reused."""
    sentences = sentence_pool()
    picks = [rng.integers(0, len(sentences), rng.integers(2, 7)) for _ in range(n)]
    ids = np.arange(n, dtype=np.int64)
    keyword = []
    for analyzer, analyze in ANALYZERS.items():
        tokens = [analyze(s) for s in sentences]
        keyword.append(BM25Index.from_tokens(ids, [[t for j in p for t in tokens[j]] for p in picks], analyzer))
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dense = VectorIndex.build(ids, vectors, model_id="synthetic")
    texts = {int(i): "。".join(sentences[j] for j in p) for i, p in zip(ids, picks)}
    return Indexes(dense, *keyword), texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a home with the converted embedded model")
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    encoder = load_encoder(None, home=Path(args.home), show_progress=False)
    rng = np.random.default_rng(args.size)
    start = time.perf_counter()
    indexes, texts = synthetic_indexes(args.size, encoder.dim, rng)
    print(f"built {args.size:,} paragraphs in {time.perf_counter() - start:.0f} s")
    engine = SearchEngine(None, indexes, encoder)  # no store: the hits' rows are not read
    queries = [json.loads(line) for line in DEFAULT_QUERIES.read_text(encoding="utf-8").splitlines() if line.strip()]
    stages = ("encode", "dense", "bm25", "chars", "fuse+rerank+relevance")
    n = len(texts)
    candidates = Candidates(texts, dict.fromkeys(texts, ""), {i: str(i // DOCUMENT_PARAGRAPHS) for i in texts},
                            {i: (i - 1 if i % DOCUMENT_PARAGRAPHS else None,
                                 i + 1 if (i + 1) % DOCUMENT_PARAGRAPHS and i + 1 < n else None) for i in texts})  # fmt: skip
    times: dict[str, list[list[float]]] = {}  # query kind -> one row of stage times (ms) per query
    for repeat in range(2):  # the first pass warms caches; the second is timed
        for q in queries:
            query, marks = q["query"], [time.perf_counter()]
            vector = encoder.encode_queries([query])
            marks.append(time.perf_counter())
            scores, ids = indexes.dense.search(vector, CANDIDATES)
            runs = {"dense": list(zip(ids[0].tolist(), scores[0].tolist()))}
            marks.append(time.perf_counter())
            for name in ("bm25", "chars"):
                runs[name] = engine.signal(query, name, depth=CANDIDATES)
                marks.append(time.perf_counter())
            fused = FUSION.fuse(query, runs)
            if RANKER is not None:
                fused = RANKER.rerank(query, fused, runs, candidates, FUSION.kind(query) == "paragraph")
            fused = fused[:K]
            RELEVANCE.predict(features(query, [i for i, _ in fused], runs, texts, FUSION))
            marks.append(time.perf_counter())
            if repeat:
                times.setdefault(q["kind"], []).append([(b - a) * 1000 for a, b in zip(marks, marks[1:])])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while timing")
    for kind, rows in times.items():
        rows_ms = np.asarray(rows)
        total = rows_ms.sum(axis=1)
        parts = ", ".join(f"{s} {m:.1f}" for s, m in zip(stages, np.median(rows_ms, axis=0)))
        print(f"{kind:9s} {len(rows):3d} queries: total p50 {np.percentile(total, 50):6.1f} ms, "
              f"p95 {np.percentile(total, 95):6.1f} ms; median per stage (ms): {parts}")

if __name__ == "__main__":
    main()
