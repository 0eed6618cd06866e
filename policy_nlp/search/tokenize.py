"""Word segmentation for keyword search: jieba search-mode cut, domain words, stop words dropped.

Search mode (`cut_for_search`) emits a long word and the shorter words inside it
(课后服务 -> 课后, 服务, 课后服务), so the query 课后服务 still matches 课后延时服务 and 安全
matches 安全隐患. The same function segments paragraphs and queries.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import unicodedata
from functools import cache
from pathlib import Path

import jieba
import platformdirs

DOMAIN_WORDS: tuple[str, ...] = (
    "双减", "县管校聘", "课后服务", "5+2", "五项管理", "清廉学校", "党组织领导的校长负责制", "交流轮岗",
    "强师工程", "立德树人", "五育并举", "集团化办学", "优质均衡", "控辍保学", "校外培训", "美育浸润",
)
STOP_WORDS: frozenset[str] = frozenset(
    "的 地 得 了 着 过 和 与 及 以及 或 或者 并 并且 而 而且 等 等等 在 对 对于 为 为了 是 以 将 把 被 "
    "由 从 向 于 之 其 也 都 又 就 该 这 那 此 各 个 有 及其 通过 按照 根据 关于".split()
)
TOKENIZER_SETTINGS = {"mode": "cut_for_search", "hmm": True, "jieba": jieba.__version__,
                      "domain_words": list(DOMAIN_WORDS), "stop_words": sorted(STOP_WORDS)}


def tokenize(text: str) -> list[str]:
    """Segment `text` into lower-case search tokens, without punctuation, whitespace or stop words."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [t for t in _jieba().cut_for_search(text) if t not in STOP_WORDS and _is_word(t)]


def tokenizer_signature() -> str:
    """A short hash of the tokenizer settings: an index built with other settings must be rebuilt."""
    return hashlib.sha256(repr(sorted(TOKENIZER_SETTINGS.items())).encode()).hexdigest()[:16]


def _is_word(token: str) -> bool:
    """True if the token has a letter or digit (drops whitespace, punctuation and symbol-only tokens)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in token)


@cache
def _jieba() -> jieba.Tokenizer:
    """A private jieba tokenizer with the domain words, initialised without log output."""
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = _cache_dir()
    tokenizer.initialize()
    for word in DOMAIN_WORDS:
        tokenizer.add_word(word)
    return tokenizer


def _cache_dir() -> str:
    """Where jieba keeps its dictionary cache: the user cache dir, else the system temp dir."""
    path = Path(platformdirs.user_cache_dir("policy_nlp")) / "jieba"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return tempfile.gettempdir()
    return str(path)
