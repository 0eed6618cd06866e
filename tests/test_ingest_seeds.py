"""The four seed reports (web copies): boilerplate, script conversion, structure, metadata."""

from __future__ import annotations

import hashlib

import pytest

from policy_nlp.ingest import MAX_PARAGRAPH_CHARS, ingest_file
from policy_nlp.schema import DocumentMetadata

SEEDS = ("000", "001", "003", "004")


@pytest.fixture(scope="module")
def docs(seed_path):
    return {prefix: ingest_file(seed_path(prefix)) for prefix in SEEDS}


@pytest.mark.parametrize("prefix", SEEDS)
def test_paragraph_offsets_and_coverage(docs, prefix):
    doc = docs[prefix]
    assert [p.position for p in doc.paragraphs] == list(range(len(doc.paragraphs)))
    for p in doc.paragraphs:
        assert doc.text[p.start : p.end] == p.text
        assert doc.original_text[p.start : p.end] == p.original_text
        assert p.text and p.text == p.text.strip()
        assert len(p.text) <= MAX_PARAGRAPH_CHARS
    # every character of the cleaned text belongs to exactly one paragraph, in order
    assert "".join(p.text for p in doc.paragraphs).replace("\n", "") == doc.text.replace("\n", "")
    assert all(a.end <= b.start for a, b in zip(doc.paragraphs, doc.paragraphs[1:]))


@pytest.mark.parametrize(
    ("prefix", "count"),
    [("000", 15), ("001", 21), ("003", 35), ("004", 12)],
)
def test_paragraph_counts(docs, prefix, count):
    assert len(docs[prefix].paragraphs) == count


def test_removed_lines_are_exactly_the_boilerplate(docs):
    assert docs["000"].removed_lines == ["教育局2024年工作总结及2025年工作计划"]
    assert docs["001"].removed_lines == [
        "靜網PWA視頻評論",
        "2023年11月13日",
        "- txt下載",
        "區教育局關於2022年工作總結與2023年工作打算範文",
        "收藏",
        "相關推薦",
        "清純唯美圖片大全",
        "字典網 - 試題庫 - 元問答 - 简体 - 頂部",
        "Copyright © cnj8 All Rights Reserved.",
    ]
    assert docs["003"].removed_lines == [
        "县教育局2024年上半年工作总结范文和下半年工作计划",
        "下一篇:后勤集团工作计划【精彩8篇】",
    ]
    removed = docs["004"].removed_lines
    assert removed[0] == "县教育局2024年工作"
    assert removed[1].startswith("本文内容由互联网用户自发贡献,该文观点仅代表作者本人。")
    assert removed[2] == "如若转载,请注明出处:https://www.shituxiezuo.com/101626.html"
    assert len(removed) == 3


def test_boilerplate_gone_and_report_sentences_kept(docs):
    text_001 = docs["001"].original_text
    for junk in ("靜網PWA", "txt下載", "相關推薦", "清純唯美", "Copyright", "2023年11月13日", "收藏"):
        assert junk not in text_001
    assert text_001.count("區教育局關於2022年工作總結與2023年工作打算範文") == 1
    assert "區政府履行教育職責評價水平、教育高質量考核連續三年保持全市第一" in text_001
    assert docs["001"].text.endswith("力争创成全市首批“全国学前教育普及普惠示范区”,学前教育普及普惠水平全市领先。")

    assert "下一篇" not in docs["003"].text
    assert "根据通知安排,现将县教育局上半年重点工作完成情况总结如下:" in docs["003"].text
    assert docs["003"].text.endswith("构建xx区中小学教师信息化发展管理平台。")

    text_004 = docs["004"].text
    for junk in ("本文内容由互联网用户自发贡献", "如若转载", "shituxiezuo", "3231169@qq.com"):
        assert junk not in text_004
    # the copy is cut off mid-sentence; what is there is kept
    assert text_004.endswith("加强和贵阳职业技术学院、贵州省交通职业技术学院开展“3+3”融通的")

    assert docs["000"].text.count("教育局2024年工作总结及2025") == 1
    assert docs["000"].text.endswith("新增托育机构3家。二是完善助学")


def test_traditional_seed_is_converted_and_original_kept(docs):
    doc = docs["001"]
    assert "区教育局" in doc.text and "區教育局" not in doc.text
    assert "區教育局" in doc.original_text
    assert len(doc.text) == len(doc.original_text)
    first = doc.paragraphs[1]
    assert "(一)教育发展水平全市领先。区政府履行教育职责评价水平" in first.text
    assert "(一)教育發展水平全市領先。區政府履行教育職責評價水平" in first.original_text
    assert doc.metadata.script == "traditional"


def test_section_paths(docs):
    def find(prefix, snippet):
        (para,) = [p for p in docs[prefix].paragraphs if snippet in p.text]
        return para

    assert docs["000"].paragraphs[0].text == "教育局2024年工作总结及2025 年工作计划"
    assert docs["000"].paragraphs[0].section_path == []
    assert find("000", "百年大计,教育为本").section_path == []
    assert find("000", "实现基础教育优质学位新增2500个").section_path == ["三、2025年度重点工作规划", "(二)主要目标"]
    assert find("000", "(二)主要目标").text.startswith("(二)主要目标\n实现基础教育优质学位新增2500个")
    # a bare heading travels with the first paragraph below it
    assert find("000", "三、2025年度重点工作规划").text.startswith(
        "三、2025年度重点工作规划\n(一)指导思想\n坚持以习近平"
    )
    # headings without numbering ("教育资源配置攻坚行动。一是……")
    assert find("000", "教育资源配置攻坚行动").section_path == [
        "三、2025年度重点工作规划",
        "(三)重点任务",
        "教育资源配置攻坚行动",
    ]
    assert find("000", "教育教学质量提升工程").section_path[-1] == "教育教学质量提升工程"

    assert find("001", "教育發展水平全市領先".replace("發", "发").replace("領", "领")).section_path == [
        "一、2022年亮点工作",
        "(一)教育发展水平全市领先",
    ]
    # body lines under a heading stay with it
    assert find("001", "“双减”背景下,强化课堂教学改革").section_path == [
        "一、2022年亮点工作",
        "(二)深化教育领域综合改革",
    ]
    assert find("001", "(八)力争实现四个领先").section_path == ["三、2023年工作打算", "(八)力争实现四个领先"]

    assert find("003", "2.全面加强风险管控").section_path == [
        "一、上半年工作完成情况",
        "(一)坚持政治统领,全面加强党对教育工作的领导",
        "2.全面加强风险管控",
    ]
    assert find("003", "1.教育经费缺口大").section_path == [
        "二、存在的主要问题",
        "1.教育经费缺口大,项目建设资金严重不足",
    ]

    assert find("004", "1.强化党的政治建设").section_path == [
        "一、加强党的建设",
        "(一)全面加强党的领导",
        "1.强化党的政治建设",
    ]
    assert find("004", "(三)推进学前教育优质普惠").section_path == ["二、提升教育教学质量", "(三)推进学前教育优质普惠"]


def test_long_enumerations_split_at_markers(docs):
    parts = [p for p in docs["003"].paragraphs if p.section_path[-1:] == ["1.普惠优质发展学前教育"]]
    assert len(parts) == 3
    assert parts[0].text.startswith("(二)聚焦中心抓管理,推动各类教育协调发展\n1.普惠优质发展学前教育。")
    assert parts[0].text.endswith("不断提高各幼儿园安全管理能力。")
    assert parts[1].text.startswith("三是提高幼儿园保教保育质量。")
    assert parts[2].text.startswith("五是开展学前教育宣传月系列活动。")
    # without 一是/二是 markers a long item is split at sentence ends
    split = [p for p in docs["004"].paragraphs if p.section_path[-1:] == ["2.推进党建高质量发展"]]
    assert [p.text[-1] for p in split] == [";", "。"]


def test_placeholders_flagged(docs):
    flags = {p.section_path[-1]: p.has_placeholder for p in docs["000"].paragraphs if p.section_path}
    assert flags["(二)五育融合育人格局逐渐成型"] is True  # 《〔...〕烽火》
    assert flags["(一)基础教育供给体系持续完善"] is False
    assert all(p.has_placeholder for p in docs["003"].paragraphs if "xx" in p.text)
    assert docs["004"].paragraphs[1].has_placeholder  # 以***新时代
    assert not any(p.has_placeholder for p in docs["001"].paragraphs if "*" not in p.text)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "000",
            DocumentMetadata(
                "教育局2024年工作总结及2025 年工作计划",
                "教育局",
                "county",
                "",
                [2024, 2025],
                "summary_and_plan",
                "simplified",
            ),
        ),
        (
            "001",
            DocumentMetadata(
                "区教育局关于2022年工作总结与2023年工作打算",
                "区教育局",
                "district",
                "",
                [2022, 2023],
                "summary_and_plan",
                "traditional",
            ),
        ),
        (
            "003",
            DocumentMetadata(
                "县教育局2024年上半年工作总结和下半年工作计划",
                "县教育局",
                "county",
                "",
                [2024],
                "summary_and_plan",
                "simplified",
            ),
        ),
        ("004", DocumentMetadata("教育局2024年工作要点", "县教育局", "county", "", [2024], "key_points", "simplified")),
    ],
)
def test_metadata(docs, seed_path, prefix, expected):
    doc = docs[prefix]
    path = seed_path(prefix)
    assert doc.metadata == expected
    assert doc.doc_id == path.stem
    assert doc.source_path == str(path.absolute())
    assert doc.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (doc.format, doc.encoding) == ("txt", "utf-8")
