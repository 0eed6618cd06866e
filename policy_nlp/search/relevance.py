"""A calibrated relevance estimate for each hit: logistic regression over features of the hit's signals.

Fitted on the tuning half of the judged queries (`policy_nlp.search.tune.fit_relevance`) and shipped as package data
with the fusion weights. The probability answers "would a reader judge this paragraph relevant to the query?";
below `threshold` a hit is a weak match, and when every hit is weak there is no close match.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .fusion import Fusion, shipped_config
from .ranker import coverage, normalise
from .tokenize import char_bigrams, tokenize

FEATURES = ("dense_cosine", "bigram_coverage", "word_coverage", "is_paragraph", "paragraph_bigram_coverage")


@dataclass(frozen=True)
class RelevanceModel:
    """P(relevant) = sigmoid(intercept + coef · features); `threshold` separates close matches from weak ones."""

    coef: list[float]
    intercept: float
    threshold: float
    features: list[str]

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        if list(self.features) != list(FEATURES):
            raise ValueError(f"relevance model expects features {self.features}, this version computes {FEATURES}")
        return [1.0 / (1.0 + math.exp(-(self.intercept + sum(c * x for c, x in zip(self.coef, row))))) for row in rows]

    def to_dict(self) -> dict[str, object]:
        return {"coef": self.coef, "intercept": self.intercept, "threshold": self.threshold, "features": self.features}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RelevanceModel:
        return cls(coef=[float(c) for c in data["coef"]], intercept=float(data["intercept"]),
                   threshold=float(data["threshold"]), features=list(data["features"]))  # fmt: skip


def features(query: str, para_ids: Sequence[int], runs: dict[str, Sequence[tuple[int, float]]],
             texts: dict[int, str], fusion: Fusion) -> list[list[float]]:  # fmt: skip
    """One row of `FEATURES` per paragraph of `para_ids`, in that order.

    Every feature is absolute (not relative to the other candidates), so a query with nothing close in the
    store gets low estimates: the e5 cosine, and the share of the query's distinct character bigrams and
    jieba words that occur in the paragraph (NFKC, lower case). A candidate missing from the dense top gets
    the lowest dense score there (its cosine is at most that).
    """
    dense = dict(runs.get("dense", []))
    dense_floor = min(dense.values()) if dense else 0.0
    bigrams, words = char_bigrams(query), set(tokenize(query))
    is_paragraph = float(fusion.kind(query) == "paragraph")
    rows = []
    for para_id in para_ids:
        bigram_share, word_share = coverage(normalise(texts[para_id]), bigrams, words)
        rows.append([dense.get(para_id, dense_floor), bigram_share, word_share, is_paragraph, is_paragraph * bigram_share])
    return rows


def _shipped() -> RelevanceModel | None:
    relevance = shipped_config().get("relevance")
    return RelevanceModel.from_dict(relevance) if relevance else None


#: The relevance model the default (hybrid) search uses; None until one is fitted.
RELEVANCE = _shipped()
