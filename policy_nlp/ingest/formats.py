"""Reading a file into raw text: picks the reader by extension and rejects bad input early.

Error messages do not repeat the file's path (the caller reports it), except "file not found".
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import docx
import pypdf
from docx.table import Table

from policy_nlp.errors import InputError, UnsupportedFormatError

from .encoding import Decoded, decode_bytes, sniff_binary
from .errors import EmptyDocumentError, FileTooLargeError
from .webpage import read_html

#: Extension → format name.
FORMATS = {".txt": "txt", ".md": "md", ".html": "html", ".htm": "html", ".docx": "docx", ".pdf": "pdf"}
SUPPORTED_EXTENSIONS = tuple(FORMATS)
#: Default size limit for one report.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_SAVE_AS_HINTS = {".doc": ".docx", ".wps": ".docx", ".rtf": ".docx", ".odt": ".docx"}

_MD_LINE = re.compile(r"^\s*(?:#{1,6}\s+|>\s?|[-+*]\s+)")
# Bold markers next to another '*' are left alone: "***" is a placeholder in these reports.
# Character classes exclude the opening bracket too, so that a line of unclosed brackets is linear.
_MD_INLINE = re.compile(
    r"!\[[^\[\]]*\]\([^()]*\)|\[([^\[\]]+)\]\([^()]*\)|(?<!\*)\*\*([^*]+)\*\*(?!\*)|__([^_]+)__"
)
#: A PDF line this close to the usual line length was wrapped by the layout, unless it ends a sentence.
PDF_FULL_LINE = 0.85
_LINE_END = ("。", "！", "？", "：", "；", ":", ";")


@dataclass
class RawText:
    """The text of a file before cleaning, with how it was read."""

    text: str
    format: str  # "txt" | "md" | "html" | "docx" | "pdf"
    encoding: str  # detected encoding of text formats; "" for docx and pdf
    content_hash: str  # SHA-256 of the file's bytes
    warnings: list[str] = field(default_factory=list)


def read_document(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RawText:
    """Read a .txt/.md/.html/.docx/.pdf file, or raise a typed InputError saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if not path.is_file():
        raise InputError("not a regular file (a directory or device): nothing to ingest")
    extension = path.suffix.lower()
    _check(extension, path.stat().st_size, max_bytes)
    return _decode(path.read_bytes(), extension)


def read_bytes(data: bytes, filename: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RawText:
    """Read a report held in memory (an upload); ``filename`` is used only for its extension, never opened."""
    extension = Path(filename).suffix.lower()
    _check(extension, len(data), max_bytes)
    return _decode(data, extension)


def _check(extension: str, size: int, max_bytes: int) -> None:
    if extension not in FORMATS:
        hint = f"; save it as {_SAVE_AS_HINTS[extension]}" if extension in _SAVE_AS_HINTS else ""
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise UnsupportedFormatError(
            f"unsupported file type '{extension or '(no extension)'}': ingest reads {supported}{hint}"
        )
    if size == 0:
        raise EmptyDocumentError("empty file: nothing to ingest")
    if size > max_bytes:
        raise FileTooLargeError(
            f"file is {size / 2**20:.1f} MB, larger than the {max_bytes / 2**20:g} MB limit for one report; "
            "split it or raise --max-mb"
        )


def _decode(data: bytes, extension: str) -> RawText:
    decoded = _READERS[extension](data)
    nuls = decoded.text.count("\x00")
    if nuls:  # text files with NULs past the binary sniff, damaged PDF fonts
        decoded.text = decoded.text.replace("\x00", "")
        decoded.warnings.append(f"{nuls} NUL character(s) removed")
    return RawText(
        decoded.text, FORMATS[extension], decoded.encoding, hashlib.sha256(data).hexdigest(), decoded.warnings
    )


def _read_markdown(data: bytes) -> Decoded:
    """Markdown as plain text: heading, quote and list markers, emphasis, links and images removed."""
    decoded = decode_bytes(data)
    lines = (
        _MD_INLINE.sub(lambda m: m.group(1) or m.group(2) or m.group(3) or "", _MD_LINE.sub("", line))
        for line in decoded.text.splitlines()
    )
    return Decoded("\n".join(lines), decoded.encoding, decoded.warnings)


def _read_docx(data: bytes) -> Decoded:
    """Body paragraphs and table rows of a Word document, in document order."""
    if not zipfile.is_zipfile(BytesIO(data)):
        kind = sniff_binary(data)
        what = f"it looks like {kind}" if kind else "it is not a zip package"
        raise UnsupportedFormatError(f"not a Word .docx file: {what}; open it in Word and save it as .docx")
    try:
        names = zipfile.ZipFile(BytesIO(data)).namelist()
    except Exception as exc:  # intact end record, damaged directory: BadZipFile, NotImplementedError…
        raise UnsupportedFormatError(
            f"damaged .docx file ({type(exc).__name__}); open it in Word and save it again"
        ) from None
    if "word/document.xml" not in names:
        listing = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        raise UnsupportedFormatError(f"not a Word .docx file: a zip archive of other files ({listing})")
    try:
        document = docx.Document(BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors… on damaged packages
        raise UnsupportedFormatError(
            f"damaged .docx file ({type(exc).__name__}); open it in Word and save it again"
        ) from None
    lines = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(" ".join(dict.fromkeys(cell.text for cell in row.cells)) for row in block.rows)
        else:
            lines.append(block.text)
    return Decoded("\n".join(lines), "")


def _read_pdf(data: bytes) -> Decoded:
    """The text layer of a PDF, with lines that the layout wrapped joined again."""
    try:
        reader = pypdf.PdfReader(BytesIO(data))
        locked = reader.is_encrypted and not reader.decrypt("")
        pages = [] if locked else [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf raises PdfReadError, but also ValueError, KeyError… on damaged files
        raise UnsupportedFormatError(f"damaged or not a PDF file ({type(exc).__name__}); re-export it as PDF") from None
    if locked:
        raise InputError("password-protected PDF: remove the password and ingest it again")
    empty = [str(n) for n, text in enumerate(pages, 1) if not text.strip()]
    if len(empty) == len(pages):
        raise UnsupportedFormatError("PDF without a text layer (scanned pages?): run OCR on it first")
    warnings = [f"PDF page(s) {', '.join(empty)} have no text layer (scanned?); their text is missing"] if empty else []
    return Decoded(_unwrap([line.strip() for page in pages for line in page.splitlines()]), "", warnings)


def _unwrap(lines: list[str]) -> str:
    """Join lines that run to the usual full line length and do not end a sentence."""
    lengths = Counter(len(line) for line in lines if len(line) >= 10)
    full = lengths.most_common(1)[0][0] * PDF_FULL_LINE if lengths else float("inf")
    text = ""
    for line in lines:
        text += line + ("" if len(line) >= full and not line.endswith(_LINE_END) else "\n")
    return text


_READERS: dict[str, Callable[[bytes], Decoded]] = {
    ".txt": decode_bytes,
    ".md": _read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".docx": _read_docx,
    ".pdf": _read_pdf,
}
