"""Using the shipped theme model: classify JSONL, tag a report, tag the store, filter search by theme."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_nlp import Workspace
from policy_nlp.cli import main
from policy_nlp.search.filters import Filters

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "corpus" / "seeds"

SAFETY = "二是筑牢校园安全屏障。实施平安校园提质工程,配齐'四位一体'防护设备,开展联合执法检查18次,整改安全隐患67处。"
DOUBLE = "(五)加大'双减'工作力度。聚集丰富社会资源,完善课后课程体系,深化校外培训整治,全区学科类培训机构压减率保持100%。"


@pytest.fixture(scope="module")
def ws(tmp_path_factory, e5_home, e5_model_dir):
    home = tmp_path_factory.mktemp("tagging") / "home"
    home.mkdir()
    for name in ("models", "cache"):  # share the session's converted model and embedding cache
        (e5_home / name).mkdir(exist_ok=True)
        (home / name).symlink_to(e5_home / name, target_is_directory=True)
    with Workspace(home) as workspace:
        yield workspace


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_classify_jsonl_keeps_going_past_bad_lines(ws, tmp_path, capsys):
    source = tmp_path / "paras.jsonl"
    lines = [
        json.dumps({"id": "a", "text": SAFETY}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "b", "text": "   "}),
        json.dumps({"id": "c"}),
        json.dumps({"id": "d", "text": DOUBLE}, ensure_ascii=False),
        json.dumps({"id": "e", "text": "The school bus schedule changes next week."}),
        json.dumps({"id": "f", "text": "加强校园安全管理。" * 12000}, ensure_ascii=False),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "preds.jsonl"
    code, out, err = run_cli(capsys, "classify", "--input", str(source), "--output", str(target), "--home", str(ws.home))
    assert code == 1 and "classified 4 lines, 3 failed" in out
    assert f"{source}:2: not valid JSON" in err and "Traceback" not in err
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", None, "b", "c", "d", "e", "f"]
    by_id = {r["id"]: r for r in rows if r["id"]}
    assert "safety" in by_id["a"]["themes"] and "double_reduction" in by_id["d"]["themes"]
    assert set(by_id["a"]["scores"]) >= {"party_building", "double_reduction", "teachers", "safety"}
    assert all(isinstance(by_id[k]["uncertain"], bool) for k in "adef")
    assert by_id["b"]["error"].startswith("empty text") and "text" in by_id["c"]["error"]
    assert "unreliable" in by_id["e"]["warnings"][0]
    assert "cut to" in by_id["f"]["warnings"][0] and "safety" in by_id["f"]["themes"]


def test_tag_a_report_with_summary_and_evidence(ws, capsys):
    code, out, _ = run_cli(capsys, "tag", str(SEEDS / "004_19f5cf095fbe0cc7.txt"), "--home", str(ws.home), "--json",
                           "--explain")  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert len(report["paragraphs"]) == 12
    summary = {r["theme"]: r for r in report["summary"]}
    assert {"party_building", "teachers"} <= set(summary)
    assert all(0 < r["share"] <= 1 for r in summary.values())
    party = next(p for p in report["paragraphs"] if p["section"].startswith("一、加强党的建设"))
    assert "party_building" in party["themes"] and party["evidence"]["party_building"]

    code, out, _ = run_cli(capsys, "tag", str(SEEDS / "004_19f5cf095fbe0cc7.txt"), "--home", str(ws.home),
                           "--format", "md")  # fmt: skip
    assert code == 0 and out.startswith("# 教育局2024年工作要点") and "| party_building |" in out


def test_tagged_store_filters_search_by_theme(ws):
    ws.ingest([SEEDS], progress=False)
    assert ws.tag_store(progress=False) == 83
    assert ws.tag_store(progress=False) == 0, "already tagged paragraphs are not tagged again"
    ws.build_index(progress=False)
    hits = ws.search("工作", k=5, filters=Filters(theme=("safety",)), group=False)
    assert len(hits) == 5
    tagged = ws.store.themes_of([h.para_id for h in hits])
    assert all("safety" in tagged[h.para_id] for h in hits)
    frame = ws.paragraphs_frame()
    assert frame["themes"].map(len).gt(0).sum() > 40
    suggestions = ws.suggest_labels(5)
    assert len(suggestions) == 5 and suggestions[0]["margin"] <= suggestions[-1]["margin"]
    assert all(s["uncertain"] == (s["margin"] < ws.theme_model().margin) for s in suggestions)


def test_main_job_ingests_tags_and_indexes_in_one_command(tmp_path, e5_home, e5_model_dir, capsys):
    home = tmp_path / "home"
    home.mkdir()
    for name in ("models", "cache"):
        (home / name).symlink_to(e5_home / name, target_is_directory=True)
    code, out, _ = run_cli(capsys, "run", str(SEEDS / "001_11e03806d8f99e7c.txt"), "--home", str(home), "--json")
    result = json.loads(out)
    assert code == 0 and result["ingest"][0]["status"] == "added" and result["tagged"] == 21
    assert result["index"]["indexed"] == 21 and result["index"]["added"] == 21
    code, out, _ = run_cli(capsys, "run", str(SEEDS), "--home", str(home), "--json")
    result = json.loads(out)
    assert code == 0 and result["tagged"] == 62 and result["index"]["added"] == 62
    code, out, _ = run_cli(capsys, "search", "双减", "--theme", "双减", "--home", str(home), "--json", "-k", "3")
    assert code == 0 and all("双减" in h["text"] or "课后" in h["text"] for h in json.loads(out))
