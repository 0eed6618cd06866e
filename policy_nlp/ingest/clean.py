"""Finding the boilerplate lines of web and legal-database copies.

Two kinds of decision, on lines in their normalised, simplified form:

- the boilerplate line classifier (`line_model`, trained on web copies of real reports in many site
  styles) judges every line from what it is and where it is — layout and language features and the
  vocabulary it shares with the rest of the document — so site lines no pattern lists are found;
- known patterns, below, remove what is certain whatever the classifier says.

The classifier never removes what a document's own structure shows to be its own: the signature/date
block (the issuing office's name right before or after a date line such as "2017年10月10日"), and
between the first sentence of prose and the end of the report — its last sentence, its signature block,
or, when it has an attachment ("附件", "附件1：…"), the line before the first that is certainly a site's
— it needs INSIDE_THRESHOLD, so that contact lines, attachment lists and form cells stay. After the
report's end, a line that repeats a line or a "label：" of the report (a task list's "牵头单位：…") is
the report's too, and so are a table's rows numbered one after the other that begin in the report.
A site's header and footer are each one block: above the report's own title EDGE_THRESHOLD is
enough, and after the report's end everything from the first line the classifier removes (or the
first site information line, "来源：…") to the end of the page goes. Between the title and the first
sentence, a line sharing no word with the rest of the report is a site's ("云海 分享 时间:"). A text
without prose is its title block — its first title and the document number below it — and what
follows that block is judged as a footer.

Every removed line is kept in Document.removed_lines for review.

Known patterns:

- anywhere: site widgets and footers ("txt下载", "收藏", "下一篇:…", "本文内容由互联网用户自发贡献…",
  "如若转载…", copyright lines, navigation bars "a - b - c"), legal-database header lines
  ("北大法宝【法宝引证码】…", "原文链接：https://…"), lines that are only a URL, lines of stray code
  punctuation such as `");`;
- after a "相关推荐"-style marker: the link titles that follow it (lines without sentence punctuation);
- in the header (the lines before the first sentence or heading): a bare date or "发布时间：…" line,
  and repeated title lines (page title and article title).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

import numpy as np

from .line_features import bigrams, is_prose, line_features
from .line_model import BoilerplateLineClassifier, load_packaged
from .structure import heading, looks_like_title, names_document_kind

_ANYWHERE = re.compile(
    "|".join(
        (
            r"(?:[-*·•]\s*)?txt下载",
            r"收藏|分享|打印|打印本页|关闭|关闭窗口|返回顶部|顶部|点赞|举报|字号[:：]?\s*大\s*中\s*小",
            r"静网PWA视频评论",
            r"(?:上一篇|下一篇)\s*[:：].*",
            r"本文内容由互联网用户自发贡献.*",
            r"如若转载.*",
            r".{0,60}(?:Copyright|©|版权所有|All Rights Reserved).{0,60}",
            r"\S{1,10}(?:\s+[-|·]\s+\S{1,10}){2,}",
            r"北大法宝.*|.*【法宝引证码】.*",
            r"[^\s:：]{0,8}[:：]?\s*https?://\S+",
            r"[^\w*×〔〕]+",
        )
    ),
    re.IGNORECASE,
)
_TAIL_MARKER = re.compile(r"相关推荐|猜你喜欢|热门推荐|相关阅读|推荐阅读|相关文章|延伸阅读")
#: A site's information line: where the article comes from, who wrote it, when, how often it was read.
_SITE_INFO = r"(?:发布时间|发布日期|更新时间|来源|作者|浏览次数|阅读次数|点击数)\s*[:：].{0,40}"
_HEADER_ONLY = re.compile(
    r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?"
    r"|\d{4}-\d{1,2}-\d{1,2}(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?"
    rf"|{_SITE_INFO}"
)
_SITE_INFO_LINE = re.compile(_SITE_INFO)
_SENTENCE_PUNCT = re.compile(r"[。，,；;：:！？]")
_CLAUSE = re.compile(r"[，,；;、]")
_ATTACHMENT = re.compile(r"附件\s*\d*\s*[:：]")
#: The start of an attachment section: "附件", "附件2", "附件：…".
_ATTACHMENT_START = re.compile(r"附件\s*\d*(?:\s*[:：].*)?")
_NUMERAL = r"[\d〇○零一二三四五六七八九十]"
#: A line that is only a date in the style of a document's signature block.
_DATE_LINE = re.compile(rf"{_NUMERAL}{{4}}\s*年\s*{_NUMERAL}{{1,2}}\s*月\s*{_NUMERAL}{{1,3}}\s*日")
#: A line that is only the name of an office: ideographs (and brackets) ending in a kind of organisation.
_OFFICE = re.compile(r"[\u4e00-\u9fff（）()、]{1,40}(?:办公室|办公厅|政府|委员会|委|局|厅|部|院|校|园|中心|处|科|室|会|所|站)")
_LABEL = re.compile(r"[\u4e00-\u9fff]{2,8}[:：]")
#: A table row's sequence number, then its other cells: "3 青山区 青山区育才小学".
_ROW_NUMBER = re.compile(r"(\d{1,3})\s+\S")
#: A document number such as "教体艺〔2019〕2号" or "保政办发[2017]46号".
_DOC_NUMBER = re.compile(r"[〔\[(（]\s*(?:19|20)\d{2}\s*[〕\])）]\s*\d+\s*号")
#: A line holding only a document number, perhaps in brackets and with its date.
_DOC_NUMBER_LINE = re.compile(rf"[（(]?[\u4e00-\u9fff]{{1,12}}{_DOC_NUMBER.pattern}(?:\s*{_DATE_LINE.pattern})?[）)]?")

#: How find_boilerplate may clean: classifier and known patterns, known patterns only, or not at all.
CLEANING_MODES = ("full", "rules", "none")

#: Probability the classifier needs to remove a line from between the first and last sentence of
#: prose, where site lines are rare (page numbers, running headers) and report lines are many.
INSIDE_THRESHOLD = 0.99
#: Heading ranks the classifier never removes (structure.heading: 第一章 … (1); not the unnumbered one).
NUMBERED_HEADING_RANK = 4
#: A sentence this long with several clauses is always kept (see _plainly_report).
PROSE_CHARS = 40
#: Probability enough to remove a line above the report's own title (a site's header is one block).
EDGE_THRESHOLD = 0.3
#: Fewest character bigrams a line below the title needs to be judged by the vocabulary it shares.
MIN_HEADER_BIGRAMS = 3
#: Fewest lines numbered one after the other that are a table's rows (see _numbered_rows).
MIN_ROWS = 3
#: Office lines a signature block holds before its date line (one may follow it).
SIGNATURE_LINES = 2

#: The header ends at the first line with sentence punctuation or a heading, or after this many lines.
MAX_HEADER_LINES = 10
#: Two header lines at least this similar (ignoring spaces) are copies of the same title.
TITLE_SIMILARITY = 0.8


@dataclass
class Boilerplate:
    """Which lines (by index) are boilerplate, which of those repeated the title, and which the
    classifier took from between the report's first and last sentence (worth a review)."""

    removed: list[int] = field(default_factory=list)
    title_copies: list[int] = field(default_factory=list)
    inside: list[int] = field(default_factory=list)  # removed by the classifier from within the prose


@lru_cache(maxsize=1)
def packaged_classifier() -> BoilerplateLineClassifier:
    """The shipped boilerplate line classifier, loaded once."""
    return load_packaged()


def find_boilerplate(lines: list[str], cleaning: str = "full") -> Boilerplate:
    """Indices of the boilerplate lines among normalised, simplified, non-empty `lines`.

    `cleaning` is one of CLEANING_MODES.
    """
    if cleaning not in CLEANING_MODES:
        raise ValueError(f"cleaning must be one of {', '.join(CLEANING_MODES)}, not {cleaning!r}")
    if cleaning == "none" or not lines:
        return Boilerplate()
    removed = _known_patterns(lines)
    inside: list[int] = []
    if cleaning == "full":
        probability = packaged_classifier().predict_proba(line_features(lines))[:, 1]
        first, last = _report_span(lines, probability)
        judged = _judged(lines, removed, probability, (first, last))
        if len(removed | judged) < len(lines):  # the classifier alone never empties a document
            removed |= judged
            inside = sorted(i for i in judged if first < i < last)
        removed |= _unshared_below_title(lines, removed)
    header = _header(lines, removed)
    removed.update(i for i in header if _HEADER_ONLY.fullmatch(lines[i]))
    title_copies = _title_copies(lines, [i for i in header if i not in removed])
    removed.update(title_copies)
    return Boilerplate(sorted(removed), title_copies, inside)


def _known_patterns(lines: list[str]) -> set[int]:
    """Lines matching a known boilerplate pattern, and the link titles after a "相关推荐" marker."""
    removed: set[int] = set()
    in_tail = False
    for i, line in enumerate(lines):
        if _TAIL_MARKER.fullmatch(line):
            in_tail = True
        elif in_tail and _SENTENCE_PUNCT.search(line):
            in_tail = False
        if in_tail or _ANYWHERE.fullmatch(line):
            removed.add(i)
    return removed


def _repeated_titles(lines: list[str], header: list[int]) -> set[int]:
    """Header lines with a near copy among the other header lines: the title, repeated by the site."""
    squeezed = {i: lines[i].replace(" ", "") for i in header}
    return {
        i
        for i in header
        for j in header
        if i != j and SequenceMatcher(None, squeezed[i], squeezed[j]).ratio() >= TITLE_SIMILARITY
    }


def _judged(lines: list[str], known: set[int], probability: np.ndarray, span: tuple[int, int]) -> set[int]:
    """Lines the classifier calls boilerplate (`probability` of each line, `span` from _report_span),
    and the site's header and footer blocks, except the report's plain lines, its own title, its
    signature block and the lines after its end that repeat its own; between the first sentence of
    prose and the report's end a line needs INSIDE_THRESHOLD."""
    threshold = packaged_classifier().threshold
    first, last = span
    judged = {
        i
        for i, p in enumerate(probability)
        if p >= (INSIDE_THRESHOLD if first < i < last else threshold) and not _plainly_report(lines[i])
    }
    judged |= _site_blocks(lines, probability, span, judged)
    judged -= _repeated_titles(lines, _header(lines, known))  # _title_copies keeps the right copy
    judged -= _signature_block(lines) | _numbered_rows(lines, span)
    judged -= _repeats_report(lines, [i for i in range(first + 1, last) if i not in judged], range(last + 1, len(lines)))
    return judged - _own_title(lines)


def _site_blocks(lines: list[str], probability: np.ndarray, span: tuple[int, int], judged: set[int]) -> set[int]:
    """A site's header and footer, each one block: the lines above the report's own title that reach
    EDGE_THRESHOLD, and after the report's end every line from the first `judged` line or site
    information line ("来源：…") on — a page ends in its footer. Nothing for a text without a report."""
    first, last = span
    if first > last:
        return set()
    title = min(_own_title(lines), default=-1)
    header = {i for i in range(title) if probability[i] >= EDGE_THRESHOLD and not _plainly_report(lines[i])}
    site = (i for i in range(last + 1, len(lines)) if i in judged or _SITE_INFO_LINE.fullmatch(lines[i]))
    footer = {i for i in range(next(site, len(lines)), len(lines)) if not _plainly_report(lines[i])}
    return header | footer


def _unshared_below_title(lines: list[str], removed: set[int]) -> set[int]:
    """Lines between the report's own title and its first sentence of prose or heading (of the lines
    not `removed`) that share no word — no character bigram, of at least MIN_HEADER_BIGRAMS — with the
    rest of the report and are no document number: a site's field ("云海 分享 时间:"). A report's
    header lines there (document number, addressees, subtitle) share its words."""
    kept = [i for i in range(len(lines)) if i not in removed]
    report = [lines[i] for i in kept]
    title, first = min(_own_title(report), default=None), _prose_span(report)[0]
    if title is None or first >= len(report):
        return set()
    own = [bigrams(line).keys() for line in report]
    lines_with = Counter(gram for grams in own for gram in grams)  # how many lines hold each bigram
    found = set()
    for k in range(title + 1, first):
        if heading(report[k]):
            break
        if len(own[k]) >= MIN_HEADER_BIGRAMS and not _DOC_NUMBER.search(report[k]):
            if all(lines_with[gram] == 1 for gram in own[k]):
                found.add(kept[k])
    return found


def _prose_span(lines: list[str]) -> tuple[int, int]:
    """Indices of the first and last line of prose (len(lines) and -1 when there is none)."""
    prose = [i for i, line in enumerate(lines) if is_prose(line)]
    return (prose[0], prose[-1]) if prose else (len(lines), -1)


def _report_span(lines: list[str], probability: np.ndarray) -> tuple[int, int]:
    """Indices of the report's first sentence of prose and of its end: the last line of its text —
    the last sentence of prose or of its signature block — or, when it has an attachment, the line
    before the first that is certainly a site's (a site information line, or INSIDE_THRESHOLD), else
    len(lines); and not before the numbered rows of a table that begins in it. A text without prose
    but with a title block (title, document number) ends there."""
    first, last = _prose_span(lines)
    if first == len(lines) and (title_block := _own_title(lines)):  # no prose: the title block is the report
        first = last = max(title_block)
    signature = _signature_block(lines)
    if signature:
        last = max(last, max(signature))
    start = next((i for i in range(first + 1, len(lines)) if _ATTACHMENT_START.fullmatch(lines[i])), None)
    if start is not None:
        certain = (
            i
            for i in range(start + 1, len(lines))
            if probability[i] >= INSIDE_THRESHOLD or _SITE_INFO_LINE.fullmatch(lines[i])
        )
        last = max(last, next(certain, len(lines) + 1) - 1)
    return first, max([last, *_numbered_rows(lines, (first, last))])


def _numbered_rows(lines: list[str], span: tuple[int, int]) -> set[int]:
    """Runs of at least MIN_ROWS lines numbered one after the other ("1 东湖区 东湖区实验小学",
    "2 …": a table's rows) that begin after the report's first sentence and by its end."""
    numbers = [int(m.group(1)) if (m := _ROW_NUMBER.match(line)) else None for line in lines]
    first, last = span
    rows: set[int] = set()
    for start in range(first + 1, min(last, len(lines) - 1) + 1):
        if numbers[start] is None or (start > 0 and numbers[start - 1] == numbers[start] - 1):
            continue
        end = start
        while end + 1 < len(lines) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        if end - start + 1 >= MIN_ROWS:
            rows.update(range(start, end + 1))
    return rows


def _signature_block(lines: list[str]) -> set[int]:
    """The signature blocks after the first sentence of prose: each date line with the office lines
    right before it (up to SIGNATURE_LINES) or right after it ("信阳市人民政府办公室" / "2017年10月10日")."""
    block: set[int] = set()
    for i in range(_prose_span(lines)[0] + 1, len(lines)):
        if not _DATE_LINE.fullmatch(lines[i]):
            continue
        offices: list[int] = []
        while len(offices) < SIGNATURE_LINES and _OFFICE.fullmatch(lines[i - 1 - len(offices)]):
            offices.append(i - 1 - len(offices))
        if i + 1 < len(lines) and _OFFICE.fullmatch(lines[i + 1]):
            offices.append(i + 1)
        if offices:
            block.update([i, *offices])
    return block


def _repeats_report(lines: list[str], report: list[int], candidates: range) -> set[int]:
    """Lines among `candidates` that repeat a `report` line, or its "label：" (a task list's "牵头单位：…")."""
    own = {lines[i] for i in report}
    labels = {m.group() for i in report if (m := _LABEL.match(lines[i]))}
    return {i for i in candidates if lines[i] in own or ((m := _LABEL.match(lines[i])) and m.group() in labels)}


def _own_title(lines: list[str]) -> set[int]:
    """The last line before the first sentence of prose that looks like a title naming a kind of
    document — the first such line of a text without prose, whose later ones are a site's links —
    and the document-number line right below it: the report's own title block, which the
    classifier may not remove."""
    first = _prose_span(lines)[0]
    titles = [i for i in range(first) if looks_like_title(lines[i]) and names_document_kind(lines[i])]
    if not titles:
        return set()
    title = titles[-1]
    if first == len(lines):  # the first title, or the last of its near copies right below it ("…_文库吧" / "…")
        title = titles[0]
        while title + 1 in titles and SequenceMatcher(None, lines[title], lines[title + 1]).ratio() >= TITLE_SIMILARITY:
            title += 1
    number = [title + 1] if title + 1 < len(lines) and _DOC_NUMBER_LINE.fullmatch(lines[title + 1]) else []
    return {title, *number}


def _plainly_report(line: str) -> bool:
    """Lines no site adds, which the classifier may not remove: numbered headings, attachment lists
    ("附件：1.…") and long sentences of several clauses ending in 。"""
    found = heading(line)
    if (found and found[0] <= NUMBERED_HEADING_RANK) or _ATTACHMENT.match(line):
        return True
    return len(line) >= PROSE_CHARS and line.endswith("。") and len(_CLAUSE.findall(line)) >= 2


def _header(lines: list[str], removed: set[int]) -> list[int]:
    """Indices of the leading lines before the first sentence or heading (boilerplate skipped)."""
    header: list[int] = []
    for i, line in enumerate(lines):
        if i in removed:
            continue
        if _HEADER_ONLY.fullmatch(line):
            header.append(i)
            continue
        if len(header) == MAX_HEADER_LINES or _SENTENCE_PUNCT.search(line) or heading(line):
            break
        header.append(i)
    return header


def _title_copies(lines: list[str], candidates: list[int]) -> list[int]:
    """Repeated title lines among the header lines `candidates`.

    Of exact repeats (ignoring spaces) the first is kept; of near repeats ("…总结范文和…" before
    "…总结和…") the last, since web pages put a decorated or truncated page title first.
    """
    squeezed = {i: lines[i].replace(" ", "") for i in candidates}
    copies: set[int] = set()
    for n, i in enumerate(candidates):
        for j in candidates[n + 1 :]:
            if i in copies or j in copies:
                continue
            if squeezed[i] == squeezed[j]:
                copies.add(j)
            elif SequenceMatcher(None, squeezed[i], squeezed[j]).ratio() >= TITLE_SIMILARITY:
                copies.add(i)
    return sorted(copies)
