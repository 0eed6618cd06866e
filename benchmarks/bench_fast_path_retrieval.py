"""Do the int8 fast paths retrieve like the float model? Dense and hybrid metrics on the evaluation set.

Usage (a home where corpus/seeds and ../shared/corpus/meiyu are ingested):

    python benchmarks/bench_fast_path_retrieval.py --home /tmp/eval_home

Both encoders embed every paragraph (through the embedding cache, so a second run is fast); the
indexes are built in memory and nothing in the home's index folder changes.
"""

from __future__ import annotations

import argparse

import numpy as np

from policy_nlp import Workspace
from policy_nlp.embed import EmbeddingCache, embed_passages_cached, load_encoder
from policy_nlp.index import VectorIndex
from policy_nlp.search.bm25 import BM25Index
from policy_nlp.search.engine import SearchEngine
from policy_nlp.search.evaluate import evaluate, judged_in_store
from policy_nlp.search.indexes import Indexes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    args = parser.parse_args()
    with Workspace(args.home) as ws:
        paragraphs, queries, _ = judged_in_store(ws.store)
        ids = np.array([p.para_id for p in paragraphs], dtype=np.int64)
        texts = [p.text for p in paragraphs]
        words, chars = BM25Index.build(ids, texts), BM25Index.build(ids, texts, analyzer="chars")
        vectors = {}
        for quantize in (False, True, "onnx"):
            encoder = load_encoder(None, home=ws.home, quantize=quantize, show_progress=True)
            with EmbeddingCache(home=ws.home) as cache:
                vectors[quantize] = embed_passages_cached(encoder, texts, cache)
            dense = VectorIndex.build(ids, vectors[quantize], model_id=encoder.model_id)
            engine = SearchEngine(ws.store, Indexes(dense, words, chars), encoder)
            systems = {mode: (lambda q, m=mode: [i for i, _ in engine.rank(q, mode=m)]) for mode in ("dense", "hybrid")}
            name = {False: "float", True: "torch int8", "onnx": "onnxruntime int8"}[quantize]
            for group, scores in evaluate(queries, systems).items():
                for mode, s in scores.items():
                    print(f"{name:16s} {group:18s} {mode:6s}  nDCG@10 {s.ndcg:.3f}  Recall@10 {s.recall:.3f}  "
                          f"MRR {s.mrr:.3f}")
        for fast in (True, "onnx"):
            cosine = np.sum(vectors[False] * vectors[fast], axis=1)
            print(f"{fast} vs float cosine over {len(texts)} paragraphs: mean {cosine.mean():.4f}, min {cosine.min():.4f}")


if __name__ == "__main__":
    main()
