"""The 64 美育 policy documents of the shared corpus (read in place, never copied)."""

from __future__ import annotations

import json
import re
from difflib import SequenceMatcher

import pytest

from policy_nlp.cli import main
from policy_nlp.ingest import MAX_PARAGRAPH_CHARS, ingest_file
from policy_nlp.ingest.clean import TITLE_SIMILARITY
from policy_nlp.resources import shipped


@pytest.fixture(scope="module")
def corpus(meiyu_dir):
    entries = [json.loads(line) for line in (meiyu_dir / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(entry, ingest_file(meiyu_dir / f"{entry['id']}.txt")) for entry in entries]


def share(corpus, agrees) -> float:
    return sum(bool(agrees(entry, doc)) for entry, doc in corpus) / len(corpus)


def by_id(corpus, doc_id):
    (doc,) = [doc for entry, doc in corpus if entry["id"] == doc_id]
    return doc


def test_every_document_ingests_with_consistent_paragraphs(corpus):
    assert len(corpus) == 64
    for _, doc in corpus:
        assert doc.paragraphs
        for p in doc.paragraphs:
            assert doc.text[p.start : p.end] == p.text and p.text
            assert len(p.text) <= MAX_PARAGRAPH_CHARS


def test_legal_database_header_removed(corpus):
    for _, doc in corpus:
        assert doc.removed_lines[0].startswith("北大法宝【法宝引证码】")
        assert doc.removed_lines[1].startswith("原文链接：https://") and "pkulaw" in doc.removed_lines[1]
        assert "法宝" not in doc.text and "pkulaw" not in doc.text


def test_titles_agree_with_index(corpus):
    # 63 of 64 exactly; P048's later title line differs from the index in its brackets and dash
    assert share(corpus, lambda entry, doc: doc.metadata.title == entry["title"]) >= 0.95
    assert by_id(corpus, "P030").metadata.title == "吉林省人民政府办公厅关于全面加强和改进学校美育工作的实施意见"
    assert by_id(corpus, "P088").metadata.title == "遂宁市全面加强和改进学校美育工作方案"


def test_bureaus_agree_with_index(corpus):
    assert share(corpus, lambda entry, doc: doc.metadata.bureau == entry["bureau"]) >= 0.95
    expected = {
        "P003": "教育部",
        "P008": "教育部办公厅",
        "P021": "北京市昌平区人民政府办公室",
        "P028": "合肥市教育局",
        "P030": "吉林省人民政府办公厅",
        "P048": "广西壮族自治区教育厅等六部门",
        "P053": "新疆生产建设兵团办公厅",
        "P082": "西安市教育局办公室",
        "P088": "遂宁市",
        "P091": "重庆市教育委员会办公室",
    }
    assert {doc_id: by_id(corpus, doc_id).metadata.bureau for doc_id in expected} == expected


def test_levels_agree_with_index(corpus):
    assert share(corpus, lambda entry, doc: doc.metadata.level == entry["level"]) >= 0.95
    levels = {
        doc_id: by_id(corpus, doc_id).metadata.level for doc_id in ("P003", "P021", "P030", "P091", "P051", "P053")
    }
    assert levels == {
        "P003": "national",
        "P021": "district",
        "P030": "province",
        "P091": "province",  # 重庆市: a municipality is province-level
        "P051": "city",  # 文山州
        "P053": "province",  # 新疆生产建设兵团
    }


def test_regions_years_and_types(corpus):
    provinces = [(entry, doc) for entry, doc in corpus if entry["level"] == "province"]
    # all but P053: 新疆生产建设兵团 names no administrative unit, so its region stays empty
    assert share(provinces, lambda entry, doc: doc.metadata.region.startswith(entry["region"])) >= 0.9
    assert by_id(corpus, "P030").metadata.region == "吉林省"
    # the year of the document number or date line; P015 and P088 carry a later date than the index
    assert share(corpus, lambda entry, doc: entry["year"] in doc.metadata.years) >= 0.95
    assert by_id(corpus, "P003").metadata.years == [2019]
    assert all(doc.metadata.doc_type == "implementation_opinion" for _, doc in corpus)
    assert all(doc.metadata.script == "simplified" for _, doc in corpus)


def test_articles_and_chapters(corpus):
    doc = by_id(corpus, "P004")
    (last,) = [p for p in doc.paragraphs if p.text.startswith("第二十一条")]
    assert last.section_path == ["第六章附则", "第二十一条"]
    (item,) = [p for p in doc.paragraphs if p.text.startswith("（四）有其他突出业绩的")]
    assert item.section_path == ["第四章组织管理", "第十六条", "（四）有其他突出业绩的"]


def test_signature_contact_and_attachment_lines_stay(corpus):
    # the issuing office's signature line with its date, contact lines, an attachment form's cells
    assert "信阳市人民政府办公室\n2017年10月10日" in by_id(corpus, "P018").text
    assert "黑龙江省人民政府办公厅\n2016年7月13日" in by_id(corpus, "P099").text
    assert "联系人：赵景电话：86787712\n邮箱：1303180008@qq.com\n西安市教育局办公室" in by_id(corpus, "P082").text
    assert "任教学科\n联系电话\n（座机及手机）" in by_id(corpus, "P091").text
    assert by_id(corpus, "P008").text.endswith("新疆生产建设兵团第三师44团第一中学\n新疆生产建设兵团第三师51团中学")
    # nothing else of any document goes: only the legal-database header and repeated title lines
    # (and P027's table cell "—", a lone dash that the known patterns take for stray punctuation)
    for entry, doc in corpus:
        title = doc.metadata.title
        rest = [line for line in doc.removed_lines[2:] if SequenceMatcher(None, line, title).ratio() < TITLE_SIMILARITY]
        assert rest == (["—"] if entry["id"] == "P027" else []), (entry["id"], rest)


NO_PROSE = "no sentence of report text found, only title or header lines: check that the file holds the whole report"


def test_title_only_file_is_stored_as_it_is_with_a_note(corpus):
    """P044's file holds only its title block: stored as its title and document-number line, with a
    note; its metadata comes from those lines, nothing is made up; no other document gets the note."""
    (entry,) = [entry for entry, _ in corpus if entry["id"] == "P044"]
    doc = by_id(corpus, "P044")
    assert [p.text for p in doc.paragraphs][0] == entry["title"] and len(doc.paragraphs) == 2
    assert re.fullmatch(r"（\w+〔2018〕1号 2018年4月16日）", doc.paragraphs[1].text)
    assert doc.text == "\n".join(p.text for p in doc.paragraphs)
    m = doc.metadata
    assert (m.title, m.bureau, m.level, m.years) == (entry["title"], entry["bureau"], "province", [entry["year"]])
    assert [entry["id"] for entry, doc in corpus if doc.warnings] == ["P044"] and doc.warnings == [NO_PROSE]


def test_title_only_file_note_is_shown_on_ingest(meiyu_dir, tmp_path, capsys):
    home = str(tmp_path / "home")
    assert main(["ingest", str(meiyu_dir / "P044.txt"), "--home", home, "--json"]) == 0
    (outcome,) = json.loads(capsys.readouterr().out)
    assert (outcome["status"], outcome["paragraphs"], outcome["warnings"]) == ("added", 2, [NO_PROSE])
    assert main(["ingest", str(meiyu_dir / "P044.txt"), "--home", home]) == 0
    assert f"warning: P044: {NO_PROSE}" in " ".join(capsys.readouterr().out.split())


def test_labelled_and_judged_paragraphs_are_found(meiyu_dir, seed_path):
    """Every (doc_id, text_hash) the labels and judged queries were made on comes back from a fresh ingest
    (`policy-nlp ingest ../shared/corpus/meiyu` takes the folder's README.md too: its paragraphs were pooled and judged)."""
    paths = [seed_path(prefix) for prefix in ("000", "001", "003", "004")] + sorted(meiyu_dir.glob("P*.txt"))
    paths.append(meiyu_dir / "README.md")
    found = {(doc.doc_id, p.text_hash) for doc in map(ingest_file, paths) for p in doc.paragraphs}
    rows = [json.loads(line) for line in shipped("data", "labels", "meiyu.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = shipped("data", "eval", "search_queries.jsonl").read_text(encoding="utf-8").splitlines()
    rows += [item for line in queries for item in json.loads(line)["relevant"]]
    assert len(rows) > 1000
    assert [row for row in rows if (row["doc_id"], row["text_hash"]) not in found] == []
