"""Benchmark vectors shaped like real e5 embeddings of bureau paragraphs, at any corpus size.

Random Gaussian vectors have no neighbourhoods and are the worst case for graph and cluster indexes;
real embeddings sit in an anisotropic cone with topic clusters. `realistic_vectors` expands the real
paragraph embeddings: each synthetic vector mixes a real vector with one of its 10 nearest real
neighbours (a random share up to one half) and adds Gaussian noise shaped like the differences between
real neighbours, at the scale (found by bisection) that gives a synthetic set of the real set's size the
same median nearest-neighbour cosine as the real one. `realistic_queries` does the same around the real
judged-query embeddings. Every output row has unit norm.

The real embeddings (seeds + every ../shared/corpus/meiyu report, and the judged queries) are made once
with the embedded int8 encoder in a home under `benchmarks/.data/` (gitignored: nothing derived from
meiyu is committed) and cached there as `.npy`.

    python benchmarks/realistic_vectors.py     # ANN recall on real vectors against synthetic ones of the same size
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "benchmarks" / ".data"
SOURCES = [REPO / "corpus" / "seeds", REPO.parent / "shared" / "corpus" / "meiyu"]
NEIGHBOURS = 10
MAX_MIX = 0.5
QUERY_NEIGHBOURS = 5
QUERY_MAX_MIX = 0.3
_CHUNK = 65_536


def realistic_vectors(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """`n` unit vectors (float32, shape (n, d)) around the real unit vectors `real` (m, d)."""
    return _Expansion(_unit(real), NEIGHBOURS, MAX_MIX, seed).sample(n, np.random.default_rng(seed))


def realistic_queries(real_queries: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """`n` unit query vectors (float32, shape (n, d)) around the real query embeddings `real_queries`."""
    expansion = _Expansion(_unit(real_queries), QUERY_NEIGHBOURS, QUERY_MAX_MIX, seed)
    return expansion.sample(n, np.random.default_rng(seed + 1))


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _neighbours(real: np.ndarray, k: int) -> np.ndarray:
    """Each real vector's k nearest other real vectors (by cosine), shape (m, k)."""
    sims = real @ real.T
    np.fill_diagonal(sims, -np.inf)
    k = min(k, len(real) - 1)
    return np.argpartition(-sims, k - 1, axis=1)[:, :k]


def _noise_basis(real: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """A (r, d) matrix L such that z @ L, z standard normal (r wide), has the covariance of real neighbour differences."""
    diffs = (real[:, None, :] - real[neighbours]).reshape(-1, real.shape[1])
    _, s, vt = np.linalg.svd(diffs - diffs.mean(axis=0), full_matrices=False)
    return (s[:, None] / np.sqrt(len(diffs))) * vt


def _median_nn_cosine(vectors: np.ndarray) -> float:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return float(np.median(sims.max(axis=1)))


class _Expansion:
    """Samples around `real`: mixed with one of its k nearest neighbours, plus noise at the calibrated scale."""

    def __init__(self, real: np.ndarray, k: int, max_mix: float, seed: int, steps: int = 12) -> None:
        self.real, self.max_mix = real, max_mix
        self.neighbours = _neighbours(real, k)
        self.basis = _noise_basis(real, self.neighbours).astype(np.float32)
        target, low, high = _median_nn_cosine(real), 0.0, 4.0
        for _ in range(steps):  # bisection: len(real) samples have the real median nearest-neighbour cosine
            self.sigma = (low + high) / 2
            fake = self.sample(len(real), np.random.default_rng(seed))
            low, high = (self.sigma, high) if _median_nn_cosine(fake) > target else (low, self.sigma)
        self.sigma = (low + high) / 2

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        real, d = self.real, self.real.shape[1]
        out = np.empty((n, d), np.float32)
        for start in range(0, n, _CHUNK):
            size = min(_CHUNK, n - start)
            base = rng.integers(0, len(real), size)
            other = self.neighbours[base, rng.integers(0, self.neighbours.shape[1], size)]
            mix = rng.uniform(0, self.max_mix, size).astype(np.float32)[:, None]
            chunk = (1 - mix) * real[base] + mix * real[other]
            chunk += rng.standard_normal((size, len(self.basis)), dtype=np.float32) @ (self.sigma * self.basis)
            out[start:start + size] = _unit(chunk)
        return out


# --- the real embeddings, made once and cached -----------------------------------------------------------


def real_home(data_dir: Path = DATA_DIR) -> Path:
    """A home with seeds + meiyu ingested and indexed (flat) under `data_dir`; built on the first call."""
    sys.path.insert(0, str(REPO))
    from policy_nlp import Workspace

    home = data_dir / "home"
    with Workspace(home) as ws:
        paths = [SOURCES[0]] + sorted(SOURCES[1].glob("P*.txt"))
        ws.ingest(paths, progress=False)
        if (home / "index" / "dense").is_dir():
            ws.update_index(progress=False)
        else:
            ws.build_index(kind="flat", progress=False)
    return home


def real_embeddings(data_dir: Path = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(paragraph vectors, judged-query vectors) of the real corpus, cached as `.npy` in `data_dir`."""
    paths = data_dir / "real_paragraphs.npy", data_dir / "real_queries.npy"
    if not all(p.is_file() for p in paths):
        home = real_home(data_dir)
        from policy_nlp import Workspace
        from policy_nlp.search.evaluate import DEFAULT_QUERIES

        with Workspace(home, read_only=True) as ws:
            _, paragraphs = ws.paragraph_embeddings()
            lines = DEFAULT_QUERIES.read_text(encoding="utf-8").splitlines()
            queries = ws.engine.encoder.encode_queries([json.loads(line)["query"] for line in lines if line.strip()])
        for path, vectors in zip(paths, (paragraphs, queries)):
            np.save(path, np.asarray(vectors, np.float32))
    return tuple(np.load(p) for p in paths)


# --- the check: ANN recall on real vectors and on synthetic ones of the same size ------------------------


def _recall(index, corpus: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    import faiss

    exact = faiss.IndexFlatIP(corpus.shape[1])
    exact.add(corpus)
    truth = exact.search(queries, k)[1]
    found = index.search(queries, k)[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth)]))


def recall_table(corpus: np.ndarray, queries: np.ndarray) -> dict[str, float]:
    """recall@10 against exact search of small IVF and HNSW settings whose recall is below 1 at this size."""
    import faiss

    d, n = corpus.shape[1], len(corpus)
    out = {}
    nlist = max(4, n // 39)
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.seed = 1
    ivf.train(corpus)
    ivf.add(corpus)
    for nprobe in (1, 2, 4):
        ivf.nprobe = nprobe
        out[f"IVF{nlist} nprobe={nprobe}"] = _recall(ivf, corpus, queries)
    hnsw = faiss.IndexHNSWFlat(d, 4, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(corpus)
    for ef in (4, 8, 16):
        hnsw.hnsw.efSearch = ef
        out[f"HNSW4 ef={ef}"] = _recall(hnsw, corpus, queries)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paragraphs, queries = real_embeddings()
    n, nq = len(paragraphs), len(queries)
    fake = realistic_vectors(paragraphs, n, seed=args.seed)
    fake_queries = realistic_queries(queries, 200, seed=args.seed)
    gauss = _unit(np.random.default_rng(args.seed).standard_normal(paragraphs.shape))
    print(f"{n} real paragraphs, {nq} real queries; synthetic sets of the same size (seed {args.seed})")
    print(f"median nearest-neighbour cosine: real {_median_nn_cosine(paragraphs):.3f}, "
          f"synthetic {_median_nn_cosine(fake):.3f}, gaussian {_median_nn_cosine(gauss):.3f}")
    print(f"median query-paragraph top-1 cosine: real {np.median((queries @ paragraphs.T).max(1)):.3f}, "
          f"synthetic {np.median((fake_queries @ fake.T).max(1)):.3f}")
    sets = {"real": (paragraphs, queries), "synthetic": (fake, fake_queries), "gaussian": (gauss, fake_queries)}
    tables = {name: recall_table(c, q) for name, (c, q) in sets.items()}
    print(f"{'recall@10 vs exact':<24}" + "".join(f"{name:>11}" for name in tables))
    for setting in tables["real"]:
        print(f"{setting:<24}" + "".join(f"{t[setting]:>11.3f}" for t in tables.values()))


if __name__ == "__main__":
    main()
