"""Reading a file into raw text: picks the reader by extension and rejects bad input early.

Error messages do not repeat the file's path (the caller reports it), except "file not found".
"""

from __future__ import annotations

import copy
import hashlib
import html
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import docx
import lxml.etree
import lxml.html
import pypdf
from docx.table import Table

from policy_nlp.errors import InputError, UnsupportedFormatError

from .encoding import Decoded, decode_bytes, sniff_binary
from .errors import EmptyDocumentError, FileTooLargeError
from .line_features import is_prose

#: Extension → format name.
FORMATS = {".txt": "txt", ".md": "md", ".html": "html", ".htm": "html", ".docx": "docx", ".pdf": "pdf"}
SUPPORTED_EXTENSIONS = tuple(FORMATS)
#: Default size limit for one report.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_SAVE_AS_HINTS = {".doc": ".docx", ".wps": ".docx", ".rtf": ".docx", ".odt": ".docx"}

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
#: Elements that make a table cell a layout cell when it holds several of them (an XPath test).
_LAYOUT_TEST = " or ".join(f"self::{tag}" for tag in ("p", "div", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"))
#: The parts of a table, renamed to <div> when the table lays out a page rather than holding data.
_TABLE_PARTS = "self::table|./*[self::thead or self::tbody or self::tfoot or self::tr or self::caption]|./tr|./*/tr|./tr/*|./*/tr/*"
#: A table more of whose text than this is link text is a list of links (a site's menu), not data.
LINK_TABLE_SHARE = 0.5
#: Share of the page's sentences (by characters) the main content may miss before all text is read.
MAX_PROSE_MISSED = 0.02
#: Pages nested this deep are read as plain text (libxml2, under lxml and trafilatura, stops at 255).
MAX_HTML_DEPTH = 250
_TAG = re.compile(r"<[^<>]*>")
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


def read_html(data: bytes) -> Decoded:
    """The main content of a web page, found by trafilatura, one block per line.

    The page's first <h1> is put first when the main content does not start with it. A page nested
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
    heading = next((h.text_content().strip() for h in tree.iter("h1")), "")
    everything = _block_text(copy.deepcopy(tree))
    main = trafilatura.extract(
        tree, output_format="txt", favor_recall=True, include_comments=False, include_tables=True, deduplicate=False
    )
    if not main:
        warnings.append("no main content found on the page: read all of its text")
        main = everything
    elif _prose_missed(everything, main) > MAX_PROSE_MISSED:
        warnings.append("the page's main content leaves out some of its sentences: read all of its text")
        main = everything
    first = next((line.strip() for line in main.splitlines() if line.strip()), "")
    return Decoded("\n".join(filter(None, (heading if heading != first else "", main))), decoded.encoding, warnings)


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
    that its paragraphs and links are lines, not table rows."""
    for table in list(tree.iter("table")):
        cells = table.xpath("./tr/*|./*/tr/*")
        text = len("".join(table.text_content().split()))
        links = sum(len("".join(link.text_content().split())) for link in table.iter("a"))
        if links > text * LINK_TABLE_SHARE or any(len(cell.xpath(f".//*[{_LAYOUT_TEST}]")) >= 2 for cell in cells):
            for part in table.xpath(_TABLE_PARTS):
                part.tag = "div"


def _prose_missed(everything: str, main: str) -> float:
    """Share of the characters of the sentences of prose in `everything` (a page's text) that are not in `main`."""
    squeezed = "".join(main.split())
    prose = ["".join(line.split()) for line in everything.splitlines() if is_prose(line.strip())]
    total = sum(map(len, prose))
    return sum(len(line) for line in prose if line not in squeezed) / total if total else 0.0


def _block_text(tree: lxml.html.HtmlElement) -> str:
    """All text of a page, with a line break after every block element and <br>."""
    for element in tree.iter(*_BLOCK_TAGS, "br"):
        element.tail = "\n" + (element.tail or "")
    return tree.text_content()


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
