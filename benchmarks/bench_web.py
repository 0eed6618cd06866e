"""The web service under load: N concurrent clients for a while, mixing search, similar and tag requests.

Starts ``policy-nlp serve`` on 127.0.0.1 (a free port) over a home that has an index (e.g. after
``policy-nlp run corpus/seeds/``), waits for /healthz, runs the clients, checks the service still answers,
stops it, and prints throughput, p50/p95/p99 latency and errors per request kind (JSON with --json).

    python benchmarks/bench_web.py --home H [--clients 50] [--duration 60]

Each client loops over the mix in turn: searches (the judged queries' phrases), similar
by a paragraph id the searches return, similar by pasted text, and tagging a seed report (12 paragraphs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
QUERIES = REPO / "policy_nlp" / "data" / "eval" / "search_queries.jsonl"
REPORT = REPO / "corpus" / "seeds" / "004_19f5cf095fbe0cc7.txt"
#: Requests of each kind in one turn of a client's loop.
MIX = ("search", "search", "search", "search", "similar_id", "similar_text", "tag")
STARTUP_SECONDS = 300
#: A request slower than this counts as an error (a closed loop of 50 clients on 2 busy cores queues for minutes).
REQUEST_TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, server: subprocess.Popen) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < STARTUP_SECONDS:
        if server.poll() is not None:
            raise SystemExit(f"the service exited with code {server.returncode} before answering")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the service did not answer /healthz within {STARTUP_SECONDS} s")


async def _client(base: str, n: int, deadline: float, phrases: list[str], para_ids: list[int],
                  report: str, log: list[tuple[str, float, bool]]) -> None:  # fmt: skip
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as c:
        turn = n  # clients start at different points of the mix and the query list
        while time.perf_counter() < deadline:
            kind = MIX[turn % len(MIX)]
            phrase = phrases[turn % len(phrases)]
            if kind == "search":
                call = c.get("/api/search", params={"q": phrase, "k": 10})
            elif kind == "similar_id":
                call = c.get("/api/similar", params={"para_id": para_ids[turn % len(para_ids)], "k": 10})
            elif kind == "similar_text":
                call = c.post("/api/similar", json={"text": phrase, "k": 10})
            else:
                call = c.post("/api/tag", json={"text": report})
            start = time.perf_counter()
            try:
                ok = (await call).status_code == 200
            except httpx.HTTPError:
                ok = False
            log.append((kind, time.perf_counter() - start, ok))
            turn += 1


def _summary(log: list[tuple[str, float, bool]], seconds: float) -> dict[str, dict[str, float]]:
    rows = {}
    for kind in ("all", *sorted(set(MIX))):
        chosen = [(t, ok) for k, t, ok in log if kind in ("all", k)]
        ms = np.array([t for t, _ in chosen]) * 1000
        rows[kind] = {"requests": len(chosen), "per_second": round(len(chosen) / seconds, 2),
                      "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
                      "p99_ms": round(float(np.percentile(ms, 99)), 1), "errors": sum(not ok for _, ok in chosen)}  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a policy_nlp home with a search index")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, "-m", "policy_nlp.cli", "serve", "--home", args.home, "--host",
                               "127.0.0.1", "--port", str(port)], env=env)  # fmt: skip
    try:
        startup = _wait_healthy(base, server)
        phrases = [q["query"] for q in map(json.loads, QUERIES.read_text(encoding="utf-8").splitlines())
                   if q["kind"] == "phrase"]  # fmt: skip
        para_ids = [h["para_id"] for q in phrases[:10]
                    for h in httpx.get(f"{base}/api/search", params={"q": q, "k": 3}, timeout=60).json()["hits"]]  # fmt: skip
        report = REPORT.read_text(encoding="utf-8")
        log: list[tuple[str, float, bool]] = []
        start = time.perf_counter()

        async def load() -> None:
            deadline = start + args.duration
            await asyncio.gather(*(_client(base, n, deadline, phrases, para_ids, report, log) for n in range(args.clients)))

        asyncio.run(load())
        seconds = time.perf_counter() - start
        after = httpx.get(f"{base}/healthz", timeout=10).status_code == 200 and httpx.get(
            f"{base}/api/search", params={"q": "课后服务"}, timeout=60).json()["hits"] != []  # fmt: skip
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    rows = _summary(log, seconds)
    result = {"clients": args.clients, "seconds": round(seconds, 1), "startup_seconds": round(startup, 1),
              "answering_afterwards": after, "by_kind": rows}  # fmt: skip
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(f"{args.clients} clients for {seconds:.0f} s (service ready after {startup:.1f} s); "
              f"answering afterwards: {after}")  # fmt: skip
        print("| requests | count | per second | p50 ms | p95 ms | p99 ms | errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for kind, r in rows.items():
            print(f"| {kind} | {r['requests']} | {r['per_second']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['errors']} |")
    return 0 if after and rows["all"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
