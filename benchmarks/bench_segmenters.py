"""jieba (Python) against rjieba (the same dictionary and HMM in Rust) for the word BM25 index: segmentation
speed, how many paragraphs and queries segment identically, and nDCG@10 of each on both halves of the
judged queries (bm25s over each analyzer, as `bench_word_analyzers.py`; no parameter is chosen here).

    python benchmarks/bench_segmenters.py --home H   # a home with corpus/seeds and ../shared/corpus/meiyu ingested
"""

from __future__ import annotations

import argparse
import logging
import time
import unicodedata

import jieba
import numpy as np

from policy_nlp import Workspace
from policy_nlp.search.anchors import Bm25sRanker
from policy_nlp.search.evaluate import judged_in_store, ndcg
from policy_nlp.search.tokenize import STOP_WORDS, _is_word, tokenize


def jieba_words(text: str) -> list[str]:
    """The word analyzer as it was with jieba: precise mode, stop words and symbols dropped."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [t for t in jieba.lcut(text) if t not in STOP_WORDS and _is_word(t)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    args = parser.parse_args()
    jieba.setLogLevel(logging.WARNING)
    with Workspace(args.home, read_only=True) as ws:
        paragraphs, judged, _ = judged_in_store(ws.store)
    texts = [p.text for p in paragraphs]
    ids = np.array([p.para_id for p in paragraphs], dtype=np.int64)
    analyzers = {"jieba": jieba_words, "rjieba (tokenize)": tokenize}
    segmented = {}
    for name, analyze in analyzers.items():
        analyze("预热")
        start = time.process_time()
        segmented[name] = [analyze(t) for t in texts]
        seconds = time.process_time() - start
        print(f"{name:<18} {sum(map(len, texts)) / seconds / 1000:,.0f}k characters per CPU second")
    usable = [q for q in judged if q.relevant]
    same = sum(a == b for a, b in zip(*segmented.values()))
    same_queries = sum(len({tuple(analyze(q.query)) for analyze in analyzers.values()}) == 1 for q in usable)
    print(f"identical word lists: {same} of {len(texts)} paragraphs, {same_queries} of {len(usable)} queries")
    rankers = {name: Bm25sRanker(ids, texts, analyze) for name, analyze in analyzers.items()}
    top = {name: {q.qid: [i for i, _ in r.rank(q.query, 100)] for q in usable} for name, r in rankers.items()}
    for split in ("tune", "heldout"):
        queries = [q for q in usable if q.split == split]
        scores = ", ".join(f"{name} {np.mean([ndcg(top[name][q.qid], q.grades) for q in queries]):.3f}"
                           for name in analyzers)
        print(f"nDCG@10 {split} ({len(queries)} queries): {scores}")


if __name__ == "__main__":
    main()
