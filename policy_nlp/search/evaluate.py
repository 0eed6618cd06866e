"""Retrieval evaluation against the project's judged queries: nDCG@10, Recall@10 and MRR per ranking mode.

Judgements name paragraphs by (document id, text hash), so they survive re-ingesting; a judged
paragraph that is not in the store is reported, never silently dropped.
"""

from __future__ import annotations

import json
import math
from dataclasses import astuple, dataclass
from pathlib import Path

from ..errors import InputError
from .engine import MODES, SearchEngine

CUTOFF = 10


@dataclass(frozen=True)
class Judged:
    """One evaluation query with the graded relevance (1 or 2) of paragraphs, by store paragraph id."""

    qid: str
    query: str
    kind: str
    grades: dict[int, int]


@dataclass(frozen=True)
class ModeScores:
    ndcg: float
    recall: float
    mrr: float


def load_queries(path: Path, para_ids: dict[tuple[str, str], int]) -> tuple[list[Judged], int]:
    """Queries from a JSONL file, judgements mapped to paragraph ids; also the count of unmatched judgements."""
    queries, unmatched = [], 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            grades = {}
            for item in row["relevant"]:
                key = (item["doc_id"], item["text_hash"])
                if key in para_ids:
                    grades[para_ids[key]] = int(item["grade"])
                else:
                    unmatched += 1
            queries.append(Judged(row["qid"], row["query"], row.get("kind", "phrase"), grades))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}:{number}: not a judged query ({exc})") from None
    return queries, unmatched


def ndcg(ranked: list[int], grades: dict[int, int], k: int = CUTOFF) -> float:
    """Normalised discounted cumulative gain with gains 2^grade - 1."""
    dcg = sum((2 ** grades.get(i, 0) - 1) / math.log2(r + 2) for r, i in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: list[int], grades: dict[int, int], k: int = CUTOFF) -> float:
    """Relevant paragraphs in the top k over the most that could be there, min(k, relevant)."""
    found = sum(1 for i in ranked[:k] if grades.get(i, 0) > 0)
    return found / min(k, len(grades)) if grades else 0.0


def reciprocal_rank(ranked: list[int], grades: dict[int, int]) -> float:
    """1 / rank of the first relevant paragraph (0 when none is ranked)."""
    return next((1.0 / (r + 1) for r, i in enumerate(ranked) if grades.get(i, 0) > 0), 0.0)


def per_query(engine: SearchEngine, queries: list[Judged], modes: tuple[str, ...] = MODES) -> list[tuple[str, Judged, ModeScores]]:
    """(mode, query, its nDCG@10, Recall@10 and reciprocal rank) for each mode and each query with judgements."""
    rows = []
    for mode in modes:
        for q in (q for q in queries if q.grades):
            ranked = [i for i, _ in engine.rank(q.query, mode=mode)]
            rows.append((mode, q, ModeScores(ndcg(ranked, q.grades), recall(ranked, q.grades),
                                             reciprocal_rank(ranked, q.grades))))  # fmt: skip
    return rows


def evaluate(engine: SearchEngine, queries: list[Judged], modes: tuple[str, ...] = MODES) -> dict[str, ModeScores]:
    """Mean nDCG@10, Recall@10 and MRR (over the top 100) of each mode on the queries with judgements."""
    rows = per_query(engine, queries, modes)
    results = {}
    for mode in modes:
        scores = [s for m, _, s in rows if m == mode]
        n = len(scores) or 1
        results[mode] = ModeScores(*(sum(col) / n for col in zip(*(astuple(s) for s in scores)))) if scores else ModeScores(0, 0, 0)
    return results
