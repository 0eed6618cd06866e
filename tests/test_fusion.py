"""Reciprocal rank fusion, min-max score fusion, the fitted fusion by query kind and the relevance model,
on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from policy_nlp.search.evaluate import Judged
from policy_nlp.search.fusion import Fusion, rrf, weighted_minmax
from policy_nlp.search.relevance import FEATURES, RelevanceModel, features
from policy_nlp.search.tune import fit_fusion


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([[1, 2, 3], [3, 1, 4]])
    assert [doc for doc, _ in fused] == [1, 3, 2, 4]
    assert [score for _, score in fused] == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63])


def test_rrf_weights_and_k():
    assert [doc for doc, _ in rrf([[1, 2, 3], [3, 1, 4]], weights=[1, 3])] == [3, 1, 4, 2]
    assert rrf([[1, 2]], k=0) == [(1, 1.0), (2, 0.5)]


def test_rrf_ties_repeats_and_numpy_ids():
    assert rrf([[5], [2]]) == [(2, 1 / 61), (5, 1 / 61)]  # same score and best rank: smaller id first
    assert rrf([[1, 1, 2]]) == [(1, 1 / 61), (2, 1 / 62)]  # a repeated id counts once, at its first rank
    assert rrf([np.array([9, 8], dtype=np.int64)]) == [(9, 1 / 61), (8, 1 / 62)]
    assert rrf([]) == []
    with pytest.raises(ValueError, match="2 weights for 1"):
        rrf([[1]], weights=[1, 2])


def test_weighted_minmax():
    runs = [([1, 2, 3], [0.9, 0.5, 0.1]), ([3, 4], [10.0, 2.0])]
    assert weighted_minmax(runs) == [(1, 1.0), (3, 1.0), (2, 0.5), (4, 0.0)]
    assert weighted_minmax(runs, weights=[1, 2]) == [(3, 2.0), (1, 1.0), (2, 0.5), (4, 0.0)]
    assert weighted_minmax([([7, 8], [0.3, 0.3]), ([], [])]) == [(7, 1.0), (8, 1.0)]
    with pytest.raises(ValueError, match="2 ids but 1 scores"):
        weighted_minmax([([1, 2], [0.5])])


RUNS = {"dense": [(1, 0.9), (2, 0.8)], "bm25": [(2, 3.0), (3, 2.0)], "chars": [(3, 5.0), (1, 4.0)]}
FUSION = Fusion({"phrase": {"dense": 0.0, "bm25": 1.0, "chars": 1.0},
                 "paragraph": {"dense": 1.0, "bm25": 0.0, "chars": 0.5}}, k=10, paragraph_chars=5)  # fmt: skip


def test_fusion_weights_depend_on_the_query_kind():
    assert FUSION.kind("双减") == "phrase" and FUSION.kind("落实 双减 课后服务") == "paragraph"  # spaces not counted
    phrase, paragraph = FUSION.fuse("双减", RUNS), FUSION.fuse("落实双减课后服务", RUNS)
    assert [i for i, _ in phrase] == [3, 2, 1] and [i for i, _ in paragraph] == [1, 2, 3]
    assert [s for _, s in phrase] == pytest.approx([1 / 12 + 1 / 11, 1 / 11, 1 / 12])
    assert [s for _, s in paragraph] == pytest.approx([1 / 11 + 0.5 / 12, 1 / 12, 0.5 / 11])
    assert FUSION.signals == ("bm25", "chars", "dense")
    assert Fusion.from_dict(FUSION.to_dict()) == FUSION


def test_fit_fusion_drops_a_signal_that_ranks_backwards():
    chars = [(i, 10.0 - i) for i in range(1, 9)]  # relevant 1, 2 first
    words = [(i, float(i)) for i in range(1, 9)]  # relevant last
    queries = [Judged(f"q{n}", query, "phrase", "tune", {1: 2, 2: 1}) for n, query in enumerate(("双减", "课后服务"))]
    runs = {q.qid: {"dense": [], "bm25": words, "chars": chars} for q in queries}
    fitted = fit_fusion(queries, runs, paragraph_chars=30)
    assert fitted.weights["phrase"]["bm25"] == 0.0 and fitted.weights["phrase"]["chars"] == 1.0
    assert [i for i, _ in fitted.fuse("双减", runs["q0"])][:2] == [1, 2]


def test_relevance_is_a_logistic_over_absolute_features():
    texts = {1: "全面落实课后服务，课后服务全覆盖。", 2: "加强校园安全管理。", 3: "延时服务"}
    runs = {"dense": [(1, 0.9), (3, 0.8)], "chars": [(1, 8.0), (2, 2.0)]}
    rows = features("课后服务", [1, 2, 3], runs, texts, FUSION)
    # bigrams of 课后服务: 课后 后服 服务; words: 课后 服务. Paragraph 2 is not in the dense top: it gets the floor 0.8
    np.testing.assert_allclose(rows, [[0.9, 1.0, 1.0, 0.0, 0.0], [0.8, 0.0, 0.0, 0.0, 0.0], [0.8, 1 / 3, 0.5, 0.0, 0.0]])
    pasted = features("落实课后服务全覆盖", [1], runs, texts, FUSION)[0]  # 9 characters: a paragraph here
    assert pasted[3] == 1.0 and pasted[4] == pasted[1] == 1.0
    model = RelevanceModel(coef=[1.0, 2.0, 0.5, -1.0, 0.0], intercept=-1.0, threshold=0.5, features=list(FEATURES))
    expected = [1 / (1 + np.exp(-(-1.0 + 0.9 + 2.0 + 0.5))), 1 / (1 + np.exp(-(-1.0 + 0.8)))]
    assert model.predict(rows[:2]) == pytest.approx(expected)
    assert RelevanceModel.from_dict(model.to_dict()) == model
