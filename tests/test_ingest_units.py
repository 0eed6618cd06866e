"""Units of the ingester: encoding, normalisation, cleaning, structure, metadata, overrides, paths."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator

import pytest

from policy_nlp.errors import ConfigError, EncodingDetectionError
from policy_nlp.ingest import (
    EmptyDocumentError,
    ingest_file,
    ingest_text,
    iter_document_paths,
    read_document,
)
from policy_nlp.ingest.clean import find_boilerplate
from policy_nlp.ingest.encoding import decode_bytes
from policy_nlp.ingest.script import detect_script, normalise_line, to_simplified
from policy_nlp.ingest.structure import (
    MAX_PARAGRAPH_CHARS,
    has_placeholder,
    heading,
    split_paragraphs,
)

# --- encoding -------------------------------------------------------------------------------------


def test_decode_utf8_variants():
    text = "县教育局2024年工作要点"
    assert (decode_bytes(text.encode("utf-8")).encoding, decode_bytes(text.encode("utf-8")).text) == ("utf-8", text)
    assert decode_bytes(codecs.BOM_UTF8 + text.encode("utf-8")).text == text
    assert decode_bytes(text.encode("utf-16")).encoding == "utf-16"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_text_not_binary(codec):
    text = "县教育局2024年工作要点\n一、总体要求\n坚持立德树人，落实“双减”。\n"
    decoded = decode_bytes(text.encode(codec))
    assert (decoded.text, decoded.encoding, decoded.warnings) == (text, codec, [])


def test_nul_characters_are_removed_with_a_warning(tmp_path):
    text = "县教育局2024年工作要点\n" + "坚持立德树人，落实“双减”。\n" * 800
    (tmp_path / "nul.txt").write_bytes((text + "\x00\x00全面加强党的领导。").encode("utf-8"))  # past the binary sniff
    raw = read_document(tmp_path / "nul.txt")
    assert raw.text == text + "全面加强党的领导。"
    assert raw.warnings == ["2 NUL character(s) removed"]


def test_truncated_utf8_file_decodes_with_a_warning():
    decoded = decode_bytes("全面加强党的领导".encode()[:-1])
    assert (decoded.text, decoded.encoding) == ("全面加强党的领", "utf-8")
    assert decoded.warnings == ["the file ends in the middle of a character"]


def test_truncated_gbk_file_decodes_with_a_warning():
    data = "全面加强党的领导，落实立德树人根本任务。".encode("gbk")[:-1]  # last character cut in half
    decoded = decode_bytes(data)
    assert decoded.encoding == "gb18030"
    assert decoded.text.startswith("全面加强党的领导，落实立德树人根本任务")
    assert decoded.warnings == ["1 undecodable byte sequence(s) replaced with \ufffd"]


def test_short_text_that_is_plausible_in_gbk_and_big5_is_refused():
    # "计划" in GBK reads as "數赫" in Big5: both are common characters, so no guess is made
    with pytest.raises(EncodingDetectionError, match="cannot tell whether the text is gb18030 or big5"):
        decode_bytes("计划".encode("gbk"))


def test_longer_gbk_text_is_not_mistaken_for_big5():
    assert decode_bytes("县教育局2024年工作计划".encode("gbk")).encoding == "gb18030"
    assert decode_bytes("區教育局2023年工作打算".encode("big5")).encoding == "big5"


# --- normalisation and script ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("　　一、总体要求　", "一、总体要求"),
        ("到２０２０年，ＡＩ教育覆盖率达１００％", "到2020年，AI教育覆盖率达100%"),
        ("1．科学设定学校美育课程", "1.科学设定学校美育课程"),
        ("赵　洪（兼）清华大学", "赵洪（兼）清华大学"),
        ("第六章　附则", "第六章附则"),
        ("2025  年\t工作计划", "2025 年工作计划"),
        ("（一）和(一)都保留，“引号”也保留", "（一）和(一)都保留，“引号”也保留"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
    ],
)
def test_normalise_line(line, expected):
    assert normalise_line(line) == expected


def test_to_simplified_keeps_length():
    line = "區教育局關於2022年工作總結與2023年工作打算範文"
    assert to_simplified(line) == "区教育局关于2022年工作总结与2023年工作打算范文"
    assert len(to_simplified(line)) == len(line)


def test_detect_script():
    assert detect_script("区教育局关于2022年工作总结与2023年工作打算") == "simplified"
    assert detect_script("區教育局關於2022年工作總結與2023年工作打算") == "traditional"
    assert detect_script("區教育局關於工作總結。县教育局关于工作总结和计划。") == "mixed"
    assert detect_script("2024 ABC") == "simplified"


# --- cleaning -------------------------------------------------------------------------------------


def removed(lines: list[str]) -> list[str]:
    return [lines[i] for i in find_boilerplate(lines).removed]


def test_cleaner_removes_known_patterns_only():
    lines = [
        "xx区教育局2024年工作总结",
        "发布时间：2024-12-30 10:21",
        "一、主要成效",
        "全年新增学位3200个，收藏了一批优秀案例。",  # "收藏" inside a sentence stays
        '");',
        "首页 - 新闻 - 通知公告 - 联系我们",
        "原文链接：https://www.example.gov.cn/art/2024/1.html",
        "请通过 https://www.example.gov.cn 报名。",  # a sentence with a URL stays
        "相关推荐",
        "学校工作总结范文10篇",
        "教师个人工作计划",
        "二、下一步打算，继续推进集团化办学。",
        "xx区教育局",
        "2024年12月30日",  # signature date at the end: part of the document
    ]
    assert removed(lines) == [
        "发布时间：2024-12-30 10:21",
        '");',
        "首页 - 新闻 - 通知公告 - 联系我们",
        "原文链接：https://www.example.gov.cn/art/2024/1.html",
        "相关推荐",
        "学校工作总结范文10篇",
        "教师个人工作计划",
    ]


def test_repeated_titles_keep_one_copy():
    exact = [
        "教育部关于推进学校艺术教育发展的若干意见",
        "教育部关于推进学校艺术教育发展的若干意见",
        "（教体艺〔2014〕1号）",
        "为贯彻落实……，提出如下意见。",
    ]
    result = find_boilerplate(exact)
    assert result.removed == [1] and result.title_copies == [1]
    decorated = [
        "县教育局2024年上半年工作总结范文和下半年工作计划",
        "县教育局2024年上半年工作总结和下半年工作计划",
        "根据通知安排,总结如下:",
    ]
    assert find_boilerplate(decorated).removed == [0]
    different = ["县教育局2024年工作要点", "关于印发全县教师队伍建设方案的通知", "为了……，制定本方案。"]
    assert find_boilerplate(different).removed == []


# --- structure ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("一、2022年亮点工作", (1, "一、2022年亮点工作")),
        ("(一)教育发展水平全市领先。区政府履行教育职责", (2, "(一)教育发展水平全市领先")),
        ("（十二）加强督导", (2, "（十二）加强督导")),
        ("1.全面加强党的政治建设。健全完善", (3, "1.全面加强党的政治建设")),
        ("2、健全退出机制。坚持公开", (3, "2、健全退出机制")),
        ("（1）组织学习：每周一次", (4, "（1）组织学习")),
        ("第三章　聘任程序".replace("　", ""), (0, "第三章聘任程序")),
        ("第十条聘用的基本程序：", (1, "第十条")),
        ("教育资源配置攻坚行动。一是实施新改扩建工程。", (5, "教育资源配置攻坚行动")),
        ("2.1亿元用于新建学校。", None),
        ("2024年,全县教育系统坚持", None),
        ("一是精准实施基础建设三年行动。", None),
    ],
)
def test_heading(line, expected):
    assert heading(line) == expected


def paragraphs(text: str) -> list[tuple[str, list[str]]]:
    return [(text[s.start : s.end], s.section_path) for s in split_paragraphs(text)]


def test_bare_headings_join_their_body_and_siblings_stand_alone():
    text = "\n".join(
        [
            "县教育局工作计划",
            "现将计划报告如下:",
            "一、主要任务",
            "(一)抓党建",
            "落实党组织领导的校长负责制。",
            "(二)抓安全",
            "二、保障措施",
            "(一)加强领导。成立领导小组。",
        ]
    )
    assert paragraphs(text) == [
        ("县教育局工作计划", []),
        ("现将计划报告如下:", []),
        ("一、主要任务\n(一)抓党建\n落实党组织领导的校长负责制。", ["一、主要任务", "(一)抓党建"]),
        ("(二)抓安全", ["一、主要任务", "(二)抓安全"]),  # a bare heading without body stays, alone
        ("二、保障措施\n(一)加强领导。成立领导小组。", ["二、保障措施", "(一)加强领导"]),
    ]


def test_long_paragraph_is_split_at_enumeration_markers():
    items = ["一是" + "完善学校布局。" * 30, "二是" + "加强教师培训。" * 30, "三是" + "推进课后服务。" * 30]
    text = "1.办好人民满意的教育。" + "".join(items)
    parts = paragraphs(text)
    assert [part for part, _ in parts] == ["1.办好人民满意的教育。" + items[0], items[1], items[2]]
    assert all(path == ["1.办好人民满意的教育"] for _, path in parts)


def test_very_long_sentence_is_cut_at_clauses_and_then_hard():
    text = "(一)总体要求。" + "，".join(["加强党的全面领导"] * 100) + "。"
    parts = split_paragraphs(text)
    assert all(s.end - s.start <= MAX_PARAGRAPH_CHARS for s in parts)
    assert "".join(text[s.start : s.end] for s in parts) == text
    unbroken = "教" * (2 * MAX_PARAGRAPH_CHARS + 10)
    assert [s.end - s.start for s in split_paragraphs(unbroken)] == [MAX_PARAGRAPH_CHARS, MAX_PARAGRAPH_CHARS, 10]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("组织专题学习xx场次", True),
        ("新建幼儿园x所", True),
        ("统筹XX县第二小学招生", True),
        ("以***新时代中国特色社会主义思想为指导", True),
        ("开发《〔...〕烽火》等校本课程", True),
        ("投资2.1亿元，新建学校7所", False),
        ("印发《通知》（教体艺〔2019〕2号）", False),
        ("使用Excel和QQ统计", False),
    ],
)
def test_has_placeholder(text, expected):
    assert has_placeholder(text) is expected


# --- metadata, overrides, in-memory text ---------------------------------------------------------


PASTED = "\n".join(
    [
        "吉林省人民政府办公厅关于全面加强学校美育工作的实施意见",
        "（吉政办发〔2017〕44号）",
        "一、总体要求",
        "全面贯彻党的教育方针，以立德树人为根本任务。",
    ]
)


def test_ingest_text():
    doc = ingest_text(PASTED, doc_id="pasted", source_path="clipboard")
    meta = doc.metadata
    assert (doc.doc_id, doc.source_path, doc.format, doc.encoding) == ("pasted", "clipboard", "txt", "")
    assert (meta.bureau, meta.level, meta.region, meta.years, meta.doc_type) == (
        "吉林省人民政府办公厅",
        "province",
        "吉林省",
        [2017],
        "implementation_opinion",
    )
    assert [p.section_path for p in doc.paragraphs] == [[], [], ["一、总体要求"]]
    with pytest.raises(EmptyDocumentError):
        ingest_text("  \n ", doc_id="blank")


def test_paragraph_without_title_line_gives_empty_title():
    doc = ingest_text("全县新建改扩建学校7所，新增学位3200个。全县教育系统坚持立德树人。", doc_id="t")
    assert doc.metadata.title == "" and doc.metadata.level == "county"


def test_sidecar_and_explicit_overrides(tmp_path):
    report = tmp_path / "report.txt"
    report.write_text(PASTED, encoding="utf-8")
    (tmp_path / "report.txt.meta.json").write_text(
        json.dumps({"doc_id": "jilin-2017", "region": "吉林", "years": [2017, 2018], "level": "city"}), encoding="utf-8"
    )
    doc = ingest_file(report, overrides={"level": "province", "years": "2016,2017", "title": None})
    assert doc.doc_id == "jilin-2017"
    assert doc.metadata.region == "吉林"  # from the sidecar
    assert (doc.metadata.level, doc.metadata.years) == ("province", [2016, 2017])  # explicit wins
    assert doc.metadata.title.startswith("吉林省人民政府办公厅")  # None is ignored


def test_sidecar_without_extension_and_two_sidecars(tmp_path):
    report = tmp_path / "report.txt"
    report.write_text(PASTED, encoding="utf-8")
    (tmp_path / "report.meta.json").write_text('{"bureau": "吉林省教育厅"}', encoding="utf-8")
    assert ingest_file(report).metadata.bureau == "吉林省教育厅"
    (tmp_path / "report.txt.meta.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="two sidecar files for report.txt"):
        ingest_file(report)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"level": "township"}, "level 'township' is not one of national, province, city, district, county, unknown"),
        ({"doc_type": "report"}, "doc_type 'report' is not one of annual_summary"),
        ({"years": "2024,20x5"}, "bad year '20x5' in years"),
        ({"years": [1800]}, "bad year 1800 in years"),
        ({"colour": "red"}, "unknown field(s) colour"),
        ({"doc_id": " "}, "doc_id must be a non-empty string"),
        ({"title": 5}, "title must be a string"),
    ],
)
def test_invalid_overrides(overrides, message):
    with pytest.raises(ConfigError) as exc:
        ingest_text(PASTED, doc_id="x", overrides=overrides)
    assert message in str(exc.value)


def test_invalid_sidecar_json(tmp_path):
    (tmp_path / "r.txt").write_text(PASTED, encoding="utf-8")
    (tmp_path / "r.meta.json").write_text("{level: city}", encoding="utf-8")
    with pytest.raises(ConfigError, match="sidecar r.meta.json is not valid UTF-8 JSON"):
        ingest_file(tmp_path / "r.txt")
    (tmp_path / "r.meta.json").write_text('["city"]', encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        ingest_file(tmp_path / "r.txt")


# --- directory walking ----------------------------------------------------------------------------


def test_iter_document_paths(tmp_path):
    for name in ("b/2.txt", "b/1.docx", "a.md", "a.md.meta.json", "c.meta.json", ".hidden.txt", ".git/x.txt", "z.xlsx"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    walker = iter_document_paths([tmp_path, tmp_path / "missing.txt"])
    assert isinstance(walker, Iterator)
    assert [p.relative_to(tmp_path).as_posix() for p in walker] == [
        "a.md",
        "b/1.docx",
        "b/2.txt",
        "z.xlsx",
        "missing.txt",
    ]
