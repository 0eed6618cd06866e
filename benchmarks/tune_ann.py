"""How the ANN presets' search breadth trades recall@10 against time, on realistic vectors of the tuning seed 0
(bench_scale.py reports on seed 1): for each size, recall@10 against exact search and the p50 of single
queries (one thread) for each nprobe of the IVF presets and each ef_search of hnsw.

    python benchmarks/tune_ann.py --paragraphs 200000 [--presets ivf-fp16 ivf-sq8 hnsw]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import exact_top, overlap  # noqa: E402
from realistic_vectors import real_embeddings, realistic_queries, realistic_vectors  # noqa: E402

from policy_nlp.index import VectorIndex  # noqa: E402

NPROBES = ("nprobe", (8, 16, 32, 64, 128))
BREADTHS = {"ivf-fp16": NPROBES, "ivf-sq8": NPROBES, "hnsw": ("ef_search", (16, 32, 64, 128))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, required=True)
    parser.add_argument("--presets", nargs="+", default=["ivf-fp16", "ivf-sq8"], choices=list(BREADTHS))
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    real, real_queries = real_embeddings()
    vectors = realistic_vectors(real, args.paragraphs, seed=0)
    queries = realistic_queries(real_queries, args.queries, seed=0)
    truth = exact_top(vectors, queries, 10).tolist()
    ids = np.arange(args.paragraphs, dtype=np.int64)
    for preset in args.presets:
        start = time.perf_counter()
        index = VectorIndex.build(ids, vectors, model_id="synthetic", kind=preset)
        print(f"{preset} ({index.factory}) at {args.paragraphs:,}: built in {time.perf_counter() - start:.0f} s")
        faiss.omp_set_num_threads(1)
        name, values = BREADTHS[preset]
        for value in values:
            times, found = [], []
            for q in queries:
                start = time.perf_counter()
                found.append(index.search(q[None], 10, **{name: value})[1][0].tolist())
                times.append((time.perf_counter() - start) * 1000)
            print(f"  {name}={value:<4} recall@10 {overlap(found, truth):.3f}  p50 {np.percentile(times, 50):.2f} ms")
        faiss.omp_set_num_threads(2)


if __name__ == "__main__":
    main()
