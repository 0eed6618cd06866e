"""Plain baselines ("anchors") the project's search is measured against, built in memory from paragraph texts.

Each is what a careful user could set up in ten lines: bm25s over `jieba.lcut` words, scikit-learn character
1–2-gram TF-IDF with cosine, bm25s over character unigrams + bigrams, and equal-weight RRF (k = 60) of those three
with the e5 dense ranking. Nothing here is tuned: they stand still while the project's search is fitted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import bm25s
import jieba
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from .fusion import rrf

Ranking = list[tuple[int, float]]
ANCHORS = ("jieba-bm25s", "char-tfidf", "char-bm25s", "rrf-4")


def jieba_words(text: str) -> list[str]:
    """`jieba.lcut` words, whitespace dropped."""
    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut(text) if w.strip()]


def char_grams(text: str) -> list[str]:
    """Every non-space character and every pair of neighbouring non-space characters."""
    chars = [c for c in text if not c.isspace()]
    return chars + [a + b for a, b in zip(chars, chars[1:])]


class Bm25sRanker:
    """bm25s with its defaults (Lucene idf, k1 = 1.5, b = 0.75) over a given analyzer."""

    def __init__(self, ids: np.ndarray, texts: Sequence[str], analyze: Callable[[str], list[str]]) -> None:
        self.ids, self.analyze = ids, analyze
        self.model = bm25s.BM25()
        self.model.index(bm25s.tokenization.Tokenized(*_vocab_ids([analyze(t) for t in texts])), show_progress=False)

    def rank(self, query: str, depth: int) -> Ranking:
        vocab = self.model.vocab_dict
        tokens = [vocab[t] for t in self.analyze(query) if t in vocab]
        if not tokens:
            return []
        scores = self.model.get_scores(tokens)
        return _top(self.ids, scores, depth)


class _CharTfidf:
    def __init__(self, ids: np.ndarray, texts: Sequence[str]) -> None:
        self.ids = ids
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2))
        self.matrix = self.vectorizer.fit_transform(texts)

    def rank(self, query: str, depth: int) -> Ranking:
        scores = (self.matrix @ self.vectorizer.transform([query]).T).toarray().ravel()
        return _top(self.ids, scores, depth)


class Anchors:
    """The anchor rankings over one set of paragraphs; `dense` ranks a query with the project's e5 index."""

    def __init__(self, ids: Sequence[int], texts: Sequence[str], dense: Callable[[str, int], Ranking]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        self._dense = dense
        self._lexical = {
            "jieba-bm25s": Bm25sRanker(ids, texts, jieba_words),
            "char-tfidf": _CharTfidf(ids, texts),
            "char-bm25s": Bm25sRanker(ids, texts, char_grams),
        }

    def rank(self, name: str, query: str, depth: int = 100) -> Ranking:
        if name != "rrf-4":
            return self._lexical[name].rank(query, depth)
        runs = [self._dense(query, depth)] + [self._lexical[n].rank(query, depth) for n in self._lexical]
        return rrf([[i for i, _ in run] for run in runs])[:depth]


def _vocab_ids(token_lists: list[list[str]]) -> tuple[list[list[int]], dict[str, int]]:
    vocab: dict[str, int] = {}
    return [[vocab.setdefault(t, len(vocab)) for t in tokens] for tokens in token_lists], vocab


def _top(ids: np.ndarray, scores: np.ndarray, depth: int) -> Ranking:
    hits = np.flatnonzero(scores > 0)
    order = hits[np.lexsort((ids[hits], -scores[hits]))][:depth]
    return list(zip(ids[order].tolist(), scores[order].tolist()))
