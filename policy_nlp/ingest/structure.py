"""Heading hierarchy and paragraph splitting of a cleaned document.

Headings, from the top down (rank in brackets):
  第一章 [0]; 一、 and 第一条 [1]; (一) / （一） [2]; 1. / 1、 [3]; (1) / （1） [4];
  an unnumbered heading "短语。一是……" [5] (a short phrase ending in 。 right before 一是).
A heading line may carry its body ("(一)教育发展水平全市领先。区政府…"): its title is the part before
the first 。；or ： (for 第X条 just "第X条").

A paragraph is a heading with the body lines that follow it. A bare heading followed by a deeper
heading is kept with that heading's paragraph, so no heading is lost and none stands alone without
need. Lines before the first heading are the title (first line, when it looks like a title) and the
preamble, both with an empty section path. A paragraph longer than MAX_PARAGRAPH_CHARS is split at
一是/二是… markers, else at line breaks, else at sentence ends, packing the parts greedily.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Longest paragraph handed to the encoder, in characters.
MAX_PARAGRAPH_CHARS = 400
#: Longest line that can be a document title.
MAX_TITLE_CHARS = 80

_NUM = "[一二三四五六七八九十百零〇]+"
_HEADINGS = (
    (0, re.compile(rf"第{_NUM}章")),
    (1, re.compile(rf"{_NUM}、")),
    (1, re.compile(rf"(第{_NUM}条)")),
    (2, re.compile(rf"[（(]{_NUM}[）)]")),
    (3, re.compile(r"\d{1,2}[.、](?!\d)")),
    (4, re.compile(r"[（(]\d{1,2}[）)]")),
    (5, re.compile(rf"([^，,。；;：:\s]{{2,20}})。(?={_NUM}是)")),
)
# "关于…", or a kind of document at the end (before a site's "范文"/numbering or a bracketed period)
_TITLE_WORD = re.compile(
    r"关于|(?:要点|计划|总结|打算|方案|意见|通知|办法|规划|细则|规定|决定|报告|安排|思路|批复|通报)"
    r"(?:范文)?\d{0,2}(?:[（(][^（）()]*[）)])?$"
)
_TITLE_END = re.compile(r"[。；;：:]")
_ENUMERATION = re.compile(rf"(?<=[。；;：:\n]){_NUM}是")
_LINE_START = re.compile("(?<=\n)")
_SENTENCE_END = re.compile(r"(?<=[。！？；;])")
_CLAUSE_END = re.compile(r"(?<=[，,、])")
_PLACEHOLDER = re.compile(r"(?<![A-Za-z])(?:x+|XX+)(?![A-Za-z])|\*|×|〔(?:\.{2,}|…+)〕|某某|○○")


@dataclass
class Span:
    """A paragraph as a span of the document text, with its section path."""

    start: int
    end: int
    section_path: list[str]


def heading(line: str) -> tuple[int, str] | None:
    """(rank, section title) when `line` starts with a heading marker, else None."""
    for rank, pattern in _HEADINGS:
        match = pattern.match(line)
        if match:
            return rank, match.group(1) if pattern.groups else _TITLE_END.split(line, maxsplit=1)[0]
    return None


def looks_like_title(line: str) -> bool:
    """Whether a first line can be a document title: short, no heading marker, not a sentence."""
    return len(line) <= MAX_TITLE_CHARS and heading(line) is None and not re.search(r"[。！？；;，,：:]$", line)


def names_document_kind(line: str) -> bool:
    """Whether a title-like line names a kind of document ("关于…", or ends in "要点", "通知"…) and
    has no comma, as a report's own title does."""
    return bool(_TITLE_WORD.search(line)) and not re.search(r"[，,]", line)


def has_placeholder(text: str) -> bool:
    """Whether the text holds placeholders such as xx, x, XX, *, ***, ×, 〔...〕 or 某某."""
    return bool(_PLACEHOLDER.search(text))


def split_paragraphs(text: str) -> list[Span]:
    """Paragraph spans of a cleaned document whose non-empty lines are joined by '\\n'."""
    spans: list[Span] = []
    stack: list[tuple[int, str]] = []
    open_span: Span | None = None  # the paragraph that body lines are added to
    bare_rank: int | None = None  # rank of its last heading while it has no body yet
    offset = 0
    for index, line in enumerate(text.split("\n")):
        start, end = offset, offset + len(line)
        offset = end + 1
        found = heading(line)
        if found:
            rank, title = found
            while stack and stack[-1][0] >= rank:
                stack.pop()
            stack.append((rank, title))
            path = [t for _, t in stack]
            if open_span is not None and bare_rank is not None and rank > bare_rank:
                open_span.end, open_span.section_path = end, path
            else:
                open_span = Span(start, end, path)
                spans.append(open_span)
            bare_rank = rank if title == line else None
        elif index == 0 and looks_like_title(line):
            spans.append(Span(start, end, []))
        elif open_span is None:
            open_span = Span(start, end, [])
            spans.append(open_span)
        else:
            open_span.end, bare_rank = end, None
    return [part for span in spans for part in _split_long(text, span)]


def _split_long(text: str, span: Span) -> list[Span]:
    """`span` itself, or parts of at most MAX_PARAGRAPH_CHARS split at the best boundaries."""
    if span.end - span.start <= MAX_PARAGRAPH_CHARS:
        return [span]
    body = text[span.start : span.end]
    for boundary in (_ENUMERATION, _LINE_START, _SENTENCE_END, _CLAUSE_END):
        cuts = [
            m.start()
            for m in boundary.finditer(body)
            if 0 < m.start() < len(body) and not _after_bare_heading(body, m.start())
        ]
        if cuts:
            break
    else:
        cuts = list(range(MAX_PARAGRAPH_CHARS, len(body), MAX_PARAGRAPH_CHARS))
    parts: list[Span] = []
    for start, end in _pack([0, *cuts, len(body)]):
        piece = body[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        part = Span(span.start + start + lead, span.start + end - trail, list(span.section_path))
        parts.extend(_split_long(text, part))
    return parts


def _after_bare_heading(body: str, cut: int) -> bool:
    """Whether `cut` directly follows a heading line without body (which must stay with its body)."""
    if body[cut - 1] != "\n":
        return False
    line = body[body.rfind("\n", 0, cut - 1) + 1 : cut - 1]
    found = heading(line)
    return found is not None and found[1] == line


def _pack(bounds: list[int]) -> list[tuple[int, int]]:
    """Greedily merge consecutive pieces [bounds[i], bounds[i+1]) while they fit the limit."""
    packed: list[tuple[int, int]] = []
    start = bounds[0]
    for previous, cut in zip(bounds[1:-1], bounds[2:]):
        if cut - start > MAX_PARAGRAPH_CHARS:
            packed.append((start, previous))
            start = previous
    packed.append((start, bounds[-1]))
    return packed
