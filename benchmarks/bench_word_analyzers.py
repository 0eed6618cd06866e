"""Why the project's word BM25 trailed bare bm25s + jieba: nDCG@10 of word analyzers on the tuning half.

Each analyzer feeds the same bm25s model (Lucene idf, k1 = 1.5, b = 0.75); only the tuning half of
policy_nlp/data/eval/search_queries.jsonl is scored, since this run chose the analyzer `policy_nlp.search.tokenize` uses.
Usage (a home where corpus/seeds and ../shared/corpus/meiyu are ingested):

    python benchmarks/bench_word_analyzers.py --home /tmp/eval_home
"""

from __future__ import annotations

import argparse
import logging
import unicodedata
from collections.abc import Callable

import jieba
import numpy as np

from policy_nlp import Workspace
from policy_nlp.search.anchors import Bm25sRanker, char_grams, jieba_words
from policy_nlp.search.evaluate import judged_in_store, ndcg
from policy_nlp.search.tokenize import STOP_WORDS, _is_word, char_ngrams, tokenize

#: The domain words the word analyzer used to add to jieba's dictionary.
OLD_DOMAIN_WORDS = ("双减", "县管校聘", "课后服务", "5+2", "五项管理", "清廉学校", "党组织领导的校长负责制", "交流轮岗",
                    "强师工程", "立德树人", "五育并举", "集团化办学", "优质均衡", "控辍保学", "校外培训", "美育浸润")  # fmt: skip


def analyzers() -> dict[str, Callable[[str], list[str]]]:
    jieba.setLogLevel(logging.WARNING)
    plain, domain = jieba.Tokenizer(), jieba.Tokenizer()
    for word in OLD_DOMAIN_WORDS:
        domain.add_word(word)

    def clean(cut: Callable[[str], list[str]], stop: bool) -> Callable[[str], list[str]]:
        def analyze(text: str) -> list[str]:
            words = cut(unicodedata.normalize("NFKC", text).lower())
            return [w for w in words if _is_word(w) and not (stop and w in STOP_WORDS)]

        return analyze

    return {
        "search mode + domain words + stop words (before)": clean(domain.lcut_for_search, True),
        "search mode + stop words": clean(plain.lcut_for_search, True),
        "precise mode": clean(plain.lcut, False),
        "precise mode + stop words (now: tokenize)": tokenize,
        "bare jieba.lcut (anchor)": jieba_words,
        "char uni+bigrams (now: char_ngrams)": char_ngrams,
        "char uni+bigrams over raw text (anchor)": char_grams,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    args = parser.parse_args()
    with Workspace(args.home) as ws:
        paragraphs, judged, _ = judged_in_store(ws.store)
    ids = np.array([p.para_id for p in paragraphs], dtype=np.int64)
    tune = [q for q in judged if q.split == "tune" and q.relevant]
    print(f"nDCG@10 on the tuning half ({len(tune)} queries), bm25s over each analyzer")
    for name, analyze in analyzers().items():
        ranker = Bm25sRanker(ids, [p.text for p in paragraphs], analyze)
        score = np.mean([ndcg([i for i, _ in ranker.rank(q.query, 100)], q.grades) for q in tune])
        print(f"{score:.3f}  {name}")


if __name__ == "__main__":
    main()
