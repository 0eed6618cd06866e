"""Insert throughput and query latency of the Milvus backend's vector field in milvus-lite, as the collection grows.

Vectors are synthetic but shaped like real ones: `realistic_vectors` expands the real e5 embeddings of the
paragraphs of a home (seeds + meiyu indexed, e.g. the research sample), and `realistic_queries` the embeddings of
the judged queries (benchmarks/realistic_vectors.py). Rows carry the filter fields the product writes (level, first
and last year). The collection grows in stages (default 10k, 30k, 100k, 300k, 1M rows); at each stage the script
reports the insert rate of that stage, the time until the first query answers (milvus-lite indexes then), the
latency of single top-10 queries without and with a filter (level == county, about a third of the rows), recall@10
against exact search over the same vectors, and the server's resident memory. A stage that would pass
`--budget-s` is not started: the output says which sizes ran.

    python benchmarks/bench_milvus.py --home /tmp/eval_home [--sizes 10000,30000,100000,300000,1000000] [--kind flat]

milvus-lite is Milvus's pure-Python development server, not the engine of a Milvus cluster: these figures bound
what the tests and a single-machine trial see, not a cluster's throughput (docs/scale-out.md does that arithmetic).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from realistic_vectors import realistic_queries, realistic_vectors  # noqa: E402

from policy_nlp import Workspace  # noqa: E402
from policy_nlp.embed import load_encoder  # noqa: E402
from policy_nlp.schema import LEVELS  # noqa: E402
from policy_nlp.search.backends import milvus  # noqa: E402
from policy_nlp.search.backends.milvus_lite import lite_server  # noqa: E402
from policy_nlp.search.evaluate import DEFAULT_QUERIES  # noqa: E402

COLLECTION = "bench"
BATCH = 10_000
QUERIES = 200
K = 10


def real_vectors(home: Path) -> tuple[np.ndarray, np.ndarray]:
    """(paragraph vectors, judged-query vectors) of a home's store, through its embedding cache."""
    with Workspace(home, read_only=True) as ws:
        _, paragraphs = ws.paragraph_embeddings()
    lines = DEFAULT_QUERIES.read_text(encoding="utf-8").splitlines()
    encoder = load_encoder(None, home=home, show_progress=False)
    queries = encoder.encode_queries([json.loads(line)["query"] for line in lines if line.strip()])
    return np.asarray(paragraphs, np.float32), np.asarray(queries, np.float32)


def create(client, dim: int, kind: str) -> None:  # noqa: ANN001 - a pymilvus MilvusClient
    from pymilvus import DataType

    if client.has_collection(COLLECTION):
        client.drop_collection(COLLECTION)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("level", DataType.VARCHAR, max_length=16)
    schema.add_field("year_min", DataType.INT64)
    schema.add_field("year_max", DataType.INT64)
    params = client.prepare_index_params()
    index_type = milvus.INDEX_TYPES.get(kind, kind.upper())
    params.add_index("vector", index_type=index_type, metric_type="IP",
                     params=milvus.HNSW_PARAMS if index_type == "HNSW" else {})  # fmt: skip
    client.create_collection(COLLECTION, schema=schema, index_params=params)
    client.load_collection(COLLECTION)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_queries(client, queries: np.ndarray, kind: str, expr: str) -> tuple[list[float], list[list[int]]]:  # noqa: ANN001
    params = {"metric_type": "IP", "params": {"ef": milvus.HNSW_EF} if kind == "hnsw" else {}}
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        hits = client.search(COLLECTION, data=[q.tolist()], anns_field="vector", limit=K, filter=expr,
                             output_fields=["id"], search_params=params)[0]  # fmt: skip
        times.append(time.perf_counter() - start)
        found.append([int(h["id"]) for h in hits])
    return times, found


def recall(found: list[list[int]], vectors: np.ndarray, queries: np.ndarray, allowed: np.ndarray | None) -> float:
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    exact = np.argsort(-scores, axis=1)[:, :K]
    return float(np.mean([len(set(f) & set(e.tolist())) / K for f, e in zip(found, exact)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="a home with seeds + meiyu indexed")
    parser.add_argument("--sizes", default="10000,30000,100000,300000,1000000")
    parser.add_argument("--kind", default="flat", help="flat, hnsw or a Milvus index type")
    parser.add_argument("--budget-s", type=float, default=1800, help="do not start a stage expected to end later")
    parser.add_argument("--queries", type=int, default=QUERIES, help=f"timed queries per stage (default {QUERIES})")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    real, real_queries = real_vectors(args.home)
    queries = realistic_queries(real_queries, args.queries, seed=0)
    vectors = np.empty((0, real.shape[1]), np.float32)  # grown stage by stage, so a stage not run costs nothing
    rng = np.random.default_rng(0)
    levels = rng.choice(np.array(LEVELS), size=sizes[-1], p=[0.02, 0.08, 0.2, 0.3, 0.3, 0.1])
    first = rng.integers(2018, 2026, size=sizes[-1])
    start_all, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as data, lite_server(data) as server:
        client = milvus.connect(server.uri)
        create(client, vectors.shape[1], args.kind)
        held, seconds_per_row = 0, 0.0
        for stage, size in enumerate(sizes):
            expected = size * seconds_per_row  # inserts and flat searches both grow with the rows
            if seconds_per_row and time.perf_counter() - start_all + expected > args.budget_s:
                print(f"stopping before {size:,} rows: about {expected:.0f} s more would pass --budget-s")
                break
            vectors = np.concatenate([vectors, realistic_vectors(real, size - held, seed=stage)])
            start = stage_start = time.perf_counter()
            for lo in range(held, size, BATCH):
                hi = min(size, lo + BATCH)
                client.insert(COLLECTION, [{"id": i, "vector": vectors[i].tolist(), "level": str(levels[i]),
                                            "year_min": int(first[i]), "year_max": int(first[i]) + 1}
                                           for i in range(lo, hi)])  # fmt: skip
            inserted = time.perf_counter() - start
            start = time.perf_counter()
            timed_queries(client, queries[:1], args.kind, "")
            first_query = time.perf_counter() - start
            plain, found = timed_queries(client, queries, args.kind, "")
            filtered, found_filtered = timed_queries(client, queries, args.kind, 'level == "county"')
            county = levels[:size] == "county"
            row = {"rows": size, "insert_rows_per_s": round((size - held) / inserted),
                   "first_query_s": round(first_query, 2),
                   "p50_ms": round(1000 * np.percentile(plain, 50), 1), "p95_ms": round(1000 * np.percentile(plain, 95), 1),
                   "filtered_p50_ms": round(1000 * np.percentile(filtered, 50), 1),
                   "filtered_p95_ms": round(1000 * np.percentile(filtered, 95), 1),
                   "recall_at_10": round(recall(found, vectors[:size], queries, None), 3),
                   "filtered_recall_at_10": round(recall(found_filtered, vectors[:size], queries, county), 3),
                   "server_rss_mb": round(rss_mb(server.pid))}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
            seconds_per_row = (time.perf_counter() - stage_start) / size
            held = size
    print(json.dumps({"kind": args.kind, "queries": args.queries, "k": K, "stages": rows}, indent=1))


if __name__ == "__main__":
    main()
