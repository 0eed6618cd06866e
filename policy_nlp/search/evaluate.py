"""Retrieval evaluation on the project's judged queries: nDCG@10, Recall@10, MRR and unjudged results per system.

Judgements name paragraphs by (document id, text hash), so they survive re-ingesting; a judged
paragraph that is not in the store is reported, never silently dropped. Each query belongs to the
tuning half or the held-out half (field `split`, fixed in the file): parameters are fitted on the
tuning half only, figures are reported on the held-out half. A judgement of grade 0 records a paragraph
read and found not relevant, so it is judged; a result with no judgement at all counts as unjudged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..corpus import CorpusStore, StoredParagraph
from ..errors import InputError
from ..resources import shipped

CUTOFF = 10
#: The project's judged queries (paragraphs of corpus/seeds and ../shared/corpus/meiyu).
DEFAULT_QUERIES = shipped("data", "eval", "search_queries.jsonl")
SPLITS = ("tune", "heldout")


@dataclass(frozen=True)
class Judged:
    """One evaluation query with the graded relevance (0, 1 or 2) of paragraphs, by store paragraph id."""

    qid: str
    query: str
    kind: str
    split: str
    grades: dict[int, int]

    @property
    def relevant(self) -> int:
        return sum(1 for g in self.grades.values() if g > 0)


@dataclass(frozen=True)
class Scores:
    """Mean metrics over a set of queries; `unjudged` is the mean number of unjudged results in a top 10."""

    ndcg: float
    recall: float
    mrr: float
    unjudged: float
    queries: int


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
            split = row.get("split", "tune")
            if split not in SPLITS:
                raise ValueError(f"split must be one of {', '.join(SPLITS)}")
            queries.append(Judged(row["qid"], row["query"], row.get("kind", "phrase"), split, grades))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}:{number}: not a judged query ({exc})") from None
    return queries, unmatched


def judged_in_store(store: CorpusStore, path: Path = DEFAULT_QUERIES) -> tuple[list[StoredParagraph], list[Judged], int]:
    """Every stored paragraph, the judged queries of `path` mapped onto them, and the count of unmatched judgements."""
    paragraphs = list(store.iter_paragraphs())
    judged, unmatched = load_queries(Path(path), {(p.doc_id, p.text_hash): p.para_id for p in paragraphs})
    return paragraphs, judged, unmatched


def ndcg(ranked: Sequence[int], grades: dict[int, int], k: int = CUTOFF) -> float:
    """Normalised discounted cumulative gain with gains 2^grade - 1."""
    dcg = sum((2 ** grades.get(i, 0) - 1) / math.log2(r + 2) for r, i in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: Sequence[int], grades: dict[int, int], k: int = CUTOFF) -> float:
    """Relevant paragraphs in the top k over the most that could be there, min(k, relevant)."""
    relevant = sum(1 for g in grades.values() if g > 0)
    found = sum(1 for i in ranked[:k] if grades.get(i, 0) > 0)
    return found / min(k, relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[int], grades: dict[int, int]) -> float:
    """1 / rank of the first relevant paragraph (0 when none is ranked)."""
    return next((1.0 / (r + 1) for r, i in enumerate(ranked) if grades.get(i, 0) > 0), 0.0)


def unjudged(ranked: Sequence[int], grades: dict[int, int], k: int = CUTOFF) -> int:
    """Results in the top k that nobody judged."""
    return sum(1 for i in ranked[:k] if i not in grades)


def paired_interval(differences: Sequence[float], resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the mean of per-query differences (queries resampled, fixed seed)."""
    import numpy as np

    diff = np.asarray(differences, dtype=float)
    means = diff[np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def per_query(queries: Sequence[Judged], systems: dict[str, Callable[[str], Sequence[int]]]) -> list[tuple[str, Judged, Scores]]:
    """(system, query, that query's scores) for every system (name -> ranking function) and every query
    with a relevant paragraph."""
    rows = []
    for name, rank in systems.items():
        for q in (q for q in queries if q.relevant):
            ranked = list(rank(q.query))
            rows.append((name, q, Scores(ndcg(ranked, q.grades), recall(ranked, q.grades),
                                         reciprocal_rank(ranked, q.grades), unjudged(ranked, q.grades), 1)))
    return rows


def _mean(scores: Sequence[Scores]) -> Scores:
    if not scores:
        return Scores(0.0, 0.0, 0.0, 0.0, 0)
    n = len(scores)
    return Scores(*(sum(getattr(s, f) for s in scores) / n for f in ("ndcg", "recall", "mrr", "unjudged")), queries=n)


def evaluate(queries: Sequence[Judged], systems: dict[str, Callable[[str], Sequence[int]]]) -> dict[str, dict[str, Scores]]:
    """Scores of every system (name -> ranking function) per group: each split, and each split by query kind."""
    rows = per_query(queries, systems)
    groups: dict[str, set[str]] = {}
    for q in {q.qid: q for _, q, _ in rows}.values():
        groups.setdefault(q.split, set()).add(q.qid)
        groups.setdefault(f"{q.split}/{q.kind}", set()).add(q.qid)
    order = sorted(groups, key=lambda g: (SPLITS.index(g.split("/")[0]), g))
    return {group: {name: _mean([s for n, q, s in rows if n == name and q.qid in groups[group]]) for name in systems}
            for group in order}
