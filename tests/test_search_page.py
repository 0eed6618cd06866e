"""A page of search results: highlight spans, context ids, near-duplicate copies with their bureaus, facets."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_nlp import Workspace
from policy_nlp.corpus import StoredParagraph
from policy_nlp.errors import ConfigError
from policy_nlp.ingest import ingest_bytes
from policy_nlp.search.engine import highlight_spans
from policy_nlp.search.facets import count_facets

SHARED = "全面落实“双减”政策,课后服务实现义务教育学校全覆盖,学生参与率达到98%,开设科技、体育、艺术类课程120门。"
REPORT = "{bureau}2024年工作总结\n一、党的建设\n坚持党建引领,开展主题教育,{bureau}党组织书记讲党课12次。\n二、双减工作\n{shared}\n三、校园安全\n开展防溺水专项教育,{bureau}排查整改安全隐患45处。\n"


def test_highlight_spans_prefer_longer_terms_and_never_overlap():
    text = "推进课后服务提质,课后服务覆盖率100%,服务家长"
    spans = highlight_spans(text, ["服务", "课后服务"])
    assert [text[a:b] for a, b in spans] == ["课后服务", "课后服务", "服务"]
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))
    assert highlight_spans("Double Reduction 双减", ["double"]) == [(0, 6)]
    assert highlight_spans("没有匹配", ["课后服务"]) == []


def _para(para_id: int, bureau: str, level: str, years: list[int]) -> StoredParagraph:
    return StoredParagraph(para_id, "d", 0, "t", "t", [], 0, 1, False, "h", "title", bureau, level, "", years, "other")


def test_facets_count_paragraphs_per_value_and_every_covered_year():
    paras = [_para(1, "甲区教育局", "district", [2023, 2024]), _para(2, "甲区教育局", "district", [2024]),
             _para(3, "乙县教育局", "county", []), _para(4, "县教育局", "county", [])]  # fmt: skip
    facets = count_facets(paras, {1: ["double_reduction", "safety"], 3: ["safety"]})
    assert facets == {
        "bureau": {"甲区教育局": 2, "县教育局": 2, "乙县教育局": 1},  # 县教育局 also selects 乙县教育局
        "level": {"district": 2, "county": 2},
        "year": {"2024": 2, "2023": 1},
        "theme": {"safety": 2, "double_reduction": 1},
    }


def test_ingest_bytes_reads_an_upload_without_touching_its_path():
    doc = ingest_bytes(REPORT.format(bureau="甲区教育局", shared=SHARED).encode("gb18030"), filename="../../x/甲区.txt")
    assert doc.doc_id == "甲区" and doc.source_path == "" and doc.encoding.startswith("gb")
    assert any(SHARED in p.text for p in doc.paragraphs)


@pytest.fixture(scope="module")
def two_bureaus(tmp_path_factory, e5_home, e5_model_dir) -> Workspace:
    """Two district reports sharing one paragraph word for word, and a county report, indexed."""
    root = tmp_path_factory.mktemp("page")
    home = root / "home"
    home.mkdir()
    for name in ("models", "cache"):
        (e5_home / name).mkdir(exist_ok=True)
        (home / name).symlink_to(e5_home / name, target_is_directory=True)
    ws = Workspace(home)
    for bureau, level in (("甲区教育局", "district"), ("乙区教育局", "district"), ("丙县教育局", "county")):
        path = root / f"{bureau}.txt"
        shared = SHARED if level == "district" else "规范校外托管服务。"
        path.write_text(REPORT.format(bureau=bureau, shared=shared), encoding="utf-8")
        ws.ingest([path], overrides={"bureau": bureau, "level": level, "years": [2024]}, progress=False)
    ws.build_index(progress=False)
    yield ws
    ws.close()


@pytest.mark.slow
def test_a_grouped_hit_lists_its_copies_with_their_bureaus(two_bureaus):
    page = two_bureaus.search_page("课后服务全覆盖", k=3, mode="bm25")
    top = page.hits[0]
    assert SHARED in top.text and len(top.members) == 1 and top.members[0].para_id == top.duplicates[0]
    assert {top.bureau, top.members[0].bureau} == {"甲区教育局", "乙区教育局"}
    marked = [top.snippet[a:b] for a, b in top.highlights]
    assert {"课后", "服务"} <= set(marked) <= set(top.matched_terms)  # the word analyzer splits 课后服务
    neighbours = [p.para_id for p in two_bureaus.paragraphs(top.doc_id)]
    at = neighbours.index(top.para_id)
    assert (top.before_id, top.after_id) == (neighbours[at - 1], neighbours[at + 1])
    assert page.facets["bureau"] == {"丙县教育局": 1, "乙区教育局": 1, "甲区教育局": 1}
    assert page.facets["level"] == {"district": 2, "county": 1}


@pytest.mark.slow
def test_first_and_last_paragraphs_have_one_neighbour(two_bureaus):
    doc_id = two_bureaus.documents()[0]["doc_id"]
    ids = [p.para_id for p in two_bureaus.paragraphs(doc_id)]
    found = two_bureaus.store.neighbours([ids[0], ids[-1]])
    assert found == {ids[0]: (None, ids[1]), ids[-1]: (ids[-2], None)}
    with pytest.raises(ConfigError, match="negative"):
        two_bureaus.search_page("课后服务", offset=-1)


def test_the_cli_marks_exactly_the_hit_highlight_spans():
    from policy_nlp.cli import _highlight

    text = "推进教师[县管校聘]改革,区管校聘同步"
    spans = highlight_spans(text, ["县管校聘", "校聘"])
    assert _highlight(text, spans).count("[bold red]") == len(spans) == 2
    assert "[bold red]县管校聘[/bold red]" in _highlight(text, spans)
