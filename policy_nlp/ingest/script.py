"""Character-level normalisation and traditional → simplified conversion.

Conventions (applied to every line before cleaning):
- full-width ASCII letters, digits and the signs ％＊＋－．／＝＠＃＆ become half-width
  ("２０２４" → "2024", "1．" → "1."); Chinese punctuation (，。、；：？！（）“”) is kept as written,
  so "(一)" and "（一）" both stay as they are;
- zero-width characters are dropped; runs of spaces, tabs, no-break and ideographic spaces become one
  space, and a space between two Chinese characters is dropped; lines are stripped.

Script conversion is done line by line with OpenCC t2s and is kept length-preserving, so offsets into
the simplified text are also offsets into the original-script text.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

import opencc

_HALF_WIDTH_SIGNS = "％＊＋－．／＝＠＃＆"
_FULL_TO_HALF = str.maketrans(
    {chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)}
    | {chr(c): chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)}
    | {chr(c): chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)}
    | {c: chr(ord(c) - 0xFEE0) for c in _HALF_WIDTH_SIGNS}
)
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[\s\u3000\u00a0]+")
_CJK_CHAR = r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”‘’]"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<={_CJK_CHAR}) (?={_CJK_CHAR})")
_IDEOGRAPH = re.compile(r"[\u3400-\u9fff]")

#: A text is "traditional" (or "simplified") when at least this share of its ideographs
#: change under t2s (or s2t) conversion; "mixed" when both shares reach it.
SCRIPT_SHARE = 0.02


@lru_cache(maxsize=2)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def normalise_line(line: str) -> str:
    """Apply the width and spacing conventions to one line."""
    line = _INVISIBLE.sub("", line.translate(_FULL_TO_HALF))
    line = _SPACES.sub(" ", line).strip()
    return _SPACE_BETWEEN_CJK.sub("", line)


def to_simplified(line: str) -> str:
    """Convert one line to simplified script, keeping its length (char by char where phrases differ)."""
    t2s = _converter("t2s")
    converted = t2s.convert(line)
    if len(converted) == len(line):
        return converted
    return "".join(c if len(c := t2s.convert(ch)) == 1 else ch for ch in line)


def detect_script(text: str) -> str:
    """'simplified', 'traditional' or 'mixed': which script the ideographs of `text` are written in."""
    counts = Counter(_IDEOGRAPH.findall(text))
    total = sum(counts.values())
    if not total:
        return "simplified"
    traditional = _changed_count(counts, "t2s") / total
    simplified = _changed_count(counts, "s2t") / total
    if traditional >= SCRIPT_SHARE and simplified >= SCRIPT_SHARE:
        return "mixed"
    return "traditional" if traditional >= SCRIPT_SHARE else "simplified"


def _changed_count(counts: Counter[str], config: str) -> int:
    """How many of the counted characters the conversion `config` changes."""
    convert = _converter(config).convert
    return sum(n for char, n in counts.items() if convert(char) != char)
