"""Judging sheets for the search evaluation: the top 20 of every system `policy-nlp evaluate search` compares
(the project's modes and the anchors), pooled for every judged query, in chunks for readers.

Pairs that already have two independent readings (`search_pooled_judgements.jsonl`, or
`search_second_judgements.jsonl` beside a graded pair in the query file) are left out. Each chunk `chunk_N.jsonl` holds whole queries, about `--chunk`
pairs: a query line (text, kind, grading guide) and then its paragraphs in document order (so the order
says nothing about any system's ranking), numbered `row` 1, 2, … within the chunk. The sheets carry
paragraph text read from the store: they belong in a scratch folder, never in the repository.

    python benchmarks/judging_pool.py --home /tmp/eval_home --out /tmp/judge2
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from policy_nlp import Workspace
from policy_nlp.resources import shipped
from policy_nlp.search.anchors import ANCHORS, Anchors
from policy_nlp.search.engine import MODES

DEPTH = 20


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in shipped("data", "eval", name).read_text(encoding="utf-8").splitlines() if line]


def read_twice(queries: list[dict]) -> set[tuple[str, str, str]]:
    """(qid, doc id, text hash) of the pairs two readers have graded."""
    second = {(r["qid"], r["doc_id"], r["text_hash"]) for r in _rows("search_second_judgements.jsonl")}
    pooled = {(r["qid"], r["doc_id"], r["text_hash"]) for r in _rows("search_pooled_judgements.jsonl")}
    return ({(q["qid"], r["doc_id"], r["text_hash"]) for q in queries for r in q["relevant"]} & second) | pooled


def chunks(blocks: list[tuple[dict, list[dict]]], size: int) -> list[list[tuple[dict, list[dict]]]]:
    """Whole queries in order, cut where the running pair count passes each multiple of an even share."""
    total = sum(len(rows) for _, rows in blocks)
    share = total / max(1, math.ceil(total / size))
    out: list[list[tuple[dict, list[dict]]]] = [[]]
    seen = 0
    for q, rows in blocks:
        if out[-1] and seen + len(rows) / 2 > share * len(out):
            out.append([])
        out[-1].append((q, rows))
        seen += len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a home holding corpus/seeds and ../shared/corpus/meiyu, indexed")
    parser.add_argument("--out", required=True, type=Path, help="a scratch folder for the sheets")
    parser.add_argument("--chunk", type=int, default=1200, help="about this many pairs per sheet")
    args = parser.parse_args()
    queries = _rows("search_queries.jsonl")
    done = read_twice(queries)
    with Workspace(args.home) as ws:
        paragraphs = {p.para_id: p for p in ws.store.iter_paragraphs()}
        engine = ws.engine
        anchors = Anchors(list(paragraphs), [p.text for p in paragraphs.values()],
                          lambda q, depth: engine.signal(q, "dense", depth=depth))  # fmt: skip
        blocks, pooled = [], 0
        for q in queries:
            pool = {i for m in MODES for i, _ in engine.rank(q["query"], mode=m)[:DEPTH]}
            pool |= {i for a in ANCHORS for i, _ in anchors.rank(a, q["query"], DEPTH)}
            pooled += len(pool)
            rows = [{"doc_id": p.doc_id, "text_hash": p.text_hash, "section": p.section_path, "text": p.text}
                    for p in sorted(map(paragraphs.get, pool), key=lambda p: (p.doc_id, p.position))
                    if (q["qid"], p.doc_id, p.text_hash) not in done]  # fmt: skip
            if rows:
                blocks.append((q, rows))
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = []
    for number, chunk in enumerate(chunks(blocks, args.chunk), 1):
        lines, row = [], 0
        for q, rows in chunk:
            lines.append({"type": "query", "qid": q["qid"], "query": q["query"], "kind": q["kind"], "guide": q.get("note", "")})
            for r in rows:
                row += 1
                lines.append({"type": "pair", "row": row, "qid": q["qid"], **r})
        (args.out / f"chunk_{number}.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                                                        encoding="utf-8")  # fmt: skip
        sizes.append(row)
    print(json.dumps({"systems": [*MODES, *ANCHORS], "depth": DEPTH, "pooled_pairs": pooled,
                      "already_read_twice": pooled - sum(sizes), "chunks": sizes}))  # fmt: skip


if __name__ == "__main__":
    main()
