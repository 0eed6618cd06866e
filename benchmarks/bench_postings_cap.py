"""What the BM25 postings cap (`policy_nlp.search.bm25.MAX_POSTINGS`) costs in search quality: nDCG@10 of the
word, character and hybrid modes on both halves of the judged queries, uncapped against a cap scaled to the
home's size (the same share of its paragraphs as MAX_POSTINGS is of a million paragraphs; far below that a
query never reaches the cap itself).

    python benchmarks/bench_postings_cap.py --home H   # seeds + meiyu ingested, `policy-nlp index build` run
"""

from __future__ import annotations

import argparse

from policy_nlp import Workspace
from policy_nlp.search import bm25

MODES = ("bm25", "chars", "hybrid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    args = parser.parse_args()
    with Workspace(args.home, read_only=True) as ws:
        paragraphs = ws.stats()["paragraphs"]
        caps = {"uncapped": 1 << 62, "scaled cap": max(1, bm25.MAX_POSTINGS * paragraphs // 1_000_000)}
        results = {}
        for name, cap in caps.items():
            bm25.MAX_POSTINGS = cap
            results[name] = ws.evaluate_search()
    print(f"{paragraphs} paragraphs; scaled cap {caps['scaled cap']:,} postings per query")
    for half in ("tune", "heldout"):
        cells = "; ".join(f"{mode} " + " → ".join(f"{results[n].groups[half][mode]['ndcg']:.3f}" for n in caps)
                          for mode in MODES)
        print(f"nDCG@10 {half}, uncapped → capped: {cells}")


if __name__ == "__main__":
    main()
