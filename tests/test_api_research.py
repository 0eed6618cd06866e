"""The research API the notebooks use, on the sample corpus (corpus/seeds + ../shared/corpus/meiyu)."""

from __future__ import annotations

import numpy as np
import pytest

from policy_nlp import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ws(research_sample) -> Workspace:
    return research_sample.workspace


def test_the_sample_holds_seeds_and_meiyu_and_a_second_call_changes_nothing(research_sample, research_home):
    ws = research_sample.workspace
    assert research_sample.missing == [] and len(research_sample.sources) == 2
    docs = ws.documents_frame()
    assert len(docs) == 68 and docs["doc_id"].str.startswith("P").sum() == 64
    again = Workspace.research_sample(research_home)
    try:
        assert again.workspace.store.fingerprint() == ws.store.fingerprint()
        assert again.workspace.check_index().consistent
    finally:
        again.workspace.close()


def test_theme_scores_frame_agrees_with_the_stored_themes(ws):
    scores = ws.theme_scores_frame()
    paras = ws.paragraphs_frame()
    assert len(scores) == len(paras) * 13
    assert scores["theme"].iloc[:4].tolist() == ["party_building", "double_reduction", "teachers", "safety"]
    assigned = scores[scores["assigned"]].groupby("para_id")["theme"].apply(sorted)
    stored = paras.set_index("para_id")["themes"].map(sorted)
    assert (assigned.reindex(stored.index).map(lambda t: t if isinstance(t, list) else []) == stored).all()
    safety = scores[(scores["theme"] == "safety")]
    assert set(safety["name"]) == {"安全"} and safety["core"].all()


def test_initiative_timeline_and_first_appearances_find_the_seed_reform(ws):
    timeline = ws.initiative_timeline("县管校聘", k=20)
    assert timeline["rank"].tolist() == list(range(1, len(timeline) + 1))
    seed = timeline[timeline["doc_id"] == "000_9d2ef242f0d90aaf"]
    assert not seed.empty and seed["year"].iloc[0] == 2024 and "县管校聘" in seed["matched_terms"].iloc[0]
    first = ws.first_appearances("县管校聘", k=20)
    assert first["bureau"].is_unique
    for _, row in first.iterrows():  # each bureau's row is its earliest dated match
        assert row["year"] == timeline.loc[timeline["bureau"] == row["bureau"], "year"].min()


def test_template_text_recurs_across_meiyu_governments(ws):
    groups = ws.near_duplicates()
    assert len(groups) > 10
    assert (groups.groupby("group")["bureau"].nunique() >= 2).all()
    assert groups["group_size"].is_monotonic_decreasing
    edges = ws.template_copies(groups)
    assert (edges["source"] != edges["follower"]).all()
    assert (edges["source_year"] <= edges["follower_year"]).all()


def test_paragraph_embeddings_are_the_index_vectors(ws):
    ids, vectors = ws.paragraph_embeddings()
    assert ids.tolist() == ws.store.paragraph_ids() and vectors.shape == (len(ids), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    para = ws.paragraphs_frame().set_index("para_id").loc[int(ids[100])]
    top = ws.search(para["text"], k=1, mode="dense", group=False)[0]
    assert top.para_id == ids[100]


def test_per_query_search_scores_average_to_the_overall_evaluation(ws):
    per_query = ws.evaluate_search_per_query()
    groups = ws.evaluate_search().groups
    assert per_query["qid"].nunique() == 104 and set(per_query["split"]) == {"tune", "heldout"}
    for split in ("tune", "heldout"):
        for system, scores in groups[split].items():
            rows = per_query[(per_query["mode"] == system) & (per_query["split"] == split)]
            assert len(rows) == scores["queries"]
            assert rows["ndcg"].mean() == pytest.approx(scores["ndcg"])
            assert rows["rr"].mean() == pytest.approx(scores["mrr"])
