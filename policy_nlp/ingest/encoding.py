"""Decoding the bytes of text files: UTF-8 (with or without BOM), UTF-16, GB18030/GBK and Big5.

UTF-8 is tried strictly first. Otherwise GB18030 and Big5 are both tried and the decoded text is
checked for plausibility: real Chinese text is almost all common ideographs and punctuation, while a
wrong decode is full of rare characters, bopomofo, symbols or undecodable bytes. When neither or
both candidates look right, EncodingDetectionError is raised instead of returning mojibake.
UTF-16 without a byte-order mark is recognised by its NUL bytes (ASCII characters and line breaks)
when it decodes strictly to plausible text.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache

import charset_normalizer

from policy_nlp.errors import EncodingDetectionError

from .errors import BinaryFileError

#: A BOM-less UTF-16 decode is accepted when at least this share of its characters are ordinary.
MIN_UTF16_ORDINARY = 0.98
#: (reported name, codec used). Big5 is decoded with cp950, the Big5 that Windows writes.
CANDIDATES = (("gb18030", "gb18030"), ("big5", "cp950"))

#: A decode is accepted when at least this share of its ideographs are common characters...
MIN_COMMON_SHARE = 0.9
#: ...at most this share of all its characters are odd (rare symbols, kana, bopomofo, box drawing)...
MAX_ODD_SHARE = 0.02
#: ...at most this share of its characters come from undecodable bytes (at least one is allowed)...
MAX_BAD_SHARE = 0.001
#: ...and, when both candidates pass, it scores at least this much better than the other.
MIN_MARGIN = 0.05

_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"PK\x03\x04", "a zip archive or an Office file"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Word/Excel (.doc/.xls) file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
# Characters that real Chinese text is made of besides ideographs: ASCII, Latin-1 signs,
# general punctuation, CJK symbols and punctuation, full-width forms, a few math signs, № and circled digits.
_ORDINARY = re.compile(
    r"[\x00-\x7f\u00a0-\u00ff\u2000-\u206f\u2100-\u2199\u2460-\u24ff\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
)


@dataclass
class Decoded:
    """Text decoded from bytes, with the encoding that was detected."""

    text: str
    encoding: str
    warnings: list[str] = field(default_factory=list)


def sniff_binary(data: bytes) -> str | None:
    """What binary content `data` looks like ("a PNG image", ...), or None when it may be text."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    return "binary data" if b"\x00" in data[:8192] else None


def decode_bytes(data: bytes) -> Decoded:
    """Decode the bytes of a text file, or raise BinaryFileError / EncodingDetectionError."""
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16
    kind = sniff_binary(data)
    if kind:
        raise BinaryFileError(f"binary file (looks like {kind}): not a text document")
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data, "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16")
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":  # a cut-off copy: valid up to its last character
            return Decoded(data[: exc.start].decode("utf-8"), "utf-8", ["the file ends in the middle of a character"])
    scored = sorted((_try(data, name, codec) for name, codec in CANDIDATES), key=lambda c: c[0], reverse=True)
    accepted = [(score, decoded) for score, decoded in scored if decoded is not None]
    if len(accepted) == 1 or (len(accepted) == 2 and accepted[0][0] - accepted[1][0] >= MIN_MARGIN):
        return accepted[0][1]
    if accepted:
        names = " or ".join(decoded.encoding for _, decoded in accepted)
        raise EncodingDetectionError(
            f"cannot tell whether the text is {names}: both decode to plausible Chinese; re-save it as UTF-8"
        )
    guess = charset_normalizer.from_bytes(data).best()
    hint = f" (charset-normalizer's guess: {guess.encoding})" if guess else ""
    raise EncodingDetectionError(
        f"undecodable text: not valid UTF-8, GB18030/GBK or Big5 Chinese{hint}; re-save it as UTF-8"
    )


def _utf16_without_bom(data: bytes) -> Decoded | None:
    """`data` decoded as UTF-16 LE or BE when it has no BOM, NUL bytes, and decodes to plausible text."""
    if len(data) % 2 or b"\x00" not in data[:8192] or data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    for codec in ("utf-16-le", "utf-16-be"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for char in text if char < " " and char not in "\t\n\r")
        if not controls and len(_ORDINARY.findall(text)) >= MIN_UTF16_ORDINARY * len(text):
            return Decoded(text, codec)
    return None


def _strict(data: bytes, encoding: str) -> Decoded:
    try:
        return Decoded(data.decode(encoding), encoding)
    except UnicodeDecodeError as exc:
        raise EncodingDetectionError(
            f"the file starts with a {encoding} byte-order mark but byte {exc.start} is invalid {encoding}; "
            "re-save it as UTF-8"
        ) from None


def _try(data: bytes, name: str, codec: str) -> tuple[float, Decoded | None]:
    """Plausibility score of decoding `data` with `codec`, and the result when it is acceptable."""
    text = data.decode(codec, errors="replace")
    bad = text.count("\ufffd")
    ideographs = _CJK.findall(text)
    if not ideographs:
        return 0.0, None
    common = sum(map(_is_common, ideographs)) / len(ideographs)
    odd = (len(text) - len(_ORDINARY.findall(text)) - bad) / len(text)
    score = common - odd
    if common < MIN_COMMON_SHARE or odd > MAX_ODD_SHARE or bad > max(1, MAX_BAD_SHARE * len(text)):
        return score, None
    warnings = [f"{bad} undecodable byte sequence(s) replaced with \ufffd"] if bad else []
    return score, Decoded(text, name, warnings)


@lru_cache(maxsize=65536)
def _is_common(char: str) -> bool:
    """Whether an ideograph is a frequent one: GB2312 level 1 or Big5 level 1."""
    try:
        return 0xB0 <= char.encode("gb2312")[0] <= 0xD7
    except UnicodeEncodeError:
        pass
    try:
        return 0xA4 <= char.encode("big5")[0] <= 0xC6
    except UnicodeEncodeError:
        return False
