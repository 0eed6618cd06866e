"""Fusion of several ranked result lists (dense, BM25) into one ranking.

Both functions return [(id, score)] best first; ties go to the id with the better best rank, then the smaller id.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K,
        weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(id) = sum over rankings of weight / (k + rank), rank counted from 1."""
    weights = _weights(len(rankings), weights)
    total: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, doc in enumerate(_unique(ranking), start=1):
            total[doc] = total.get(doc, 0.0) + weight / (k + rank)
    return _ordered(total, rankings)


def weighted_minmax(runs: Sequence[tuple[Sequence[int], Sequence[float]]],
                    weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Weighted sum of scores min-max normalised to [0, 1] per run (ids, scores); absent from a run counts 0.

    A run whose scores are all equal normalises to 1 for each of its ids.
    """
    weights = _weights(len(runs), weights)
    total: dict[int, float] = {}
    for (ids, scores), weight in zip(runs, weights):
        scores = [float(s) for s in scores]
        if len(scores) != len(ids):
            raise ValueError(f"a run has {len(ids)} ids but {len(scores)} scores")
        if not scores:
            continue
        low, span = min(scores), max(scores) - min(scores)
        for doc, score in zip((int(i) for i in ids), scores):
            norm = (score - low) / span if span > 0 else 1.0
            total[doc] = total.get(doc, 0.0) + weight * norm
    return _ordered(total, [ids for ids, _ in runs])


def _weights(n: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise ValueError(f"got {len(weights)} weights for {n} result lists")
    return [float(w) for w in weights]


def _unique(ranking: Sequence[int]) -> list[int]:
    """The ids of a ranking as ints, keeping the first occurrence of a repeated id."""
    return list(dict.fromkeys(int(i) for i in ranking))


def _ordered(total: dict[int, float], rankings: Sequence[Sequence[int]]) -> list[tuple[int, float]]:
    best_rank: dict[int, int] = {}
    for ranking in rankings:
        for rank, doc in enumerate(_unique(ranking)):
            best_rank[doc] = min(rank, best_rank.get(doc, rank))
    return sorted(total.items(), key=lambda item: (-item[1], best_rank[item[0]], item[0]))
