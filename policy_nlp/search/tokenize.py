"""Analyzers for keyword search: jieba words (`tokenize`) and character uni+bigrams (`char_ngrams`).

Words are jieba's precise mode (`lcut`) with its own dictionary only. Search mode (`cut_for_search`,
which adds the shorter words inside a long one) and a list of custom domain words (县管校聘, 课后服务, …)
both ranked worse on the tuning half of the judged queries (nDCG@10 0.731 with both, 0.774 with
neither; `benchmarks/bench_word_analyzers.py`): the overlapping sub-words count one concept two or three
times and lengthen every paragraph, and a domain word stops 课后服务 from matching 课后延时服务.
Character n-grams need no dictionary, so they cannot mis-segment 县管校聘 or 一校一品. The same
function analyzes paragraphs and queries.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import unicodedata
from functools import cache
from pathlib import Path

import jieba
import platformdirs

STOP_WORDS: frozenset[str] = frozenset(
    "的 地 得 了 着 过 和 与 及 以及 或 或者 并 并且 而 而且 等 等等 在 对 对于 为 为了 是 以 将 把 被 "
    "由 从 向 于 之 其 也 都 又 就 该 这 那 此 各 个 有 及其 通过 按照 根据 关于".split()
)
_RUNS = re.compile(r"[^\W_]+")
_UNITS = re.compile(r"[a-z]+|[0-9]+|[^\W_]")
TOKENIZER_SETTINGS = {"mode": "lcut", "hmm": True, "jieba": jieba.__version__, "stop_words": sorted(STOP_WORDS)}


def tokenize(text: str) -> list[str]:
    """Segment `text` into lower-case search tokens, without punctuation, whitespace or stop words."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [t for t in _jieba().lcut(text) if t not in STOP_WORDS and _is_word(t)]


def char_ngrams(text: str) -> list[str]:
    """Character unigrams, then bigrams, of each run of letters and digits (NFKC, lower case).

    A run of ASCII letters or digits counts as one character (python, 2023), so words and numbers stay whole;
    bigrams never cross punctuation or spaces.
    """
    runs = _unit_runs(text)
    return [u for units in runs for u in units] + [a + b for units in runs for a, b in zip(units, units[1:])]


def char_bigrams(text: str) -> set[str]:
    """The distinct character bigrams of `char_ngrams`."""
    return {a + b for units in _unit_runs(text) for a, b in zip(units, units[1:])}


def _unit_runs(text: str) -> list[list[str]]:
    return [_UNITS.findall(run) for run in _RUNS.findall(unicodedata.normalize("NFKC", text).lower())]


#: The analyzers a keyword index can use, by name, with the settings that define them.
ANALYZERS = {"words": tokenize, "chars": char_ngrams}
ANALYZER_SETTINGS = {"words": TOKENIZER_SETTINGS, "chars": {"ngrams": [1, 2], "units": "CJK char | [a-z]+ | [0-9]+"}}


def tokenizer_signature(analyzer: str = "words") -> str:
    """A short hash of an analyzer's settings: an index built with other settings must be rebuilt."""
    settings = {"analyzer": analyzer, **ANALYZER_SETTINGS[analyzer]} if analyzer != "words" else TOKENIZER_SETTINGS
    return hashlib.sha256(repr(sorted(settings.items())).encode()).hexdigest()[:16]


def _is_word(token: str) -> bool:
    """True if the token has a letter or digit (drops whitespace, punctuation and symbol-only tokens)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in token)


@cache
def _jieba() -> jieba.Tokenizer:
    """A private jieba tokenizer, initialised without log output."""
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = _cache_dir()
    tokenizer.initialize()
    return tokenizer


def _cache_dir() -> str:
    """Where jieba keeps its dictionary cache: the user cache dir, else the system temp dir."""
    path = Path(platformdirs.user_cache_dir("policy_nlp")) / "jieba"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return tempfile.gettempdir()
    return str(path)
