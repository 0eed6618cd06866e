"""One home of N paragraphs on one machine: build time, index size, RSS, recall@10 and latency of dense, BM25
and hybrid search, with and without a selective filter.

Dense vectors and queries come from `realistic_vectors` / `realistic_queries` (expanded from the e5 embeddings
of seeds + meiyu and of the judged queries); paragraph texts are 2-6 sentences sampled (fixed seed) from the
seed and meiyu reports, held in memory only. BM25 analysis (jieba words and character n-grams of every
paragraph) is timed on its own (`bm25_analysis_s`). Each dense preset is saved, then opened in a fresh process
that answers single queries on one thread: dense (the ANN index), bm25 (words, then chars, with the postings
cap), hybrid (ANN dense + both BM25 + the shipped weighted RRF fusion; query encoding not included). With
`--home H` (a home with the converted embedded model) that process also loads the int8 ONNX encoder and times
hybrid+encode: the same hybrid query after encoding its text (the dense search still uses the realistic query
vector, since synthetic paragraphs have no text to match), so its RSS is that of a service that encodes. The
filter keeps 1 % of the paragraphs (every hundredth block of 25, like one bureau's reports). recall@10:
dense against exact search (filtered: exact search of the kept paragraphs), hybrid against the same fusion
over exact dense results, bm25 against the same BM25 without the postings cap. RSS: the peak resident memory
of that process (open + all queries); the top-level `rss_bytes` is that of the preset `auto` chooses, and
`rss_parts` splits its resident memory after the queries into anonymous and file-backed bytes. The bm25
rows come from one more process, which also runs the uncapped reference searches (they read every posting
of a query's tokens, so that process's RSS is not a serving figure).

    python benchmarks/bench_scale.py --paragraphs 1000000 [--json FILE] [--presets flat ivf-fp16 ivf-sq8] [--home H]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_query_latency import sentence_pool  # noqa: E402
from realistic_vectors import DATA_DIR, real_embeddings, realistic_queries, realistic_vectors  # noqa: E402

from policy_nlp.index import VectorIndex, resolve_kind  # noqa: E402
from policy_nlp.search.bm25 import BM25Index  # noqa: E402
from policy_nlp.search.engine import CANDIDATES  # noqa: E402
from policy_nlp.search.evaluate import DEFAULT_QUERIES  # noqa: E402
from policy_nlp.search.fusion import FUSION  # noqa: E402
from policy_nlp.search.tokenize import analyze_batch  # noqa: E402

K = 10
BLOCK = 25  # paragraphs per synthetic document
KEPT_BLOCK_EVERY = 100  # the filter keeps every hundredth document: 1 % of the paragraphs
ANALYZERS = {"words": "bm25", "chars": "bm25_chars"}
UNCAPPED = 1 << 62
COLUMNS = ("index", "mode", "filtered", "p50_ms", "p95_ms", "recall_at_10", "index_bytes", "build_s", "rss_bytes")


def synthetic_texts(n: int, rng: np.random.Generator) -> list[str]:
    sentences = sentence_pool()
    counts = rng.integers(2, 7, n)
    picks = rng.integers(0, len(sentences), counts.sum())
    ends = np.cumsum(counts)
    return ["。".join(sentences[j] for j in picks[end - c:end]) + "。" for c, end in zip(counts.tolist(), ends.tolist())]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def exact_top(vectors: np.ndarray, queries: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Exact top-`depth` ids (= row numbers) by inner product, in chunks of the corpus."""
    rows = np.arange(len(vectors)) if allowed is None else allowed
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.empty((len(queries), 0), np.int64)
    for start in range(0, len(rows), 200_000):
        part = rows[start:start + 200_000]
        sims = queries @ vectors[part].T
        s, i = np.concatenate([best_s, sims], 1), np.concatenate([best_i, np.broadcast_to(part, sims.shape)], 1)
        top = np.argsort(-s, axis=1, kind="stable")[:, :depth]
        best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
    return best_i


def build(args: argparse.Namespace, work: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    n = args.paragraphs
    real, real_queries = real_embeddings()
    texts = synthetic_texts(n, rng)
    ids = np.arange(n, dtype=np.int64)
    rows, analysis_s, analysis_cpu_s = [], 0.0, 0.0
    for analyzer, folder in ANALYZERS.items():
        start, cpu = time.perf_counter(), cpu_seconds()
        analyzed = analyze_batch(analyzer, texts)
        analyzed_s = time.perf_counter() - start
        analysis_s += analyzed_s
        analysis_cpu_s += cpu_seconds() - cpu
        BM25Index.from_token_ids(ids, *analyzed, analyzer).save(work / folder)
        build_s = time.perf_counter() - start
        del analyzed
        rows.append({"index": f"bm25 {analyzer}", "analysis_s": analyzed_s, "build_s": build_s,
                     "index_bytes": folder_bytes(work / folder)})
        print(f"bm25 {analyzer}: analysis {analyzed_s:.1f} s, built and saved in {build_s:.1f} s", flush=True)
    del texts
    vectors = realistic_vectors(real, n, seed=args.seed)
    queries = realistic_queries(real_queries, args.queries, seed=args.seed)
    allowed = ids[(ids // BLOCK) % KEPT_BLOCK_EVERY == 0]
    np.save(work / "queries.npy", queries)
    np.save(work / "allowed.npy", allowed)
    np.save(work / "exact.npy", exact_top(vectors, queries, CANDIDATES))
    np.save(work / "exact_filtered.npy", exact_top(vectors, queries, CANDIDATES, allowed))
    for preset in args.presets:
        start = time.perf_counter()
        index = VectorIndex.build(ids, vectors, model_id="synthetic", kind=preset)
        build_s = time.perf_counter() - start
        index.save(work / f"dense-{preset}")
        rows.append({"index": preset, "factory": index.factory, "build_s": build_s,
                     "index_bytes": folder_bytes(work / f"dense-{preset}")})
        print(f"dense {preset} ({index.factory}): built in {build_s:.1f} s", flush=True)
        del index
    return {"analysis_s": analysis_s, "analysis_cpu_s": analysis_cpu_s, "builds": rows}


def latencies(run, n: int) -> tuple[float, float, list]:
    results, times = [], []
    for i in range(n):
        start = time.perf_counter()
        results.append(run(i))
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95)), results


def overlap(found: list[list[int]], truth: list[list[int]]) -> float:
    """Mean share of the reference top-10 found (a reference with fewer than 10 hits counts what it has)."""
    return float(np.mean([len(set(a[:K]) & set(b[:K])) / max(1, min(K, len(b))) for a, b in zip(found, truth)]))


def measure(work: Path, preset: str, with_bm25: bool, home: Path | None = None) -> list[dict]:
    """Open the saved indexes (this process's RSS is the figure) and time single queries on one thread; with
    `home`, also load the int8 encoder from it and time hybrid queries that encode their text first."""
    import faiss

    faiss.omp_set_num_threads(1)
    encoder = None
    if home is not None:
        from policy_nlp.embed import load_encoder

        encoder = load_encoder(None, home=home, show_progress=False)
        encoder.encode_queries(["warm"])
    dense = VectorIndex.load(work / f"dense-{preset}")
    words = BM25Index.load(work / "bm25", analyzer="words")
    chars = BM25Index.load(work / "bm25_chars", analyzer="chars")
    queries = np.load(work / "queries.npy")
    allowed = np.load(work / "allowed.npy")
    lines = DEFAULT_QUERIES.read_text(encoding="utf-8").splitlines()
    judged = [json.loads(line)["query"] for line in lines if line.strip()]
    texts = [judged[i % len(judged)] for i in range(len(queries))]
    rows = []
    for filtered in (False, True):
        keep = allowed if filtered else None
        exact = np.load(work / ("exact_filtered.npy" if filtered else "exact.npy"))
        dense.search(queries[:1], K, allowed_ids=keep)  # warm
        p50, p95, found = latencies(lambda i: dense.search(queries[i:i + 1], CANDIDATES, allowed_ids=keep)[1][0], len(queries))
        rows.append({"index": preset, "mode": "dense", "filtered": filtered, "p50_ms": p50, "p95_ms": p95,
                     "recall_at_10": overlap([f.tolist() for f in found], exact.tolist())})
        keyword = {}
        for name, index in (("bm25", words), ("chars", chars)):
            p50, p95, ranked = latencies(lambda i: index.search(texts[i], CANDIDATES, allowed_ids=keep)[1], len(queries))
            keyword[name] = ranked
            if with_bm25:
                full = [index.search(t, K, allowed_ids=keep, max_postings=UNCAPPED)[1].tolist() for t in texts]
                rows.append({"index": f"bm25 {'words' if name == 'bm25' else 'chars'}", "mode": "bm25",
                             "filtered": filtered, "p50_ms": p50, "p95_ms": p95,
                             "recall_at_10": overlap([r.tolist() for r in ranked], full)})

        def hybrid(i: int, dense_ids: np.ndarray | None = None, encode: bool = False) -> list[int]:
            if encode:  # timed; the search still uses the realistic vector (synthetic paragraphs have no text twin)
                encoder.encode_queries([texts[i]])
            if dense_ids is None:
                scores, found_ids = dense.search(queries[i:i + 1], CANDIDATES, allowed_ids=keep)
                dense_run = list(zip(found_ids[0].tolist(), scores[0].tolist()))
            else:
                dense_run = [(j, 0.0) for j in dense_ids.tolist()]
            runs = {"dense": dense_run}
            for name, index in (("bm25", words), ("chars", chars)):
                s, found_ids = index.search(texts[i], CANDIDATES, allowed_ids=keep)
                runs[name] = list(zip(found_ids.tolist(), s.tolist()))
            return [j for j, _ in FUSION.fuse(texts[i], runs)[:K]]

        p50, p95, fused = latencies(hybrid, len(queries))
        reference = [hybrid(i, exact[i]) for i in range(len(queries))]
        rows.append({"index": preset, "mode": "hybrid", "filtered": filtered, "p50_ms": p50, "p95_ms": p95,
                     "recall_at_10": overlap(fused, reference)})
        if encoder is not None:
            p50, p95, fused = latencies(lambda i: hybrid(i, encode=True), len(queries))
            rows.append({"index": preset, "mode": "hybrid+encode", "filtered": filtered, "p50_ms": p50, "p95_ms": p95,
                         "recall_at_10": overlap(fused, reference)})
    return [{**row, "rss_bytes": peak_rss(), "rss_parts": rss_parts()} for row in rows]


def peak_rss() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def rss_parts() -> dict[str, int]:
    """This process's resident memory now, split into anonymous (heap, arrays read into memory) and file-backed
    (libraries, memory-mapped index files) bytes (/proc/self/smaps_rollup)."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0]) * 1024
    return {"anonymous": fields["Anonymous"], "file": fields["Rss"] - fields["Anonymous"] - fields.get("Shmem", 0)}


def print_table(result: dict) -> None:
    parts = result["rss_parts"]
    rss = "" if parts is None else (
        f"RSS of the default preset's process {result['rss_bytes'] / 2**20:,.0f} MiB (at the end: "
        f"{parts['anonymous'] / 2**20:,.0f} MiB anonymous, {parts['file'] / 2**20:,.0f} MiB file-backed); ")
    print(f"\n{result['paragraphs']:,} paragraphs; BM25 analysis {result['bm25_analysis_s']:.1f} s "
          f"({result['bm25_analysis_cpu_s']:.1f} s of CPU); {rss}"
          f"load average {result['load_average']:.1f} on {os.cpu_count()} cores")
    print(f"{'index':<14}{'mode':<15}{'filter':<8}{'p50 ms':>8}{'p95 ms':>8}{'recall@10':>10}{'size MiB':>10}"
          f"{'build s':>9}{'RSS MiB':>9}")
    for r in result["rows"]:
        recall = "" if r["recall_at_10"] is None else f"{r['recall_at_10']:.3f}"
        print(f"{r['index']:<14}{r['mode']:<15}{'1 %' if r['filtered'] else '-':<8}{r['p50_ms']:>8.1f}{r['p95_ms']:>8.1f}"
              f"{recall:>10}{r['index_bytes'] / 2**20:>10.0f}{r['build_s']:>9.1f}{r['rss_bytes'] / 2**20:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, required=True)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--presets", nargs="+", default=["flat", "ivf-fp16", "ivf-sq8", "hnsw"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1, help="synthetic sample (presets were tuned on seed 0)")
    parser.add_argument("--home", type=Path, help="a home with the converted embedded model: also time hybrid "
                        "queries that encode their text (int8 ONNX), with the encoder in the measured process")
    parser.add_argument("--measure", nargs=3, metavar=("WORK", "PRESET", "WITH_BM25"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        work, preset, with_bm25 = args.measure
        print(json.dumps(measure(Path(work), preset, with_bm25 == "1", args.home)))
        return
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="scale-", dir=DATA_DIR))
    try:
        built = build(args, work)
        by_index = {b["index"]: b for b in built["builds"]}
        rows, default = [], resolve_kind("auto", args.paragraphs)
        for preset, with_bm25 in [(preset, "0") for preset in args.presets] + [(args.presets[0], "1")]:
            home = ["--home", str(args.home)] if args.home and with_bm25 == "0" else []
            child = subprocess.run([sys.executable, __file__, "--paragraphs", str(args.paragraphs), "--measure",
                                    str(work), preset, with_bm25, *home],
                                   capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            measured = json.loads(child.stdout.splitlines()[-1])
            rows += [row for row in measured if (row["mode"] == "bm25") == (with_bm25 == "1")]
        for row in rows:
            row.update(index_bytes=by_index[row["index"]]["index_bytes"], build_s=by_index[row["index"]]["build_s"])
        served = next((r for r in rows if r["index"] == default), {"rss_bytes": None, "rss_parts": None})
        result = {"paragraphs": args.paragraphs, "bm25_analysis_s": built["analysis_s"],
                  "bm25_analysis_cpu_s": built["analysis_cpu_s"], "rss_bytes": served["rss_bytes"],
                  "rss_parts": served["rss_parts"], "encoder_in_process": args.home is not None,
                  "load_average": os.getloadavg()[0], "factories": {b["index"]: b.get("factory", "") for b in built["builds"]},
                  "rows": [{key: row[key] for key in COLUMNS} for row in rows]}
        print_table(result)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
