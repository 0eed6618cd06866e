"""The judged search queries as shipped: fixed halves, and pooled grades settled as README says (two readings,
the median of three where they disagree), carried into the query file."""

from __future__ import annotations

import json
import statistics
from collections import Counter

from policy_nlp.resources import shipped


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in shipped("data", "eval", name).read_text(encoding="utf-8").splitlines() if line]


def test_each_kind_alternates_between_the_halves():
    queries = _rows("search_queries.jsonl")
    assert len(queries) >= 104 and len({q["qid"] for q in queries}) == len(queries)
    for kind in ("phrase", "paragraph", "question"):
        splits = Counter(q["split"] for q in queries if q["kind"] == kind)
        assert abs(splits["tune"] - splits["heldout"]) <= 1, (kind, splits)


def test_pooled_grades_are_the_agreed_or_median_reading():
    pooled = _rows("search_pooled_judgements.jsonl")
    assert len(pooled) > 4000
    for row in pooled:
        readings = row["readings"]
        assert len(readings) in (2, 3) and set(readings) <= {0, 1, 2}
        if len(readings) == 2:
            assert readings[0] == readings[1] == row["grade"], row
        else:
            assert readings[0] != readings[1] and row["grade"] == statistics.median(readings), row
    keys = [(r["qid"], r["doc_id"], r["text_hash"]) for r in pooled]
    assert len(set(keys)) == len(keys)


def test_query_file_carries_the_settled_pooled_grades():
    grades = {(q["qid"], r["doc_id"], r["text_hash"]): r["grade"] for q in _rows("search_queries.jsonl") for r in q["relevant"]}
    pooled = _rows("search_pooled_judgements.jsonl")
    assert [r for r in pooled if grades.get((r["qid"], r["doc_id"], r["text_hash"])) != r["grade"]] == []
    # the new queries (艺术教育质量监测 q071, 困难学生资助 q074) were pooled and read too
    assert {"q071", "q074"} <= {r["qid"] for r in pooled}
