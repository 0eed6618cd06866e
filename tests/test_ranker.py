"""The learned reranker: its features against hand computations, the pairwise fit on cases with a known
answer, the reordering of the fused head, and the cross-validated choice between fusion and reranker."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policy_nlp.search.evaluate import Judged
from policy_nlp.search.fusion import shipped_config
from policy_nlp.search.ranker import (FEATURES, RANKER, Candidates, LinearRanker, PairwiseRanker, candidate_features,
                                      context_shares)
from policy_nlp.search.tune import RERANK_DEPTH, select_ranker

TEXTS = {1: "全面推行县管校聘改革，教师交流轮岗。", 2: "加强校园安全管理，开展防溺水教育。", 3: "县域教师队伍建设"}
HEADINGS = {1: "三、深化教师管理改革 县管校聘", 2: "四、校园安全", 3: ""}
RUNS = {"dense": [(1, 0.9), (3, 0.85)], "bm25": [(1, 6.0), (3, 2.0)], "chars": [(3, 8.0), (1, 4.0), (2, 1.0)]}
# paragraphs 1 and 3 are neighbours in document A (3 after 1); paragraph 2 is alone in document B
CANDIDATES = Candidates(TEXTS, HEADINGS, {1: "A", 2: "B", 3: "A"}, {1: (None, 3), 2: (None, None), 3: (1, None)})
K = 60


def test_features_of_a_phrase_by_hand():
    rows = candidate_features("县管校聘", [1, 2, 3], RUNS, CANDIDATES, pasted=False)
    assert rows.shape == (3, len(FEATURES))
    # bigrams 县管 管校 校聘, jieba words 县管 校聘: all in paragraph 1 and its heading; its document's best
    # chars score is paragraph 3's (8 of 8), which is also its neighbour
    np.testing.assert_allclose(rows[0], [K / (K + 1), K / (K + 1), K / (K + 2), 1.0, 0.5, 0.9, 1.0, 1.0, 1.0,
                                         math.log1p(len(TEXTS[1])) / 6, 0, 0, 0, 0, 1.0, 1.0])  # fmt: skip
    # paragraph 2: only in the chars top (rank 3); missing from the dense top, so the lowest returned cosine
    np.testing.assert_allclose(rows[1][:9], [0.0, 0.0, K / (K + 3), 0.0, 1 / 8, 0.85, 0.0, 0.0, 0.0])
    # paragraph 3 shares only the character 县 with the query: no bigram, no word
    np.testing.assert_allclose(rows[2][:9], [K / (K + 2), K / (K + 2), K / (K + 1), 2 / 6, 1.0, 0.85, 0, 0, 0])
    # paragraph 2 is alone in its document (its own 1/8) with no neighbour; paragraph 3's neighbour 1 scored 4/8
    np.testing.assert_allclose(rows[1][-2:], [1 / 8, 0.0])
    np.testing.assert_allclose(rows[2][-2:], [1.0, 0.5])


def test_context_shares_read_the_document_and_neighbours_in_the_chars_ranking():
    # 县管校聘 over four paragraphs of two documents: 11 opens document A, 12 and 13 follow it; 21 is in B
    chars = [(12, 9.0), (21, 6.0), (11, 3.0)]  # 13 is not in the chars top
    candidates = Candidates({}, {}, {11: "A", 12: "A", 13: "A", 21: "B"},
                            {11: (None, 12), 12: (11, 13), 13: (12, None), 21: (None, None)})  # fmt: skip
    rows = context_shares([11, 13, 21, 99], chars, candidates)
    # 11: document best 9/9, neighbour 12 at 9/9; 13: not ranked itself, still document A and neighbour 12;
    # 21: its own 6/9, no neighbours; 99: unknown document and neighbours
    np.testing.assert_allclose(rows, [[1.0, 1.0], [1.0, 1.0], [6 / 9, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(context_shares([11], [], candidates), [[0.0, 0.0]])


def test_pasted_queries_fill_the_interaction_features():
    phrase = candidate_features("防溺水安全教育", [2], RUNS, CANDIDATES, pasted=False)[0]
    pasted = candidate_features("防溺水安全教育", [2], RUNS, CANDIDATES, pasted=True)[0]
    np.testing.assert_allclose(pasted[:10], phrase[:10])
    np.testing.assert_allclose(pasted[14:], phrase[14:])
    assert list(phrase[10:14]) == [0, 0, 0, 0]
    # ranks (absent, absent, 3rd) and the bigram share: 防溺 溺水 水安 安全 全教 教育 -> 防溺 溺水 安全 教育 occur
    np.testing.assert_allclose(pasted[10:14], [0.0, 0.0, K / (K + 3), 4 / 6])


def test_pairwise_ranker_learns_which_feature_orders_the_grades():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 3))
    groups = np.repeat(np.arange(12), 10)
    grades = np.digitize(x[:, 1], [-0.5, 0.5])  # grade 0/1/2 from the second feature only
    model = PairwiseRanker(C=10.0).fit(x, grades, groups)
    assert np.argmax(np.abs(model.coef_)) == 1 and model.coef_[1] > 0
    scores = model.decision_function(x)
    assert np.corrcoef(scores, grades)[0, 1] > 0.8
    with pytest.raises(ValueError, match="nothing to learn"):
        PairwiseRanker().fit(x[:3], [1, 1, 1], [0, 0, 0])


def test_pairwise_ranker_regularises_features_alike_whatever_their_scale():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 3))
    groups = np.repeat(np.arange(12), 10)
    grades = np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5])
    plain = PairwiseRanker(C=0.01).fit(x, grades, groups).coef_
    stretched = PairwiseRanker(C=0.01).fit(x * [1.0, 1000.0, 1.0], grades, groups).coef_
    # the same model on the unscaled features: the stretched feature's weight is 1000 times smaller
    np.testing.assert_allclose(stretched * [1.0, 1000.0, 1.0], plain, rtol=1e-3)


def test_rerank_reorders_the_head_and_keeps_the_tail_below():
    coef = [0.0] * len(FEATURES)
    coef[FEATURES.index("bigram_coverage")] = 1.0
    ranker = LinearRanker(coef=coef, depth=2, features=list(FEATURES))
    fused = [(3, 0.05), (1, 0.04), (2, 0.01)]  # the head is 3 and 1; paragraph 1 covers the query, 3 does not
    ranked = ranker.rerank("县管校聘", fused, RUNS, CANDIDATES, pasted=False)
    assert [i for i, _ in ranked] == [1, 3, 2]
    assert [s for _, s in ranked] == pytest.approx([1.0, 0.0, -1.0 + 0.01])
    assert LinearRanker.from_dict(ranker.to_dict()) == ranker
    stale = LinearRanker(coef=coef[:-1], depth=2, features=list(FEATURES[:-1]))
    with pytest.raises(ValueError, match="expects features"):
        stale.rerank("县管校聘", fused, RUNS, CANDIDATES, pasted=False)


def test_select_ranker_prefers_the_reranker_when_coverage_decides_relevance():
    # Every signal ranks a paragraph without the query's words first; the relevant ones contain them.
    texts = {i: ("县管校聘改革" if i % 3 == 0 else "其他工作安排") + str(i) for i in range(1, 31)}
    candidates = Candidates(texts, {i: "" for i in texts}, {i: str(i) for i in texts}, {})
    runs_one = {s: [(i, 30.0 - i) for i in range(1, 31)] for s in ("dense", "bm25", "chars")}
    queries = [Judged(f"q{n}", "县管校聘", "phrase", "tune", {i: 2 for i in texts if i % 3 == 0}) for n in range(5)]
    chosen, cv, gain = select_ranker(queries, {q.qid: runs_one for q in queries}, candidates)
    assert chosen is not None and cv[f"reranker C={chosen}"] == 1.0 > cv["fusion"]
    assert gain[0] == gain[1] == pytest.approx(1.0 - cv["fusion"])  # every query gains the same


def test_the_shipped_reranker_is_the_one_cross_validation_chose():
    selection = shipped_config()["ranker_selection"]["cv_ndcg10"]
    assert RANKER is not None and RANKER.features == list(FEATURES) and RANKER.depth == RERANK_DEPTH
    assert max(v for k, v in selection.items() if k.startswith("reranker")) > selection["fusion"]
    low, high = shipped_config()["ranker_selection"]["cv_gain_ci95"]  # per-query CV gain over fusion alone
    assert 0 < low < high
