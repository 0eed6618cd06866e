"""Settle the readings of the judging sheets (`judging_pool.py`) into the shipped judged queries, and print agreement.

Reads `chunk_N.jsonl` and the two readings `out/chunk_N.r1.jsonl`, `out/chunk_N.r2.jsonl` of each sheet, and
the third readings of disagreements in `third/*.jsonl` (rows {qid, doc_id, text_hash, grade}). A pair's grade
is the agreed one, else the median of three readings, else (no third reading) the lower of the two. Writes
`search_pooled_judgements.jsonl` (every pair's readings and grade, ids and hashes only) and puts the grades into
`search_queries.jsonl`: pooled grades replace earlier single readings of the same pair; pairs read three
times before (q048–q059's earlier top-10 pools) and relevant paragraphs outside the pools keep their grade.

    python benchmarks/judging_settle.py --sheets /tmp/judge2
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path

EVAL = Path(__file__).resolve().parents[1] / "policy_nlp" / "data" / "eval"
Key = tuple[str, str, str]


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _key(row: dict) -> Key:
    return row["qid"], row["doc_id"], row["text_hash"]


def kappa(a: list, b: list, weight=lambda x, y: float(x == y)) -> float:
    """Cohen's kappa of two readers' labels, with agreement weights `weight(x, y)` (1 = full agreement)."""
    n, pa, pb = len(a), Counter(a), Counter(b)
    observed = sum(weight(x, y) for x, y in zip(a, b)) / n
    expected = sum(pa[x] * pb[y] * weight(x, y) for x in pa for y in pb) / n / n
    return (observed - expected) / (1 - expected)


def settle(sheets: Path) -> tuple[dict[Key, list[int]], dict[Key, int], dict[str, float]]:
    """Every sheet pair's readings, its settled grade, and the agreement of the first two readings."""
    pairs = {_key(r) for path in sorted(sheets.glob("chunk_*.jsonl")) for r in _read(path) if r["type"] == "pair"}
    first, second = {}, {}
    for reader, grades in (("r1", first), ("r2", second)):
        for path in sorted((sheets / "out").glob(f"chunk_*.{reader}.jsonl")):
            grades.update({_key(r): r["grade"] for r in _read(path)})
    if set(first) != pairs or set(second) != pairs:
        raise SystemExit(f"readings do not cover the sheets: {len(pairs)} pairs, {len(first)} and {len(second)} read")
    third = {_key(r): r["grade"] for path in sorted((sheets / "third").glob("*.jsonl")) for r in _read(path)}
    readings, grades = {}, {}
    for k in pairs:
        readings[k] = [first[k], second[k]] + ([third[k]] if first[k] != second[k] and k in third else [])
        grades[k] = int(statistics.median(readings[k])) if len(readings[k]) == 3 else min(readings[k])
    a, b = [first[k] for k in pairs], [second[k] for k in pairs]
    disagree = [k for k in pairs if first[k] != second[k]]
    agreement = {"pairs": len(pairs), "exact": sum(x == y for x, y in zip(a, b)) / len(a),
                 "weighted_kappa_linear": kappa(a, b, lambda x, y: 1 - abs(x - y) / 2),
                 "relevant_agreement": sum((x > 0) == (y > 0) for x, y in zip(a, b)) / len(a),
                 "relevant_kappa": kappa([x > 0 for x in a], [y > 0 for y in b]),
                 "disagreements": len(disagree), "two_against_zero": sum(abs(first[k] - second[k]) == 2 for k in disagree),
                 "settled_by_third": sum(k in third for k in disagree),
                 "settled_by_lower_grade": sum(k not in third for k in disagree),
                 "third_above_lower": sum(grades[k] != min(first[k], second[k]) for k in disagree)}  # fmt: skip
    return readings, grades, {k: round(v, 3) for k, v in agreement.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", required=True, type=Path, help="the folder of the sheets and the readers' outputs")
    args = parser.parse_args()
    readings, grades, agreement = settle(args.sheets)
    queries = _read(EVAL / "search_queries.jsonl")
    order = {q["qid"]: n for n, q in enumerate(queries)}
    keys = sorted(grades, key=lambda k: (order[k[0]], k[1], k[2]))
    rows = [{"qid": q, "doc_id": d, "text_hash": h, "readings": readings[(q, d, h)], "grade": grades[(q, d, h)]}
            for q, d, h in keys]  # fmt: skip
    (EVAL / "search_pooled_judgements.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                         encoding="utf-8")  # fmt: skip
    for q in queries:
        merged = {(r["doc_id"], r["text_hash"]): r["grade"] for r in q["relevant"]}
        merged.update({(d, h): grades[(qid, d, h)] for qid, d, h in keys if qid == q["qid"]})
        q["relevant"] = [{"doc_id": d, "text_hash": h, "grade": g}
                         for (d, h), g in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))]  # fmt: skip
    (EVAL / "search_queries.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries),
                                               encoding="utf-8")  # fmt: skip
    print(json.dumps(agreement))


if __name__ == "__main__":
    main()
