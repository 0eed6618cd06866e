"""A learned reranking of the fused candidates: a linear score over per-candidate features.

The default search fuses its signals (weighted RRF), then reorders the fused top `depth` by
`coef · features`, where the features say how each signal ranked and scored the candidate, how much of
the query the paragraph and its headings cover, and how well its document and its neighbouring paragraphs
match in character BM25 (relevant paragraphs come in runs, in documents about the query). The weights are
fitted pairwise (a paragraph judged more relevant must score higher than a less relevant one of the same
query) on the tuning half of the judged queries by `policy_nlp.search.tune`, and shipped with the fusion
weights.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .fusion import shipped_config
from .tokenize import char_bigrams, tokenize

if TYPE_CHECKING:
    from ..corpus import StoredParagraph

Run = Sequence[tuple[int, float]]
SIGNALS = ("dense", "bm25", "chars")
#: Rank features are k / (k + rank), 1 at the top and 0 when the signal did not return the candidate.
RANK_K = 60
FEATURES = (
    "dense_rank", "bm25_rank", "chars_rank",  # k / (k + rank) in each signal's top
    "bm25_share", "chars_share",  # BM25 score over the query's best BM25 score
    "dense_cosine",  # e5 cosine (the lowest returned one when the candidate is missing)
    "bigram_coverage", "word_coverage", "heading_coverage",  # share of the query in the text / headings
    "log_length",  # ln(1 + characters) / 6
    "paragraph_dense_rank", "paragraph_bm25_rank", "paragraph_chars_rank", "paragraph_bigram_coverage",  # pasted
    "document_chars_share",  # the best chars_share of a paragraph of the same document
    "neighbour_chars_share",  # the better chars_share of the paragraphs just before and after
)  # fmt: skip


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def coverage(text: str, bigrams: set[str], words: set[str]) -> tuple[float, float]:
    """Shares of the query's distinct character bigrams and jieba words found in `text` (already normalised)."""
    bigram_share = sum(b in text for b in bigrams) / len(bigrams) if bigrams else 0.0
    word_share = sum(w in text for w in words) / len(words) if words else 0.0
    return bigram_share, word_share


@dataclass(frozen=True)
class Candidates:
    """What the features read of the paragraphs besides the rankings: the candidates' texts and headings, the
    document of each candidate and of each paragraph of the character BM25 ranking, and each candidate's
    neighbours (the paragraph ids just before and after it in its document, None at an end)."""

    texts: dict[int, str]
    headings: dict[int, str]
    documents: dict[int, str]
    neighbours: dict[int, tuple[int | None, int | None]]

    @classmethod
    def of(cls, paragraphs: Iterable[StoredParagraph],
           neighbours: dict[int, tuple[int | None, int | None]]) -> Candidates:  # fmt: skip
        """The texts, headings and documents of stored `paragraphs`, with `neighbours` (`CorpusStore.neighbours`)."""
        paragraphs = list(paragraphs)
        return cls({p.para_id: p.text for p in paragraphs}, {p.para_id: " ".join(p.section_path) for p in paragraphs},
                   {p.para_id: p.doc_id for p in paragraphs}, neighbours)  # fmt: skip


def context_shares(para_ids: Sequence[int], chars: Run, candidates: Candidates) -> np.ndarray:
    """(document_chars_share, neighbour_chars_share) of each of `para_ids`: character BM25 scores over the
    query's best, of the best-scoring paragraph of the same document and of the better neighbour (0 when absent)."""
    share = dict(chars)
    best = max(share.values(), default=0.0)
    share = {i: s / best for i, s in share.items()} if best > 0 else {}
    document_best: dict[str, float] = {}
    for i, s in share.items():
        document = candidates.documents.get(i)
        if document is not None:
            document_best[document] = max(document_best.get(document, 0.0), s)
    rows = np.zeros((len(para_ids), 2))
    for row, i in zip(rows, para_ids):
        before, after = candidates.neighbours.get(i, (None, None))
        row[:] = document_best.get(candidates.documents.get(i), 0.0), max(share.get(before, 0.0), share.get(after, 0.0))
    return rows


def candidate_features(query: str, para_ids: Sequence[int], runs: dict[str, Run], candidates: Candidates,
                       pasted: bool) -> np.ndarray:  # fmt: skip
    """One row of `FEATURES` per paragraph of `para_ids`; `pasted` says the query is a pasted paragraph."""
    texts, headings = candidates.texts, candidates.headings
    bigrams, words = char_bigrams(query), set(tokenize(query))
    ranks = {s: {i: r for r, (i, _) in enumerate(runs.get(s, ()), 1)} for s in SIGNALS}
    scores = {s: dict(runs.get(s, ())) for s in SIGNALS}
    best = {s: max(scores[s].values(), default=0.0) for s in ("bm25", "chars")}
    dense_floor = min(scores["dense"].values(), default=0.0)
    rows = np.zeros((len(para_ids), len(FEATURES)))
    rows[:, -2:] = context_shares(para_ids, runs.get("chars", ()), candidates)
    for row, i in zip(rows, para_ids):
        rank = [RANK_K / (RANK_K + ranks[s][i]) if i in ranks[s] else 0.0 for s in SIGNALS]
        share = [scores[s].get(i, 0.0) / best[s] if best[s] > 0 else 0.0 for s in ("bm25", "chars")]
        text = normalise(texts[i])
        bigram_share, word_share = coverage(text, bigrams, words)
        heading_share = coverage(normalise(headings.get(i, "")), bigrams, set())[0]
        local = [scores["dense"].get(i, dense_floor), bigram_share, word_share, heading_share, math.log1p(len(text)) / 6]
        row[:-2] = rank + share + local + [float(pasted) * x for x in rank + [bigram_share]]
    return rows


@dataclass(frozen=True)
class LinearRanker:
    """Reorders the fused top `depth` by `coef · candidate_features`; the rest keep the fused order below them."""

    coef: list[float]
    depth: int
    features: list[str]

    @property
    def signals(self) -> tuple[str, ...]:
        """The signal rankings the features read."""
        return SIGNALS

    def rerank(self, query: str, fused: Run, runs: dict[str, Run], candidates: Candidates,
               pasted: bool) -> list[tuple[int, float]]:  # fmt: skip
        """(id, score) best first: the head scored by the ranker, the tail at (lowest head score - 1 + fused score)."""
        if list(self.features) != list(FEATURES):
            raise ValueError(f"ranker expects features {self.features}, this version computes {FEATURES}")
        head = [i for i, _ in fused[: self.depth] if i in candidates.texts]
        if not head:
            return list(fused)
        scores = candidate_features(query, head, runs, candidates, pasted) @ np.asarray(self.coef)
        order = np.lexsort((np.arange(len(head)), -scores))  # ties keep the fused order
        ranked = [(head[k], float(scores[k])) for k in order]
        floor, taken = ranked[-1][1] - 1.0, set(head)
        return ranked + [(i, floor + s) for i, s in fused if i not in taken]

    def to_dict(self) -> dict[str, object]:
        return {"coef": self.coef, "depth": self.depth, "features": self.features}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LinearRanker:
        return cls(coef=[float(c) for c in data["coef"]], depth=int(data["depth"]), features=list(data["features"]))


def _shipped() -> LinearRanker | None:
    ranker = shipped_config().get("ranker")
    return LinearRanker.from_dict(ranker) if ranker else None


#: The reranking the default (hybrid) search applies after fusion; None when fusion alone did better on the tuning half.
RANKER = _shipped()


class PairwiseRanker:
    """scikit-learn style estimator: logistic regression on feature differences of pairs within a query.

    `fit(X, y, groups)`: rows `X`, graded labels `y` (0, 1, 2), query of each row `groups`. Every pair of
    rows of one query with different grades becomes two mirrored examples; at most `max_pairs` pairs per
    query are drawn (seeded) so long candidate lists do not dominate. The features are divided by their
    standard deviation over `X` before fitting, so `C` regularises each alike whatever its scale; `coef_`
    applies to the unscaled features.
    """

    def __init__(self, C: float = 0.01, max_pairs: int = 400, random_state: int = 0) -> None:
        self.C = C
        self.max_pairs = max_pairs
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Sequence[object]) -> PairwiseRanker:
        from sklearn.linear_model import LogisticRegression

        X, y, groups = np.asarray(X, dtype=float), np.asarray(y), np.asarray(groups)
        scale = X.std(axis=0) if len(X) else np.ones(X.shape[1])
        scale[scale == 0] = 1.0
        X = X / scale
        rng = np.random.default_rng(self.random_state)
        diffs = []
        for group in dict.fromkeys(groups.tolist()):
            rows = np.flatnonzero(groups == group)
            better, worse = np.nonzero(y[rows][:, None] > y[rows][None, :])
            if len(better) > self.max_pairs:
                keep = rng.choice(len(better), self.max_pairs, replace=False)
                better, worse = better[keep], worse[keep]
            diffs.append(X[rows[better]] - X[rows[worse]])
        diffs = np.concatenate(diffs) if diffs else np.zeros((0, X.shape[1]))
        if not len(diffs):
            raise ValueError("no query has two candidates with different grades: nothing to learn from")
        model = LogisticRegression(C=self.C, fit_intercept=False, max_iter=2000)
        model.fit(np.concatenate([diffs, -diffs]), np.r_[np.ones(len(diffs)), np.zeros(len(diffs))])
        self.coef_ = model.coef_[0] / scale
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float) @ self.coef_
