"""Experiment: can the e5 dense search be adapted to the policy domain without hand labels? A linear map on
the query side, trained contrastively on pairs the policy documents give for free, scored by dense nDCG@10
on the tuning half of the judged queries (the held-out half is not read).

Pairs (query side → paragraph): a numbered lead phrase (（三）加强美育教师队伍建设。) → its paragraph; a
section heading → a paragraph under it; a paragraph (as a pasted query) → the next paragraph of its
section. The encoder itself stays frozen, embedding layer included: the adapter maps the encoder's query
vector q to normalise(W q), W initialised to the identity and pulled back towards it, so paragraph vectors
(and the index, and the int8 fast path that makes them) do not change. The loss is InfoNCE with in-batch
negatives, where another pair's paragraph is not a negative when its query text is the same or the two
paragraphs share most of their character bigrams (the documents copy each other's templates).

Result (README, "Search quality"): the settings that move the map lower dense nDCG@10 on the tuning half,
and the one that barely moves it gains only noise, so the shipped search keeps the base encoder. Usage (a
home where corpus/seeds and ../shared/corpus/meiyu are ingested and indexed; paragraph vectors come from its
embedding cache):

    python benchmarks/bench_dense_adaptation.py --home /tmp/eval_home
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from policy_nlp import Workspace
from policy_nlp.search.evaluate import judged_in_store, ndcg
from policy_nlp.search.indexes import encoder_for

_NUMBERED_LEAD = re.compile(r"^\s*[（(]?[一二三四五六七八九十\d]{1,3}[）)、.．]\s*([^。：:；;\n]{4,40})[。：:；;]")
_NUMBERING = re.compile(r"^\s*(第[一二三四五六七八九十]+[章节条部分]|[（(]?[一二三四五六七八九十\d]{1,3}[）)、.．])\s*")
MIN_PARAGRAPH_CHARS = 40
#: Two paragraphs sharing more than this share of their character bigrams (Jaccard) are not each other's negatives.
DUPLICATE_JACCARD = 0.5


@dataclass(frozen=True)
class Pair:
    kind: str  # lead, heading or neighbour
    query: str
    paragraph: int  # index of the positive paragraph in the list given to `training_pairs`


def training_pairs(paragraphs: Sequence[tuple[str, str, Sequence[str]]]) -> list[Pair]:
    """Pairs from (doc id, text, section headings) of every paragraph, in document order."""
    pairs: list[Pair] = []
    for n, (doc_id, text, headings) in enumerate(paragraphs):
        text = text.strip()
        if len(text) < MIN_PARAGRAPH_CHARS:
            continue
        lead = _NUMBERED_LEAD.match(text)
        if lead:
            pairs.append(Pair("lead", lead.group(1).strip(), n))
        heading = _NUMBERING.sub("", headings[-1]).strip(" 。") if headings else ""
        if 4 <= len(heading) <= 40 and not (lead and lead.group(1).strip() == heading):
            pairs.append(Pair("heading", heading, n))
        if n and paragraphs[n - 1][0] == doc_id and list(paragraphs[n - 1][2]) == list(headings) \
                and len(paragraphs[n - 1][1].strip()) >= MIN_PARAGRAPH_CHARS:  # fmt: skip
            pairs.append(Pair("neighbour", paragraphs[n - 1][1].strip(), n))
    return pairs


def copies(texts: Sequence[str], threshold: float = DUPLICATE_JACCARD) -> list[set[int]]:
    """For each text, the other texts sharing more than `threshold` of their character bigrams (Jaccard)."""
    grams = [{t[i : i + 2] for i in range(len(t) - 1)} for t in texts]
    index: dict[str, list[int]] = {}
    for n, g in enumerate(grams):
        for b in g:
            index.setdefault(b, []).append(n)
    out = []
    for n, g in enumerate(grams):
        shared: dict[int, int] = {}
        for b in g:
            for m in index[b]:
                shared[m] = shared.get(m, 0) + 1
        out.append({m for m, s in shared.items() if m != n and s / (len(g) + len(grams[m]) - s or 1) > threshold})
    return out


@dataclass(frozen=True)
class AdapterConfig:
    """The recipe of a query adapter; saved beside its weights."""

    model_id: str  # the encoder (and index) whose query vectors it maps
    steps: int = 300
    batch_size: int = 256
    learning_rate: float = 1e-3
    scale: float = 20.0  # inverse temperature of the InfoNCE loss
    identity_weight: float = 1.0  # weight of ||W - I||² in the loss
    seed: int = 0
    pairs: dict[str, int] = field(default_factory=dict)  # training pairs of each kind


def fit_query_map(queries: np.ndarray, paragraphs: np.ndarray, pairs: Sequence[Pair], duplicates: list[set[int]],
                  config: AdapterConfig) -> np.ndarray:  # fmt: skip
    """W (dim x dim) minimising InfoNCE of normalise(W q) against the pair's paragraph among the batch's.

    `queries[i]` is the encoder's query vector of `pairs[i].query`; `paragraphs[j]` the passage vector of paragraph j;
    `duplicates[j]` the paragraphs that copy paragraph j (never negatives for it).
    """
    import torch

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    q_all = torch.tensor(queries, dtype=torch.float32)
    p_all = torch.tensor(paragraphs, dtype=torch.float32)
    dim = q_all.shape[1]
    eye = torch.eye(dim)
    w = torch.nn.Parameter(eye.clone())
    optimiser = torch.optim.Adam([w], lr=config.learning_rate)
    copy = np.zeros((len(paragraphs), len(paragraphs)), dtype=bool)
    for j, others in enumerate(duplicates):
        copy[j, list(others)] = True
    query_ids = np.unique([p.query for p in pairs], return_inverse=True)[1]
    targets_all = np.array([p.paragraph for p in pairs])
    order: list[int] = []
    for _ in range(config.steps):
        if len(order) < config.batch_size:
            order += rng.sample(range(len(pairs)), len(pairs))
        batch, order = np.array(order[: config.batch_size]), order[config.batch_size :]
        targets = targets_all[batch]
        same_query = query_ids[batch][:, None] == query_ids[batch][None, :]
        allowed = torch.tensor(~(copy[np.ix_(targets, targets)] | same_query) | np.eye(len(batch), dtype=bool))
        q = torch.nn.functional.normalize(q_all[batch] @ w.T, dim=-1)
        logits = (q @ p_all[targets].T * config.scale).masked_fill(~allowed, float("-inf"))
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
        loss = loss + config.identity_weight * ((w - eye) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return w.detach().numpy().astype(np.float32)


def pair_counts(pairs: Iterable[Pair]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return counts


#: (steps, learning rate, identity weight, scale) tried; the first is the recipe's default.
SETTINGS = ((300, 1e-3, 1.0, 20.0), (50, 1e-3, 1.0, 20.0), (300, 1e-3, 10.0, 20.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a home holding corpus/seeds and ../shared/corpus/meiyu, indexed")
    args = parser.parse_args()
    with Workspace(Path(args.home)) as ws:
        stored = sorted(ws.store.iter_paragraphs(), key=lambda p: (p.doc_id, p.position))
        _, judged, _ = judged_in_store(ws.store)
        model_id = ws.engine.dense.model_id
        cached_ids, cached = ws.paragraph_embeddings()  # the index's vectors, from the embedding cache
    encoder = encoder_for(model_id, Path(args.home), show_progress=False)
    tune = [q for q in judged if q.split == "tune" and q.relevant]
    ids = np.array([p.para_id for p in stored])
    row = {int(i): n for n, i in enumerate(cached_ids)}
    paragraphs = cached[[row[i] for i in ids.tolist()]]
    pairs = training_pairs([(p.doc_id, p.text, p.section_path) for p in stored])
    queries = encoder.encode_queries([p.query for p in pairs])
    duplicates = copies([p.text for p in stored])
    judged_vectors = encoder.encode_queries([q.query for q in tune])

    def dense_ndcg(weights: np.ndarray | None) -> float:
        vectors = judged_vectors if weights is None else judged_vectors @ weights.T
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return float(np.mean([ndcg(ids[np.argsort(-(paragraphs @ v))[:10]].tolist(), q.grades)
                              for q, v in zip(tune, vectors)]))  # fmt: skip

    rows = [{"setting": "base encoder", "tune_ndcg10": round(dense_ndcg(None), 4)}]
    for steps, rate, identity, scale in SETTINGS:
        config = AdapterConfig(model_id, steps=steps, learning_rate=rate, identity_weight=identity, scale=scale,
                               pairs=pair_counts(pairs))  # fmt: skip
        start = time.perf_counter()
        weights = fit_query_map(queries, paragraphs, pairs, duplicates, config)
        rows.append({"setting": {k: v for k, v in asdict(config).items() if k not in ("model_id", "pairs")},
                     "tune_ndcg10": round(dense_ndcg(weights), 4),
                     "distance_from_identity": round(float(np.linalg.norm(weights - np.eye(len(weights)))), 3),
                     "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
    print(json.dumps({"model_id": model_id, "tune_queries": len(tune), "pairs": pair_counts(pairs), "runs": rows},
                     ensure_ascii=False, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
