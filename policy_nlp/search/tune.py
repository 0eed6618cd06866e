"""Fitting the default search on the tuning half of the judged queries: fusion weights per query kind, the
reranker over the fused candidates, and the relevance model that turns a hit's signals into a calibrated
probability.

Only queries with `split == "tune"` are read here; the held-out half stays for reporting. Whether the
reranker is used, and its regularisation, are chosen by cross-validation over the tuning queries.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..artifacts import Manifest, write_file
from .engine import CANDIDATES, SearchEngine
from .evaluate import DEFAULT_QUERIES, Judged, judged_in_store, ndcg, paired_interval
from .fusion import FUSION_FILE, Fusion
from .ranker import FEATURES as RANKER_FEATURES
from .ranker import Candidates, LinearRanker, PairwiseRanker, candidate_features
from .relevance import FEATURES, RelevanceModel, features

Runs = dict[str, list[tuple[int, float]]]  # signal name -> [(id, score)] best first
WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0)
K_GRID = (10, 30, 60)
#: Candidates per query the relevance model learns from (the fused top 20).
RELEVANCE_DEPTH = 20
SIGNALS = ("dense", "bm25", "chars")
#: The reranker reorders the fused top this many; its regularisation is chosen from `C_GRID` by `FOLDS`-fold CV.
RERANK_DEPTH = 50
C_GRID = (0.01, 0.1, 1.0)
FOLDS = 5
#: Queries of at least this many characters are pasted paragraphs (the set's phrases have ≤ 13, its paragraphs ≥ 92).
PARAGRAPH_CHARS = 30


def fit_fusion(queries: Sequence[Judged], runs: dict[str, Runs], paragraph_chars: int) -> Fusion:
    """Weights (character BM25 fixed at 1, others from `WEIGHT_GRID`) and k maximising mean nDCG@10, per kind.

    One k serves both kinds; ties go to the first setting in grid order (smaller weights, smaller k).
    """
    probe = Fusion({"phrase": {}, "paragraph": {}}, paragraph_chars=paragraph_chars)
    by_kind = {kind: [q for q in queries if probe.kind(q.query) == kind] for kind in ("phrase", "paragraph")}
    best: tuple[float, Fusion] | None = None
    for k in K_GRID:
        weights = {kind: _best_weights(qs, runs, k) for kind, qs in by_kind.items()}
        fusion = Fusion(weights, k=k, paragraph_chars=paragraph_chars)
        total = _mean_ndcg(queries, runs, fusion)
        if best is None or total > best[0] + 1e-12:
            best = (total, fusion)
    return best[1]


def _best_weights(queries: Sequence[Judged], runs: dict[str, Runs], k: int) -> dict[str, float]:
    best: tuple[float, dict[str, float]] | None = None
    for dense, words in itertools.product(WEIGHT_GRID, WEIGHT_GRID):
        weights = {"dense": dense, "bm25": words, "chars": 1.0}
        fusion = Fusion({"phrase": weights, "paragraph": weights}, k=k)
        total = _mean_ndcg(queries, runs, fusion)
        if best is None or total > best[0] + 1e-12:
            best = (total, weights)
    return best[1] if best else {"dense": 0.0, "bm25": 0.0, "chars": 1.0}


def _mean_ndcg(queries: Sequence[Judged], runs: dict[str, Runs], fusion: Fusion) -> float:
    if not queries:
        return 0.0
    return float(np.mean([ndcg([i for i, _ in fusion.fuse(q.query, runs[q.qid])], q.grades) for q in queries]))


def ranker_data(queries: Sequence[Judged], runs: dict[str, Runs], fusion: Fusion,
                candidates: Candidates) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
    """Features, grades (unjudged = 0) and query ids of each query's fused top `RERANK_DEPTH`."""
    rows, grades, groups = [], [], []
    for q in queries:
        head = [i for i, _ in fusion.fuse(q.query, runs[q.qid])[:RERANK_DEPTH]]
        rows.append(candidate_features(q.query, head, runs[q.qid], candidates, fusion.kind(q.query) == "paragraph"))
        grades += [q.grades.get(i, 0) for i in head]
        groups += [q.qid] * len(head)
    return np.concatenate(rows), np.asarray(grades), groups


def fit_ranker(queries: Sequence[Judged], runs: dict[str, Runs], fusion: Fusion, candidates: Candidates,
               C: float) -> LinearRanker:  # fmt: skip
    """The pairwise ranker fitted on `queries`' fused candidates."""
    model = PairwiseRanker(C=C).fit(*ranker_data(queries, runs, fusion, candidates))
    return LinearRanker(coef=[float(c) for c in model.coef_], depth=RERANK_DEPTH, features=list(RANKER_FEATURES))


def select_ranker(queries: Sequence[Judged], runs: dict[str, Runs],
                  candidates: Candidates) -> tuple[float | None, dict[str, float], list[float]]:  # fmt: skip
    """The C whose fusion + reranker has the best cross-validated nDCG@10, or None when fusion alone does better.

    Folds are queries in turn (query i goes to fold i mod `FOLDS`); in each fold the fusion weights are refitted
    on the other folds too, so no figure was fitted on the query it scores. Returns the choice, the CV figures,
    and the 95 % bootstrap interval of the best reranker's per-query gain over fusion alone.
    """
    results: dict[str, list[float]] = {"fusion": [], **{f"reranker C={c}": [] for c in C_GRID}}
    for fold in range(FOLDS):
        test = [q for n, q in enumerate(queries) if n % FOLDS == fold]
        train = [q for n, q in enumerate(queries) if n % FOLDS != fold]
        fusion = fit_fusion(train, runs, PARAGRAPH_CHARS)
        results["fusion"] += [ndcg([i for i, _ in fusion.fuse(q.query, runs[q.qid])], q.grades) for q in test]
        for c in C_GRID:
            ranker = fit_ranker(train, runs, fusion, candidates, c)
            results[f"reranker C={c}"] += [ndcg(_ranking(ranker, fusion, q, runs, candidates), q.grades) for q in test]
    cv = {name: round(float(np.mean(v)), 4) for name, v in results.items()}
    best = max(C_GRID, key=lambda c: cv[f"reranker C={c}"])
    gain = np.subtract(results[f"reranker C={best}"], results["fusion"])
    interval = [round(x, 4) for x in paired_interval(gain)]
    return (best if cv[f"reranker C={best}"] > cv["fusion"] else None), cv, interval


def _ranking(ranker: LinearRanker | None, fusion: Fusion, q: Judged, runs: dict[str, Runs],
             candidates: Candidates) -> list[int]:  # fmt: skip
    """The default search's ranking of a judged query: fusion, then the reranker when there is one."""
    fused = fusion.fuse(q.query, runs[q.qid])
    if ranker is not None:
        fused = ranker.rerank(q.query, fused, runs[q.qid], candidates, fusion.kind(q.query) == "paragraph")
    return [i for i, _ in fused]


def fit_relevance(queries: Sequence[Judged], ranked: dict[str, list[int]], runs: dict[str, Runs], fusion: Fusion,
                  texts: dict[int, str]) -> RelevanceModel:  # fmt: skip
    """Logistic regression of "judged relevant (grade ≥ 1)" on the features of each query's top 20 (`ranked`:
    qid -> the default search's ranking).

    Unjudged candidates count as not relevant. The weak-match threshold maximises F1 on the same candidates.
    """
    from sklearn.linear_model import LogisticRegression

    x, y = relevance_data(queries, ranked, runs, fusion, texts)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    p = model.predict_proba(x)[:, 1]
    threshold = max(np.unique(np.round(p, 3)), key=lambda t: _f1(p >= t, y == 1))
    return RelevanceModel(coef=[float(c) for c in model.coef_[0]], intercept=float(model.intercept_[0]),
                          threshold=float(threshold), features=list(FEATURES))  # fmt: skip


def relevance_data(queries: Sequence[Judged], ranked: dict[str, list[int]], runs: dict[str, Runs], fusion: Fusion,
                   texts: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Features and 0/1 labels (judged grade ≥ 1) of each query's top `RELEVANCE_DEPTH` in `ranked`."""
    rows, labels = [], []
    for q in queries:
        top = ranked[q.qid][:RELEVANCE_DEPTH]
        rows += features(q.query, top, runs[q.qid], texts, fusion)
        labels += [int(q.grades.get(i, 0) > 0) for i in top]
    return np.asarray(rows, dtype=float), np.asarray(labels)


def calibration(model: RelevanceModel, x: np.ndarray, y: np.ndarray, base_rate: float) -> dict[str, float]:
    """Brier score of the model and of a constant `base_rate`, and how the weak-match threshold splits the hits."""
    p = np.asarray(model.predict(x))
    close = p >= model.threshold
    return {"candidates": int(len(y)), "relevant_share": round(float(y.mean()), 3),
            "brier": round(float(np.mean((p - y) ** 2)), 4),
            "brier_constant": round(float(np.mean((base_rate - y) ** 2)), 4),
            "relevant_among_close": round(float(y[close].mean()), 3) if close.any() else 0.0,
            "relevant_among_weak": round(float(y[~close].mean()), 3) if (~close).any() else 0.0}


def _f1(predicted: np.ndarray, actual: np.ndarray) -> float:
    tp = float(np.sum(predicted & actual))
    return 2 * tp / (predicted.sum() + actual.sum()) if tp else 0.0



def signal_runs(engine: SearchEngine, queries: Sequence[Judged], depth: int = CANDIDATES) -> dict[str, Runs]:
    """Every signal's ranking of every query (qid -> signal -> [(id, score)]), computed once."""
    return {q.qid: {name: engine.signal(q.query, name, depth=depth) for name in SIGNALS} for q in queries}


def fit(home: Path, queries: Path) -> dict[str, object]:
    """Fit fusion, reranker and relevance model on the tuning half of `queries` over the store and indexes in `home`."""
    from ..api import Workspace

    with Workspace(home) as ws:
        paragraphs, judged, _ = judged_in_store(ws.store, queries)
        tune = [q for q in judged if q.split == "tune" and q.relevant]
        heldout = [q for q in judged if q.split == "heldout" and q.relevant]
        runs = signal_runs(ws.engine, tune + heldout)
        neighbours = ws.store.neighbours([p.para_id for p in paragraphs])
    candidates = Candidates.of(paragraphs, neighbours)
    texts = candidates.texts
    fusion = fit_fusion(tune, runs, PARAGRAPH_CHARS)
    c, cv, gain = select_ranker(tune, runs, candidates)
    ranker = fit_ranker(tune, runs, fusion, candidates, c) if c is not None else None
    ranked = {q.qid: _ranking(ranker, fusion, q, runs, candidates) for q in tune + heldout}
    relevance = fit_relevance(tune, ranked, runs, fusion, texts)
    base_rate = float(relevance_data(tune, ranked, runs, fusion, texts)[1].mean())
    return {"fitted_on": f"{queries.name}, split = tune ({len(tune)} queries)",
            "fusion": fusion.to_dict(), "ranker": ranker.to_dict() if ranker else None,
            "ranker_selection": {"folds": FOLDS, "cv_ndcg10": cv, "cv_gain_ci95": gain}, "relevance": relevance.to_dict(),
            "relevance_heldout": calibration(relevance, *relevance_data(heldout, ranked, runs, fusion, texts),
                                                      base_rate)}


def main() -> None:
    parser = argparse.ArgumentParser(description="fit the default search's fusion, reranker and relevance model on the "
                                                 "tuning half and write them where the package reads them")  # fmt: skip
    parser.add_argument("--home", required=True, help="a home holding corpus/seeds and ../shared/corpus/meiyu, indexed")
    parser.add_argument("--queries", default=str(DEFAULT_QUERIES))
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "data" / FUSION_FILE))
    args = parser.parse_args()
    manifest = Manifest.new("search-fusion", libraries=(np,))
    fitted = {"format_version": manifest.format_version, "versions": manifest.versions,
              **fit(Path(args.home), Path(args.queries))}  # fmt: skip
    with write_file(args.output) as tmp:
        tmp.write_text(json.dumps(fitted, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(fitted, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
