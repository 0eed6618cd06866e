"""Saved web pages in the styles real reports come in: a school website forwarding a city bureau's
notices and its five-year plan, government portals, a WeChat article, a document-sharing site and a
范文 site (tests/data/saved_pages; written by the project, names invented).

The report's part of each page lies between `<!--report-start-->` and `<!--report-end-->`
comments, which the reader drops with every other comment; everything else on the page is the
site's. No page, and none of these page layouts, is used in training the boilerplate classifier.
"""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest

from policy_nlp.ingest import ingest_file
from policy_nlp.ingest.encoding import decode_bytes
from policy_nlp.ingest.script import normalise_line, to_simplified

PAGES = Path(__file__).parent / "data" / "saved_pages"
#: page → (title, bureau, years) of the report it holds.
EXPECTED = {
    "school_notice.html": ("云岭市教育局关于做好2025年暑期中小学生安全教育工作的通知", "云岭市教育局", [2025]),
    "school_plan.html": (
        "南屏市人民政府办公室关于印发南屏市教育事业发展“十四五”规划（2021—2025年）的通知",
        "南屏市人民政府办公室",
        [2021, 2022, 2023, 2024, 2025],
    ),
    "school_list_notice.html": (
        "云岭市教育局关于公布2024年云岭市中小学劳动教育特色学校名单的通知", "云岭市教育局", [2024]
    ),
    "gov_portal_summary.html": ("东湖区教育局2024年工作总结和2025年工作思路", "东湖区教育局", [2024, 2025]),
    "gov_portal_keypoints.html": ("南屏县教育体育局2025年工作要点", "南屏县教育体育局", [2025]),
    "wechat_notice.html": ("云岭市教育局关于进一步规范义务教育课后服务工作的通知", "云岭市教育局", [2024]),
    "doc_share_summary.html": ("青山区教育局2024年上半年工作总结", "青山区教育局", [2024]),
    "fanwen_keypoints.html": ("江屿市教育局2025年工作要点", "江屿市教育局", [2025]),
}
_REPORT = re.compile(r"<!--report-start-->(.*?)<!--report-end-->", re.DOTALL)
#: Site lines shorter than this (squeezed) are not looked for: "赞" and "分享" occur in prose too.
MIN_SITE_CHARS = 4


def squeeze(line: str) -> str:
    """A line as the store holds it, without spaces and table bars, for comparing."""
    return re.sub(r"[\s|]", "", to_simplified(normalise_line(line)))


def page_lines(markup: str) -> list[str]:
    """The visible lines of a page or fragment, squeezed, as laid out in its source."""
    tree = lxml.html.fromstring(markup)
    for junk in tree.xpath("//head|//script|//style"):
        junk.drop_tree()
    return [line for line in map(squeeze, tree.text_content().splitlines()) if line]


def report_and_site(path: Path) -> tuple[list[str], list[str]]:
    markup = decode_bytes(path.read_bytes()).text
    report = [line for part in _REPORT.findall(markup) for line in page_lines(f"<div>{part}</div>")]
    site = [line for line in page_lines(_REPORT.sub("", markup)) if len(line) >= MIN_SITE_CHARS]
    return report, site


def test_every_page_is_checked():
    assert sorted(p.name for p in PAGES.glob("*.html")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_saved_page(name):
    path = PAGES / name
    report, site = report_and_site(path)
    assert len(report) >= 10 and len(site) >= 5
    doc = ingest_file(path)
    stored = [squeeze(p.text) for p in doc.paragraphs]
    assert [line for line in site if any(line in paragraph for paragraph in stored)] == []
    kept = sum(len(line) for line in report if any(line in paragraph for paragraph in stored))
    assert kept >= 0.98 * sum(map(len, report)), [line for line in report if not any(line in p for p in stored)]
    m = doc.metadata
    assert (m.title, m.bureau, m.years) == EXPECTED[name]
