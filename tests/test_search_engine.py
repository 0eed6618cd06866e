"""Search over a real store: hybrid ranking, filters, similar initiatives, grouping, index upkeep, evaluation."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from policy_nlp import Workspace
from policy_nlp.cli import main
from policy_nlp.errors import ConfigError, SearchIndexError
from policy_nlp.search.filters import Filters

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "corpus" / "seeds"
SEED_004 = SEEDS / "004_19f5cf095fbe0cc7.txt"


def _home_sharing_model(home: Path, e5_home: Path) -> Path:
    """A new home that reuses the session's converted model and embedding cache (no re-conversion)."""
    home.mkdir(parents=True)
    for name in ("models", "cache"):
        (e5_home / name).mkdir(exist_ok=True)
        (home / name).symlink_to(e5_home / name, target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def seed_ws(tmp_path_factory, e5_home, e5_model_dir):
    """The four seed reports, ingested and indexed once per session."""
    home = _home_sharing_model(tmp_path_factory.mktemp("search") / "home", e5_home)
    ws = Workspace(home)
    ws.ingest([SEEDS], progress=False)
    ws.build_index(progress=False)
    yield ws
    ws.close()


@pytest.fixture
def fresh_ws(tmp_path, e5_home, e5_model_dir):
    with Workspace(_home_sharing_model(tmp_path / "home", e5_home)) as ws:
        yield ws


def test_hybrid_finds_the_county_teacher_reform(seed_ws):
    hits = seed_ws.search("县管校聘", k=5)
    top = {h.doc_id[:3] for h in hits[:2]}
    assert top == {"000", "003"}, [h.snippet for h in hits]
    first = hits[0]
    assert first.matched_terms and all(t in first.text for t in first.matched_terms)
    assert first.section and first.bureau and first.years


def test_every_mode_ranks_and_modes_differ(seed_ws):
    query = "加强校园安全管理,开展防溺水和交通安全教育"
    ranked = {mode: seed_ws.engine.rank(query, mode=mode) for mode in ("dense", "bm25", "hybrid")}
    assert all(len(r) > 10 for r in ranked.values())
    assert ranked["dense"][:5] != ranked["bm25"][:5]
    top = seed_ws.search(query, k=3)
    assert any("安全" in h.section for h in top)
    with pytest.raises(ConfigError, match="unknown search mode"):
        seed_ws.search(query, mode="fuzzy")
    with pytest.raises(ConfigError, match="empty"):
        seed_ws.search("   ")


def test_simplified_query_finds_text_that_was_traditional(seed_ws):
    hits = seed_ws.search("双减", k=10, mode="bm25", filters=Filters(doc_ids=("001_11e03806d8f99e7c",)))
    assert hits and all(h.doc_id == "001_11e03806d8f99e7c" for h in hits)
    assert "双减" in hits[0].text and "雙減" in seed_ws.store.get_document(hits[0].doc_id).original_text


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_filters_return_top_k_of_what_matches(seed_ws, mode):
    only_004 = Filters(doc_type=("key_points",))
    hits = seed_ws.search("教师队伍建设", k=5, mode=mode, filters=only_004, group=False)
    assert len(hits) == 5 and {h.doc_type for h in hits} == {"key_points"}
    district = seed_ws.search("教师队伍建设", k=5, mode=mode, filters=Filters(level=("district",)), group=False)
    assert {h.level for h in district} == {"district"}
    years = seed_ws.search("教师", k=20, mode=mode, filters=Filters(year_from=2022, year_to=2023), group=False)
    assert years and {h.doc_id[:3] for h in years} == {"001"}
    others = seed_ws.search("教师", k=20, mode=mode, filters=Filters(exclude_bureau=("县教育局",)), group=False)
    assert others and not any(h.bureau == "县教育局" for h in others)
    assert seed_ws.search("教师", mode=mode, filters=Filters(region=("火星",))) == []


def test_similar_initiatives_come_from_other_bureaus(seed_ws):
    source = next(p for p in seed_ws.store.iter_paragraphs() if "县管校聘" in p.text and p.doc_id.startswith("000"))
    (result,) = seed_ws.similar(para_id=source.para_id, k=5)
    assert result.source_para_id == source.para_id and len(result.hits) == 5
    assert all(h.doc_id != source.doc_id and h.bureau != source.bureau for h in result.hits)
    assert all("教师" in h.text for h in result.hits[:3]), "a teacher-workforce paragraph finds teacher-workforce work"
    assert any("区管校聘" in h.text for h in result.hits), "the other county's version of the same reform is found"


def test_similar_for_a_new_report_file(seed_ws, tmp_path):
    report = tmp_path / "new.txt"
    report.write_text(
        "某县教育局2025年工作要点\n一、深化教师管理改革\n(一)推进县管校聘。全面推行教师县管校聘管理改革,"
        "建立教师交流轮岗机制,每年交流轮岗教师不少于符合条件教师总数的10%。\n"
        "二、守牢安全底线\n(二)加强校园安全。开展防溺水专项教育,落实护学岗制度,整治校园周边安全隐患。",
        encoding="utf-8",
    )
    results = seed_ws.similar(path=report, k=3)
    assert [r.source_section.split(" > ")[-1][:6] for r in results] == ["(一)推进县", "(二)加强校"]
    assert any("校聘" in h.text for h in results[0].hits)
    assert any("安全" in h.text for h in results[1].hits)
    stored = seed_ws.similar(path=SEED_004, k=5)
    assert stored and all(h.doc_id != "004_19f5cf095fbe0cc7" for r in stored for h in r.hits)


def test_near_duplicates_are_grouped_with_a_count(fresh_ws, tmp_path):
    paragraph = (SEED_004.read_text(encoding="utf-8").splitlines())
    body = next(line.strip() for line in paragraph if "强师工程" in line and len(line) > 100)
    for name, place in (("a", "甲县"), ("b", "乙县")):
        (tmp_path / f"{name}.txt").write_text(f"{place}教育局2024年工作要点\n一、总体要求\n{body.replace('全县', place)}",
                                              encoding="utf-8")  # fmt: skip
    fresh_ws.ingest([SEEDS, tmp_path / "a.txt", tmp_path / "b.txt"], progress=False)
    fresh_ws.build_index(progress=False)
    grouped = fresh_ws.search("强师工程 强师优生兴校", k=3)
    assert grouped[0].count == 3, "004 and its two copies are one initiative"
    assert len({grouped[0].para_id, *grouped[0].duplicates}) == 3
    members = grouped[0].members
    assert [m.para_id for m in members] == grouped[0].duplicates
    assert {grouped[0].doc_id, *(m.doc_id for m in members)} == {"004_19f5cf095fbe0cc7", "a", "b"}
    assert {"甲县教育局", "乙县教育局"} <= {grouped[0].bureau, *grouped[0].other_bureaus}
    assert grouped[0].bureau not in grouped[0].other_bureaus and len(grouped[0].other_bureaus) >= 1
    ungrouped = fresh_ws.search("强师工程 强师优生兴校", k=3, group=False)
    assert len({h.doc_id for h in ungrouped}) == 3
    assert {h.para_id for h in ungrouped} == {grouped[0].para_id, *grouped[0].duplicates}


def test_incremental_update_and_repair(fresh_ws, tmp_path):
    fresh_ws.ingest([SEEDS / "000_9d2ef242f0d90aaf.txt", SEED_004], progress=False)
    fresh_ws.build_index(progress=False)
    assert fresh_ws.check_index().consistent

    fresh_ws.ingest([SEEDS / "003_fc4fde995a027cff.txt"], progress=False)
    report = fresh_ws.check_index()
    assert (report.missing, report.stale) == (35, 0) and not report.consistent
    report = fresh_ws.update_index(progress=False)
    assert (report.added, report.removed, report.indexed) == (35, 0, 15 + 12 + 35)
    assert fresh_ws.search("区管校聘", k=1, mode="dense")[0].doc_id.startswith("003")

    fresh_ws.remove("004_19f5cf095fbe0cc7")
    assert fresh_ws.check_index().stale == 12
    report = fresh_ws.update_index(progress=False)
    assert (report.added, report.removed, report.indexed) == (0, 12, 50)
    assert fresh_ws.check_index().consistent
    dense_ids = set(fresh_ws.engine.dense.ids.tolist())
    assert dense_ids == set(fresh_ws.store.paragraph_ids())
    assert not any(h.doc_id.startswith("004") for h in fresh_ws.search("强师工程", k=20))


def test_searching_before_building_says_what_to_do(fresh_ws):
    with pytest.raises(SearchIndexError, match="policy-nlp index build"):
        fresh_ws.search("双减")


def test_evaluation_reports_every_mode_and_anchor_per_half(seed_ws, tmp_path):
    paras = {p.text_hash: p for p in seed_ws.store.iter_paragraphs()}
    target = next(p for p in paras.values() if "县管校聘" in p.text)
    top = [i for i, _ in seed_ws.engine.rank("课后服务", mode="chars")][:10]
    read = [p for p in paras.values() if p.para_id in top[:4]]  # judged by reading: grade 0 still counts as judged
    rows = [{"qid": "q1", "query": "县管校聘", "kind": "phrase", "split": "tune",
             "relevant": [{"doc_id": target.doc_id, "text_hash": target.text_hash, "grade": 2},
                          {"doc_id": "P999", "text_hash": "0" * 16, "grade": 1}]},
            {"qid": "q2", "query": "课后服务", "kind": "phrase", "split": "heldout",
             "relevant": [{"doc_id": p.doc_id, "text_hash": p.text_hash, "grade": int(p.para_id == top[0])} for p in read]}]
    judged = tmp_path / "q.jsonl"
    judged.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = seed_ws.evaluate_search(judged)
    assert result.queries == 2 and result.unmatched_judgements == 1
    assert list(result.groups) == ["tune", "tune/phrase", "heldout", "heldout/phrase"]
    expected = {"hybrid", "dense", "bm25", "chars", "jieba-bm25s", "char-tfidf", "char-bm25s", "rrf-4"}
    assert set(result.groups["tune"]) == expected
    assert result.groups["tune"]["chars"]["recall"] == 1.0 and result.groups["tune"]["chars"]["mrr"] >= 0.5
    chars = result.groups["heldout"]["chars"]
    assert (chars["ndcg"], chars["mrr"], chars["unjudged"]) == (1.0, 1.0, 6.0)  # 4 of its top 10 were read


def test_cli_search_json_has_every_field(seed_ws, capsys):
    code = main(["search", "课后服务", "--home", str(seed_ws.home), "--json", "-k", "3", "--level", "district"])
    hits = json.loads(capsys.readouterr().out)
    assert code == 0 and len(hits) == 3
    for field in ("para_id", "score", "bureau", "level", "years", "section", "snippet", "text", "matched_terms", "count",
                  "members", "other_bureaus", "relevance", "weak"):
        assert field in hits[0]
    assert 0 < hits[0]["relevance"] < 1 and hits[0]["weak"] is False
    assert {h["level"] for h in hits} == {"district"} and "课后服务" in hits[0]["text"]
    assert np.all(np.diff([h["score"] for h in hits]) <= 0)


@pytest.mark.slow
def test_removed_or_changed_paragraphs_never_show_before_the_index_update(fresh_ws, tmp_path, caplog):
    """Defect 1: after `remove` or re-ingesting a changed file, search and similar used to raise KeyError."""
    report = tmp_path / "county_plan.txt"
    report.write_text((SEEDS / "000_9d2ef242f0d90aaf.txt").read_text(encoding="utf-8"), encoding="utf-8")
    fresh_ws.ingest([report, SEED_004, SEEDS / "003_fc4fde995a027cff.txt"], progress=False)
    fresh_ws.build_index(progress=False)
    fresh_ws.remove("004_19f5cf095fbe0cc7")
    caplog.set_level(logging.WARNING, logger="policy_nlp")
    for mode in ("dense", "bm25", "hybrid"):
        hits = fresh_ws.search("强师工程 教育", k=5, mode=mode, group=False)
        assert len(hits) == 5 and not any(h.doc_id.startswith("004") for h in hits)  # top-k stays full
    (result,) = fresh_ws.similar(text="实施强师工程，推进县管校聘改革", k=3)
    assert len(result.hits) == 3 and not any(h.doc_id.startswith("004") for h in result.hits)
    behind = [r.getMessage() for r in caplog.records if "behind" in r.getMessage()]
    assert len(behind) == 1 and "12 removed or changed paragraphs left out" in behind[0]
    assert "run `policy-nlp index update`" in behind[0]

    text = report.read_text(encoding="utf-8").replace("百年大计", "千年大计")  # the bureau fixed its copy
    report.write_text(text, encoding="utf-8")
    fresh_ws.ingest([report], progress=False)  # every paragraph of the report gets a new id
    stored = set(fresh_ws.store.paragraph_ids())
    for mode in ("dense", "bm25", "hybrid"):
        hits = fresh_ws.search("百年大计 教育", k=5, mode=mode, group=False)
        assert len(hits) == 5 and {h.para_id for h in hits} <= stored
        assert all(h.doc_id.startswith("003") for h in hits)  # the report's old paragraphs are out
    fresh_ws.update_index(progress=False)
    assert fresh_ws.check_index().consistent
    assert "千年大计" in fresh_ws.search("千年大计", k=1, mode="bm25")[0].text


@pytest.mark.slow
def test_a_damaged_vector_is_found_by_check_and_repaired_by_update(fresh_ws, capsys):
    """Defect 10: a vector set to 1e38 used to rank first for every query while `index check` said consistent."""
    from policy_nlp.search.indexes import DENSE_DIRNAME, index_dir

    fresh_ws.ingest([SEED_004], progress=False)
    fresh_ws.build_index(progress=False)
    folder = index_dir(fresh_ws.home) / DENSE_DIRNAME
    victim = fresh_ws.engine.dense._ids_in_storage_order()[3]
    data = (folder / "index.faiss").read_bytes()
    vector = fresh_ws.engine.dense._inner().reconstruct_n(3, 1)[0].tobytes()
    at = data.find(vector)
    (folder / "index.faiss").write_bytes(data[:at] + np.float32(1e38).tobytes() + data[at + 4:])
    fresh_ws._engine = None

    assert main(["index", "check", "--home", str(fresh_ws.home)]) == 1
    assert "1 damaged: NOT consistent: run `policy-nlp index update`" in capsys.readouterr().out
    with pytest.raises(SearchIndexError, match=rf"damaged vectors \(paragraphs {victim}\); run `policy-nlp index update`"):
        fresh_ws.search("强师工程", mode="dense")
    report = fresh_ws.update_index(progress=False)
    assert (report.repaired, report.added, report.removed) == (1, 0, 0) and report.consistent
    assert fresh_ws.check_index().consistent
    hits = fresh_ws.search("强师工程", k=3, mode="dense")
    assert "强师" in hits[0].text


def test_relevance_says_when_nothing_is_close(seed_ws, capsys):
    close = seed_ws.search("县管校聘", k=3)
    assert not close[0].weak and close[0].relevance > close[-1].relevance
    far_away = "海洋渔业捕捞许可证的办理"  # nothing in the seed reports is about this
    far = seed_ws.search(far_away, k=3)
    assert far and all(h.weak for h in far) and max(h.relevance for h in far) < close[-1].relevance
    assert main(["similar", far_away, "--home", str(seed_ws.home), "-k", "3"]) == 0
    assert "no close match" in capsys.readouterr().out
    assert main(["similar", far_away, "--home", str(seed_ws.home), "-k", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["no_close_match"] is True
    assert main(["similar", "县管校聘", "--home", str(seed_ws.home), "-k", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["no_close_match"] is False


def test_update_adds_the_character_index_to_an_older_home(fresh_ws):
    fresh_ws.ingest([SEED_004], progress=False)
    fresh_ws.build_index(progress=False)
    shutil.rmtree(fresh_ws.home / "index" / "bm25_chars")
    with pytest.raises(SearchIndexError, match="policy-nlp index update"):
        fresh_ws.check_index()
    report = fresh_ws.update_index(progress=False)
    assert (report.added, report.removed) == (12, 0) and fresh_ws.check_index().consistent
    assert fresh_ws.search("县管校聘", k=1, mode="chars")[0].doc_id == "004_19f5cf095fbe0cc7"
