"""Is the default search ahead of each anchor beyond noise? Paired per-query nDCG@10 differences on the held-out half.

For every other system of `policy-nlp evaluate search` (the modes and the anchors): the mean difference
default − system, the queries it wins, ties and loses, and a 95 % bootstrap interval of the mean difference
(10,000 resamples of the held-out queries, fixed seed). Usage (a home where corpus/seeds and
../shared/corpus/meiyu are ingested and indexed):

    python benchmarks/bench_search_paired.py --home /tmp/eval_home [--split heldout]
"""

from __future__ import annotations

import argparse
import json


from policy_nlp import Workspace
from policy_nlp.search.engine import DEFAULT_MODE
from policy_nlp.search.evaluate import paired_interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a home holding corpus/seeds and ../shared/corpus/meiyu, indexed")
    parser.add_argument("--split", default="heldout", choices=("heldout", "tune"))
    args = parser.parse_args()
    with Workspace(args.home) as ws:
        frame = ws.evaluate_search_per_query()
    table = frame[frame["split"] == args.split].pivot(index="qid", columns="mode", values="ndcg")
    rows = {}
    for system in (c for c in table.columns if c != DEFAULT_MODE):
        diff = (table[DEFAULT_MODE] - table[system]).to_numpy()
        low, high = paired_interval(diff)
        rows[system] = {"mean_difference": round(float(diff.mean()), 4),
                        "wins": int((diff > 1e-9).sum()), "ties": int((abs(diff) <= 1e-9).sum()),
                        "losses": int((diff < -1e-9).sum()),
                        "ci95": [round(low, 4), round(high, 4)]}  # fmt: skip
    print(json.dumps({"split": args.split, "queries": len(table), "default": DEFAULT_MODE,
                      "default_ndcg10": round(float(table[DEFAULT_MODE].mean()), 4), "against": rows}, indent=2))


if __name__ == "__main__":
    main()
