"""Property-based tests of every reader: random bytes, random encodings and random nesting.

Each input gives a Document or a typed PolicyNLPError, within a time bound per file (hypothesis'
deadline). Short in CI; for a long run set POLICY_NLP_FUZZ_EXAMPLES (examples per test), e.g.

    POLICY_NLP_FUZZ_EXAMPLES=5000 python -m pytest tests/test_ingest_fuzz.py -q
"""

from __future__ import annotations

import io
import os
import random
from datetime import timedelta

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from policy_nlp.errors import PolicyNLPError
from policy_nlp.ingest import ingest_file
from policy_nlp.schema import Document

EXTENSIONS = (".txt", ".md", ".html", ".docx", ".pdf")
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "gbk", "gb18030", "big5", "latin-1", "utf-32")
#: Longest time one file may take to read, ingest and clean (generous: the machine is shared).
PER_FILE = timedelta(seconds=20)
FUZZ = settings(
    max_examples=int(os.environ.get("POLICY_NLP_FUZZ_EXAMPLES", "15")),
    deadline=PER_FILE,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Real report text to mix into generated input.
PROSE = "县教育局2024年工作要点\n一、加强党的建设\n（一）全面落实“双减”，规范校外培训。\n1.强化师德师风建设。\n"
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


def check(tmp_path, name: str, data: bytes) -> None:
    """Ingesting `data` as `name` gives a Document with paragraphs, or a typed one-line error."""
    path = tmp_path / name
    path.write_bytes(data)
    try:
        doc = ingest_file(path)
    except PolicyNLPError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(doc, Document) and doc.paragraphs
    assert "\x00" not in doc.text


@FUZZ
@given(data=st.binary(max_size=4096), extension=st.sampled_from(EXTENSIONS))
def test_random_bytes(tmp_path, data, extension):
    check(tmp_path, f"random{extension}", data)


@FUZZ
@given(text=_TEXT, encoding=st.sampled_from(ENCODINGS), extension=st.sampled_from((".txt", ".md", ".html")))
def test_random_text_in_random_encodings(tmp_path, text, encoding, extension):
    check(tmp_path, f"text{extension}", (PROSE + text).encode(encoding, errors="replace"))


@st.composite
def nested_html(draw) -> str:
    """A random tree of block and inline tags, some left unclosed, with report text in the leaves."""
    tags = ("div", "p", "span", "table", "tr", "td", "section", "article", "ul", "li", "b", "font", "h1")
    depth = draw(st.integers(0, 3000))
    rng = random.Random(draw(st.integers(0, 2**32)))
    opened = [rng.choice(tags) for _ in range(depth)]
    close = draw(st.booleans())
    leaf = draw(st.sampled_from((PROSE, "", "<br>" * 5, draw(_TEXT))))
    inner = "".join(f"<{tag}>" for tag in opened) + leaf + ("".join(f"</{tag}>" for tag in reversed(opened)) if close else "")
    return f"<html><body>{inner}{PROSE if draw(st.booleans()) else ''}</body></html>"


@FUZZ
@given(page=nested_html())
def test_random_html_nesting(tmp_path, page):
    check(tmp_path, "nested.html", page.encode("utf-8"))


@FUZZ
@given(depth=st.integers(0, 200), text=_TEXT)
def test_random_markdown_nesting(tmp_path, depth, text):
    lines = "\n".join("> " * (depth - k) + "- " * k + line for k, line in enumerate(PROSE.splitlines()))
    check(tmp_path, "nested.md", (lines + "\n" + text).encode("utf-8"))


def _docx(depth: int, text: str) -> bytes:
    """A Word document with report text and tables nested `depth` deep."""
    document = docx.Document()
    for line in PROSE.splitlines():
        document.add_paragraph(line)
    cell = document.add_table(rows=1, cols=1).cell(0, 0)
    for _ in range(depth):
        cell = cell.add_table(rows=1, cols=1).cell(0, 0)
    cell.text = "".join(ch for ch in text if ch >= " " or ch in "\t\n")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@FUZZ
@given(depth=st.integers(0, 30), text=_TEXT, flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=8))
def test_random_docx_nesting_and_damage(tmp_path, depth, text, flips):
    check(tmp_path, "nested.docx", _mutate(_docx(depth, text), flips))


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.setFont("STSong-Light", 12)
    for n, line in enumerate(PROSE.splitlines()):
        page.drawString(72, 760 - 20 * n, line)
    page.save()
    return buffer.getvalue()


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=16))
def test_damaged_pdf(tmp_path, pdf_bytes, flips):
    check(tmp_path, "damaged.pdf", _mutate(pdf_bytes, flips))


def _mutate(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    """`data` with the bytes at the given positions (modulo its length) replaced."""
    mutable = bytearray(data)
    for position, value in flips:
        mutable[position % len(mutable)] = value
    return bytes(mutable)
