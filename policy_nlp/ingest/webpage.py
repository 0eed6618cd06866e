"""Reading a saved web page: its main content, one block per line, and its headline.

Before the main-content extractor (trafilatura) sees the page, scripts, styles, navigation and
comments go; a <form> wrapped around the article (as many site systems do) is unwrapped; a table
that lays out the page (a cell holding several paragraphs) or lists links is read as blocks. A data
table's rows come out one line each, cells separated by a space, as a Word table's do. When the
extractor loses the page's body — most of its sentences, or sentences between those it keeps — all
of the page's text is read instead, with a warning, and the line cleaner removes the site's lines.
"""

from __future__ import annotations

import copy
import html
import re
from difflib import SequenceMatcher

import lxml.etree
import lxml.html

from .encoding import Decoded, decode_bytes
from .line_features import is_prose
from .structure import MAX_TITLE_CHARS, looks_like_title, names_document_kind

_BLOCK_TAGS = (
    "p",
    "div",
    "section",
    "article",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "tr",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dd",
    "dt",
)
_JUNK_TAGS = ("script", "style", "noscript", "nav", "footer", "aside", "iframe", "template")
#: Tags whose content stays but which are no container of their own: many site systems wrap the
#: whole article in a <form>, which the main-content extractor drops with its text.
_WRAPPER_TAGS = ("form",)
#: Elements that make a table cell a layout cell when it holds several of them.
_LAYOUT_BLOCKS = frozenset(("p", "div", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"))
#: The parts of a table, renamed to <div> when the table lays out a page rather than holding data.
_TABLE_PARTS = "self::table|./*[self::thead or self::tbody or self::tfoot or self::tr or self::caption]|./tr|./*/tr|./tr/*|./*/tr/*"
#: A table more of whose text than this is link text is a list of links (a site's menu), not data.
LINK_TABLE_SHARE = 0.5
#: Share of the page's sentences (by characters) the main content must keep, and may miss between
#: the first and last it keeps, before all of the page's text is read instead.
MIN_PROSE_KEPT = 0.5
MAX_PROSE_MISSED = 0.02
#: Characters searched at most when looking for the page's sentences within the main content's lines.
MAX_SEARCH = 200_000_000
#: Pages nested this deep are read as plain text (libxml2, under lxml and trafilatura, stops at 255).
MAX_HTML_DEPTH = 250
#: How like the page's <title> (or its longest part) a line must be to be the page's headline.
HEADLINE_SIMILARITY = 0.8
_TAG = re.compile(r"<[^<>]*>")
_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]+")
#: The separators of a page title's parts: "关于…的通知_上级文件_某某小学", "… - 某某网".
_TITLE_PARTS = re.compile(r"\s*[_|｜]\s*|\s+[-—–]\s+")
#: A row of a table as the extractor writes it ("| a | b |"), and its header rule ("|---|---|").
_TABLE_ROW = re.compile(r"\|(.*)\|")
_TABLE_RULE = re.compile(r"\|[-|:\s]*\|")


def read_html(data: bytes) -> Decoded:
    """The main content of a web page, found by trafilatura, one block per line.

    The page's headline is put first when the main content does not hold it as a line. A page nested
    deeper than MAX_HTML_DEPTH (no browser-saved page is) is read as plain text instead, in linear
    time, because the HTML parser stops at that depth and would lose the rest of the text.
    """
    import trafilatura  # about a second to import: only when a web page is read

    decoded = decode_bytes(data)
    warnings = list(decoded.warnings)
    try:
        tree = lxml.html.document_fromstring(decoded.text)
    except (lxml.etree.ParserError, ValueError):  # nothing but a comment or a processing instruction
        return Decoded("", decoded.encoding, warnings)
    if _depth(tree) >= MAX_HTML_DEPTH:
        warnings.append(f"HTML nested over {MAX_HTML_DEPTH} levels deep: read as plain text, site lines included")
        return Decoded(html.unescape(_TAG.sub("\n", decoded.text)), decoded.encoding, warnings)
    lxml.etree.strip_elements(tree, *_JUNK_TAGS, lxml.etree.Comment, with_tail=False)
    lxml.etree.strip_tags(tree, *_WRAPPER_TAGS)
    _untable_layout(tree)
    heading = _headline(tree)
    everything = _block_text(copy.deepcopy(tree))
    main = trafilatura.extract(
        tree, output_format="txt", favor_recall=True, include_comments=False, include_tables=True, deduplicate=False
    )
    if not main:
        warnings.append("no main content found on the page: read all of its text")
        main = everything
    elif _prose_lost(everything, main):
        warnings.append("the page's main content leaves out some of its sentences: read all of its text")
        main = everything
    lines = [row for line in main.splitlines() if (row := _table_row(line.strip()))]
    if heading and heading not in lines:
        lines.insert(0, heading)
    return Decoded("\n".join(lines), decoded.encoding, warnings)


def _headline(tree: lxml.html.HtmlElement) -> str:
    """The article's own title: of the texts of the page's body that look like a title naming a
    kind of document, the one most like the page's <title> (or the longest part of it, without the
    site's and column's names), at least HEADLINE_SIMILARITY alike; else the first <h1> that names
    one (not a site's logo). Texts are an element's own text nodes, so that reading stays linear."""
    page_title = " ".join(tree.findtext(".//title", default="").split())
    wanted = {page_title, max(_TITLE_PARTS.split(page_title), key=len)} - {""}
    body = tree.find("body")
    best, score = "", HEADLINE_SIMILARITY
    for element in body.iter() if body is not None and wanted else ():
        text = " ".join("".join(element.xpath("text()")).split()) if isinstance(element.tag, str) else ""
        if not (4 <= len(text) <= MAX_TITLE_CHARS and _names_document(text)):
            continue
        for part in wanted:
            matcher = SequenceMatcher(None, text, part)
            if matcher.real_quick_ratio() > score and matcher.quick_ratio() > score and matcher.ratio() > score:
                best, score = text, matcher.ratio()
    headings = (" ".join(h.text_content().split()) for h in tree.iter("h1"))
    return best or next((text for text in headings if _names_document(text)), "")


def _names_document(text: str) -> bool:
    return looks_like_title(text) and names_document_kind(text)


def _table_row(line: str) -> str:
    """A line of the extractor's output, with a table row as its non-empty cells separated by a
    space and a header rule as ""."""
    if _TABLE_RULE.fullmatch(line):
        return ""
    row = _TABLE_ROW.fullmatch(line)
    return " ".join(cell.strip() for cell in row.group(1).split("|") if cell.strip()) if row else line


def _depth(tree: lxml.html.HtmlElement) -> int:
    """How deep the element tree is nested (iteratively: no recursion limit)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in element)
    return deepest


def _untable_layout(tree: lxml.html.HtmlElement) -> None:
    """Rename to <div> the parts of each table that lays out the page — one of its own cells holds
    several paragraphs, divisions or tables — or lists links (most of its text is link text), so
    that its paragraphs and links are lines, not table rows. One pass over the tree, children
    before parents, counts each element's characters, link characters and block elements."""
    chars: dict[lxml.html.HtmlElement, int] = {}
    links: dict[lxml.html.HtmlElement, int] = {}
    blocks: dict[lxml.html.HtmlElement, int] = {}
    for element in reversed(list(tree.iter())):
        children = list(element)
        chars[element] = _length(element.text) + sum(chars.get(c, 0) + _length(c.tail) for c in children)
        links[element] = chars[element] if element.tag == "a" else sum(links.get(c, 0) for c in children)
        blocks[element] = sum(blocks.get(c, 0) + (c.tag in _LAYOUT_BLOCKS) for c in children)
    for table in [element for element in blocks if element.tag == "table"]:
        cells = table.xpath("./tr/*|./*/tr/*")
        if links[table] > chars[table] * LINK_TABLE_SHARE or any(blocks[cell] >= 2 for cell in cells):
            for part in table.xpath(_TABLE_PARTS):
                part.tag = "div"


def _length(text: str | None) -> int:
    """Characters of `text` other than white space."""
    return len("".join(text.split())) if text else 0


def _prose_lost(everything: str, main: str) -> bool:
    """Whether the main content `main` lost part of the page's body: most of the characters of the
    sentences of prose in `everything` (all of the page's text), or more than MAX_PROSE_MISSED of
    them between the first and the last sentence it kept. A site's sentences outside the article
    (a disclaimer, comments) may go. Sentences are compared by their ideographs, which the
    extractor leaves as they are (it may change spaces, entities and symbols): a sentence is kept
    when it is a line of `main`, or part of one (looked for while MAX_SEARCH allows)."""
    main_lines = [_ideographs(line) for line in main.splitlines()]
    whole, own = "\n".join(main_lines), set(main_lines)
    prose = [line for line in (_ideographs(s) for s in everything.splitlines() if is_prose(s.strip())) if line]
    budget = MAX_SEARCH // max(len(whole), 1)
    kept = []
    for n, line in enumerate(prose):
        if line in own or (budget > 0 and line in whole):
            kept.append(n)
        budget -= line not in own
    total = sum(map(len, prose))
    if not total:
        return False
    if sum(len(prose[n]) for n in kept) < total * MIN_PROSE_KEPT:
        return True
    missed = set(range(kept[0], kept[-1] + 1)).difference(kept)
    return sum(len(prose[n]) for n in missed) > total * MAX_PROSE_MISSED


def _ideographs(text: str) -> str:
    return "".join(_IDEOGRAPH.findall(text))


def _block_text(tree: lxml.html.HtmlElement) -> str:
    """All text of a page, with a line break after every block element and <br>."""
    for element in tree.iter(*_BLOCK_TAGS, "br"):
        element.tail = "\n" + (element.tail or "")
    return tree.text_content()
