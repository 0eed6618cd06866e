"""Fusion of several ranked result lists (dense, word BM25, character BM25) into one ranking.

Both functions return [(id, score)] best first; ties go to the id with the better best rank, then the smaller id.
`Fusion` holds the fitted weights the default search uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

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


@dataclass(frozen=True)
class Fusion:
    """Weighted reciprocal rank fusion of named signals, with weights by query kind (phrase or pasted paragraph).

    A query of at least `paragraph_chars` characters (spaces not counted) is a pasted paragraph.
    Fitted on the tuning half of the judged queries by `policy_nlp.search.tune`; shipped as package data.
    """

    weights: dict[str, dict[str, float]]  # query kind -> signal name -> weight
    k: int = RRF_K
    paragraph_chars: int = 30

    @property
    def signals(self) -> tuple[str, ...]:
        """The signals some query kind gives a weight above 0, in a fixed order."""
        return tuple(sorted({s for w in self.weights.values() for s, v in w.items() if v > 0}))

    def kind(self, query: str) -> str:
        return "paragraph" if len("".join(query.split())) >= self.paragraph_chars else "phrase"

    def fuse(self, query: str, runs: dict[str, Sequence[tuple[int, float]]]) -> list[tuple[int, float]]:
        """The fused ranking of `runs` (signal name -> [(id, score)] best first) for this query's kind."""
        weights = self.weights[self.kind(query)]
        names = [name for name in sorted(runs) if weights.get(name, 0) > 0]
        return rrf([[i for i, _ in runs[name]] for name in names], k=self.k, weights=[weights[n] for n in names])

    def to_dict(self) -> dict[str, object]:
        return {"weights": self.weights, "k": self.k, "paragraph_chars": self.paragraph_chars}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Fusion:
        return cls(weights=data["weights"], k=int(data["k"]), paragraph_chars=int(data["paragraph_chars"]))


def shipped_config() -> dict[str, object]:
    """The fitted search settings shipped with the package (`policy_nlp/data/search_fusion.json`)."""
    return json.loads(resources.files("policy_nlp.data").joinpath(FUSION_FILE).read_text(encoding="utf-8"))


FUSION_FILE = "search_fusion.json"
#: The fusion the default (hybrid) search uses.
FUSION = Fusion.from_dict(shipped_config()["fusion"])
