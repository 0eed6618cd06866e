"""Layout and language features of each line of a document, for the boilerplate line classifier.

A line is described by what it is (length, share of ideographs, digits, Latin letters and
punctuation, sentence ends, URLs, dates, page numbers, web-widget words, heading markers) and where
it is (position, distance from the first and last sentence of prose, its neighbours), and by how
much of its vocabulary (character bigrams) the rest of the document shares: the lines of a report
share words with each other, the lines a site adds around it do not.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from .structure import heading

_CJK = re.compile(r"[\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_DIGIT = re.compile(r"\d")
_LATIN = re.compile(r"[A-Za-z]")
_PUNCT = re.compile(r"[^\w\s]")
_SENTENCE_END = re.compile(r"[。！？；;!?]$")
_CLAUSE = re.compile(r"[，,。；;、]")
_URL = re.compile(r"https?://|www\.|\.(?:com|cn|net|org)\b|@|ICP|备\d{6,}", re.IGNORECASE)
_DATE = re.compile(r"(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}|\d{1,2}:\d{2}")
_PAGE_NUMBER = re.compile(r"[-—–]\s*\d{1,4}\s*[-—–]|第\s*\d+\s*页(?:\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+")
_LABEL = re.compile(r"^[\u4e00-\u9fff]{2,5}\s*[:：]")
#: Words of web-page furniture: share bars, navigation, counters, footers, forums, WeChat.
_WIDGET = re.compile(
    "分享|微信|微博|QQ|点击|浏览|阅读|来源|编辑|审核|上一篇|下一篇|首页|当前位置|打印|关闭|收藏|下载|举报|版权"
    "|地址|电话|传真|邮编|技术支持|关注|扫一扫|二维码|回复|发表于|楼主|字体|字号|评论|登录|注册|推荐|网友|范文"
    "|供您参考|整理|文档|页数|上传|积分|次数|在看|原文|网站|主办|发布者|管理员|返回|列表|帖|沙发|Copyright|©",
    re.IGNORECASE,
)

#: Lines before the first or after the last sentence of prose are counted up to this many.
BLOCK_LINES = 20
#: Shortest line counted as prose when finding where the report's text begins and ends.
PROSE_CHARS = 15

FEATURE_NAMES = (
    "log_length",
    "cjk_share",
    "digit_share",
    "latin_share",
    "punct_share",
    "space_share",
    "ends_sentence",
    "clauses",
    "url",
    "date",
    "date_near_start",
    "page_number",
    "label_colon",
    "widget_words",
    "heading",
    "position",
    "near_start",
    "near_end",
    "before_prose",
    "after_prose",
    "vocabulary_shared",
    "repeated",
    "neighbours_prose",
    "short_no_clause",
    "short_inside_prose",
    "lines_before_prose",
    "lines_after_prose",
    "head_block",
    "tail_block",
    "neighbour_widget_words",
    "widget_words_unshared",
)


def line_features(lines: list[str]) -> np.ndarray:
    """A (len(lines), len(FEATURE_NAMES)) float32 matrix for the non-empty lines of one document."""
    n = len(lines)
    prose = [is_prose(line) for line in lines]
    first = prose.index(True) if any(prose) else n
    last = n - 1 - prose[::-1].index(True) if any(prose) else -1
    grams = [bigrams(line) for line in lines]
    document = Counter(b for line_grams in grams for b in line_grams)
    counts = Counter(lines)
    widgets = [min(len(_WIDGET.findall(line)), 4) / 4 for line in lines]
    rows = []
    for i, line in enumerate(lines):
        length = max(len(line), 1)
        near_start = math.exp(-i / 3)
        neighbours = [prose[j] for j in (i - 1, i + 1) if 0 <= j < n]
        shared = sum(1 for b in grams[i] if document[b] > grams[i][b]) / max(len(grams[i]), 1)
        date = bool(_DATE.search(line))
        rows.append(
            (
                math.log1p(len(line)),
                len(_CJK.findall(line)) / length,
                len(_DIGIT.findall(line)) / length,
                len(_LATIN.findall(line)) / length,
                len(_PUNCT.findall(line)) / length,
                line.count(" ") / length,
                float(bool(_SENTENCE_END.search(line))),
                min(len(_CLAUSE.findall(line)), 5) / 5,
                float(bool(_URL.search(line))),
                float(date),
                float(date) * near_start,
                float(bool(_PAGE_NUMBER.search(line)) and len(line) <= 15),
                float(bool(_LABEL.match(line))),
                widgets[i],
                float(heading(line) is not None),
                i / max(n - 1, 1),
                near_start,
                math.exp(-(n - 1 - i) / 3),
                float(i < first),
                float(i > last),
                shared,
                float(counts[line] > 1),
                sum(neighbours) / max(len(neighbours), 1),
                float(len(line) < 40 and not _CLAUSE.search(line)),
                float(first < i < last and len(line) < 40 and not _CLAUSE.search(line) and heading(line) is None),
                min(max(first - i, 0), 10) / 10,
                min(max(i - last, 0), 10) / 10,
                min(first, BLOCK_LINES) / BLOCK_LINES if i < first else 0.0,
                min(n - 1 - last, BLOCK_LINES) / BLOCK_LINES if i > last else 0.0,
                sum(widgets[j] for j in (i - 2, i - 1, i + 1, i + 2) if 0 <= j < n) / 4,
                float(widgets[i] > 0) * (1 - shared),
            )
        )
    return np.asarray(rows, dtype=np.float32).reshape(n, len(FEATURE_NAMES))


def is_prose(line: str) -> bool:
    """Whether a line is a sentence of prose: at least PROSE_CHARS long and ending like a sentence."""
    return len(line) >= PROSE_CHARS and bool(_SENTENCE_END.search(line))


def bigrams(line: str) -> Counter[str]:
    """Character bigrams of the ideograph runs of `line`."""
    return Counter(run[k : k + 2] for run in _CJK_RUN.findall(line) for k in range(len(run) - 1))

