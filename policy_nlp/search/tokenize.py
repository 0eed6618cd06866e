"""Analyzers for keyword search: jieba words (`tokenize`) and character uni+bigrams (`char_ngrams`).

Words are jieba's precise mode with its own dictionary only, segmented by rjieba (jieba's dictionary and HMM
in Rust, about 17 times faster; letter and digit runs joined by punctuation, such as 2010-2020, are split as
jieba splits them; `benchmarks/bench_segmenters.py` compares the two). Search mode (`cut_for_search`,
which adds the shorter words inside a long one) and a list of custom domain words (县管校聘, 课后服务, …)
both ranked worse on the tuning half of the judged queries (nDCG@10 0.731 with both, 0.774 with
neither; `benchmarks/bench_word_analyzers.py`): the overlapping sub-words count one concept two or three
times and lengthen every paragraph, and a domain word stops 课后服务 from matching 课后延时服务.
Character n-grams need no dictionary, so they cannot mis-segment 县管校聘 or 一校一品. The same
function analyzes paragraphs and queries. `analyze_batch` analyzes many paragraphs at once into token ids
(the character analyzer vectorised with numpy: the same tokens as `char_ngrams`, without making a Python
string of every token, which a million paragraphs could not hold in memory).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version

import numpy as np
import rjieba

STOP_WORDS: frozenset[str] = frozenset(
    "的 地 得 了 着 过 和 与 及 以及 或 或者 并 并且 而 而且 等 等等 在 对 对于 为 为了 是 以 将 把 被 "
    "由 从 向 于 之 其 也 都 又 就 该 这 那 此 各 个 有 及其 通过 按照 根据 关于".split()
)
_RUNS = re.compile(r"[^\W_]+")
_UNITS = re.compile(r"[a-z]+|[0-9]+|[^\W_]")
#: Analyzing more texts than this at once is shared among worker processes, this many texts at a time.
PARALLEL_MIN = 50_000
_PIECES = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?%?|[^\W_a-z0-9]+")  # jieba's pieces of a run with punctuation
TOKENIZER_SETTINGS = {"mode": "lcut", "hmm": True, "segmenter": "rjieba", "rjieba": version("rjieba"),
                      "stop_words": sorted(STOP_WORDS)}


def tokenize(text: str) -> list[str]:
    """Segment `text` into lower-case search tokens, without punctuation, whitespace or stop words."""
    text = unicodedata.normalize("NFKC", text).lower()
    pieces = (p for t in rjieba.cut(text) for p in ((t,) if _RUNS.fullmatch(t) else _PIECES.findall(t)))
    return [p for p in pieces if p not in STOP_WORDS and _is_word(p)]


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


def char_ngram_ids(texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """`char_ngrams` of many texts at once: (vocabulary, token ids into it, offsets), text i's tokens being
    ``vocabulary[t] for t in tokens[offsets[i]:offsets[i + 1]]``, in `char_ngrams`'s order.

    Code points are classified with numpy; only each distinct character and each ASCII letter or digit run
    becomes a Python string, never each token.
    """
    normal = [unicodedata.normalize("NFKC", text).lower() for text in texts]
    lengths = np.fromiter(map(len, normal), np.int64, len(normal))
    joined = "".join(normal)
    codes = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
    distinct = np.flatnonzero(np.bincount(codes, minlength=1))
    lookup = np.zeros(len(distinct) and int(distinct[-1]) + 1, np.int64)
    lookup[distinct] = np.arange(len(distinct))
    inverse = lookup[codes]
    chars = [chr(c) for c in distinct.tolist()]
    # 0: not in a run, 1: ASCII letter, 2: ASCII digit, 3: any other letter or digit (a unit of its own)
    kinds = np.array([0 if not _RUNS.match(ch) else 1 if "a" <= ch <= "z" else 2 if "0" <= ch <= "9" else 3
                      for ch in chars], np.int8)[inverse]  # fmt: skip
    text_of = np.repeat(np.arange(len(normal)), lengths)
    starts = np.zeros(len(codes), bool)
    text_starts = np.cumsum(lengths)[:-1]
    starts[text_starts[text_starts < len(codes)]] = True
    starts[0:1] = True
    same_run = ~starts & (kinds > 0) & (np.roll(kinds, 1) > 0)
    unit_start = (kinds > 0) & ~(same_run & (kinds != 3) & (kinds == np.roll(kinds, 1)))
    unit_at = np.flatnonzero(unit_start)
    unit_end = unit_at + 1
    runs_of_letters = np.flatnonzero(kinds[unit_at] != 3)
    if len(runs_of_letters):  # a letter or digit run ends where the next char differs in kind or the text ends
        boundary = np.flatnonzero(~(same_run & (kinds == np.roll(kinds, 1)))) if len(codes) else unit_at
        nxt = np.searchsorted(boundary, unit_at[runs_of_letters], side="right")
        unit_end[runs_of_letters] = np.append(boundary, len(codes))[nxt]
    unit_keys = inverse[unit_at].astype(np.int64)
    words = [joined[a:b] for a, b in zip(unit_at[runs_of_letters].tolist(), unit_end[runs_of_letters].tolist())]
    word_vocab, word_ids = np.unique(np.asarray(words, dtype=object), return_inverse=True) if words else ([], [])
    unit_keys[runs_of_letters] = len(chars) + np.asarray(word_ids, np.int64)
    unit_strings = chars + list(word_vocab)
    # bigrams: consecutive units of one run (no break between them) in one text
    unit_text = text_of[unit_at]
    pair = (unit_end[:-1] == unit_at[1:]) & same_run[unit_at[1:]] & (unit_text[:-1] == unit_text[1:])
    first = np.flatnonzero(pair)
    n_units = len(unit_strings)
    bigram_keys, bigrams = np.unique(unit_keys[first] * n_units + unit_keys[first + 1], return_inverse=True)
    vocab = unit_strings + [unit_strings[k // n_units] + unit_strings[k % n_units] for k in bigram_keys.tolist()]
    # each text's unigrams, then its bigrams, in text order (both lists are already in text order)
    unigram_counts = np.bincount(unit_text, minlength=len(normal))
    bigram_counts = np.bincount(unit_text[first], minlength=len(normal))
    offsets = np.concatenate([[0], np.cumsum(unigram_counts + bigram_counts)])
    unigram_starts = np.concatenate([[0], np.cumsum(unigram_counts)])
    bigram_starts = np.concatenate([[0], np.cumsum(bigram_counts)])
    tokens = np.empty(offsets[-1], np.int32)
    tokens[offsets[unit_text] + np.arange(len(unit_text)) - unigram_starts[unit_text]] = unit_keys
    bigram_text = unit_text[first]
    tokens[offsets[bigram_text] + unigram_counts[bigram_text] + np.arange(len(first)) - bigram_starts[bigram_text]] = (
        n_units + bigrams)
    return vocab, tokens, offsets


def analyze_batch(analyzer: str, texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Many texts analyzed by the analyzer named `analyzer`: (vocabulary, token ids, offsets), as `char_ngram_ids`.

    More than `PARALLEL_MIN` texts are analyzed `PARALLEL_MIN` at a time (memory stays bounded) by one worker
    process per core.
    """
    analyze = char_ngram_ids if analyzer == "chars" else _words
    workers = min(os.cpu_count() or 1, len(texts) // PARALLEL_MIN)
    if workers < 2:
        return analyze(texts)
    chunks = [texts[i:i + PARALLEL_MIN] for i in range(0, len(texts), PARALLEL_MIN)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = list(pool.map(analyze, chunks))
    vocab: dict[str, int] = {}
    tokens, offsets = [], [np.zeros(1, np.int64)]
    for part_vocab, part_tokens, part_offsets in parts:
        to_global = np.fromiter((vocab.setdefault(t, len(vocab)) for t in part_vocab), np.int32, len(part_vocab))
        tokens.append(to_global[part_tokens])
        offsets.append(offsets[-1][-1] + part_offsets[1:])
    return list(vocab), np.concatenate(tokens), np.concatenate(offsets)


def _words(texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    vocab: dict[str, int] = {}
    token_lists = [tokenize(text) for text in texts]
    tokens = np.fromiter((vocab.setdefault(t, len(vocab)) for tokens in token_lists for t in tokens), np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in token_lists], dtype=np.int64)])
    return list(vocab), tokens, offsets


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
