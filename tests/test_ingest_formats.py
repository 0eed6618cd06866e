"""Other formats and encodings of the seeds (generated at test time), and bad input."""

from __future__ import annotations

import html
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest

from policy_nlp.errors import EncodingDetectionError, InputError, UnsupportedFormatError
from policy_nlp.ingest import (
    BinaryFileError,
    EmptyDocumentError,
    FileTooLargeError,
    ingest_file,
    read_document,
)


def shape(doc):
    """Paragraph texts and section paths, after checking their offsets."""
    assert all(doc.text[p.start : p.end] == p.text for p in doc.paragraphs)
    return [(p.text, p.section_path) for p in doc.paragraphs]


def seed_lines(seed_path, prefix: str) -> list[str]:
    return seed_path(prefix).read_text(encoding="utf-8").splitlines()


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# --- encodings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "codec", "reported"),
    [
        ("003", "gbk", "gb18030"),  # GBK is read with its superset GB18030
        ("000", "gb18030", "gb18030"),
        ("001", "gb18030", "gb18030"),  # traditional characters in a GB file
        ("004", "utf-8-sig", "utf-8-sig"),
    ],
)
def test_encodings_give_the_same_paragraphs(tmp_path, seed_path, prefix, codec, reported):
    path = tmp_path / f"{prefix}.txt"
    path.write_bytes(seed_path(prefix).read_text(encoding="utf-8").encode(codec))
    doc = ingest_file(path)
    assert doc.encoding == reported
    assert shape(doc) == shape(ingest_file(seed_path(prefix)))


def test_big5_copy_of_traditional_seed(tmp_path, seed_path):
    # two footer characters have no Big5 code; they are in lines the cleaner drops anyway
    text = seed_path("001").read_text(encoding="utf-8").replace("简体", "簡體").replace("©", "(C)")
    path = tmp_path / "001.txt"
    path.write_bytes(text.encode("big5"))
    doc = ingest_file(path)
    assert doc.encoding == "big5"
    assert doc.metadata.script == "traditional"
    assert "區教育局" in doc.original_text and "区教育局" in doc.text
    assert shape(doc) == shape(ingest_file(seed_path("001")))


def test_crlf_line_ends(tmp_path, seed_path):
    path = tmp_path / "004.txt"
    path.write_bytes(seed_path("004").read_text(encoding="utf-8").replace("\n", "\r\n").encode("utf-8"))
    assert shape(ingest_file(path)) == shape(ingest_file(seed_path("004")))


# --- markup and binary formats --------------------------------------------------------------------


def page(body_lines: list[str], *, container: str = "article") -> str:
    paragraphs = "\n".join(f"<p>{html.escape(line)}</p>" for line in body_lines)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>教育局工作总结_范文网</title>
<script>var nav = "首页");</script><style>p {{ margin: 0 }}</style></head><body>
<header><a href="/">范文网</a> - <a href="/zj">工作总结</a></header>
<nav><ul><li>首页</li><li>工作总结</li><li>工作计划</li></ul></nav>
<div class="layout"><{container} id="content">{paragraphs}</{container}>
<aside><h3>相关推荐</h3><ul><li><a href="/1">学校工作总结范文10篇</a></li></ul></aside></div>
<footer>Copyright © 2024 范文网 版权所有 <a href="/about">关于我们</a></footer></body></html>"""


def test_html_main_content_only(tmp_path, seed_path):
    path = tmp_path / "000.html"
    path.write_text(page(seed_lines(seed_path, "000")), encoding="utf-8")
    doc = ingest_file(path)
    assert (doc.format, doc.encoding) == ("html", "utf-8")
    assert shape(doc) == shape(ingest_file(seed_path("000")))
    for junk in ("范文网", "相关推荐", "首页", "Copyright", "var nav"):
        assert junk not in doc.text


def test_html_without_article_finds_the_main_text(tmp_path, seed_path):
    path = tmp_path / "003.htm"
    markup = page(seed_lines(seed_path, "003"), container="div").replace('charset="utf-8"', 'charset="gbk"')
    path.write_bytes(markup.replace("©", "(C)").encode("gbk"))
    doc = ingest_file(path)
    assert doc.encoding == "gb18030"
    assert shape(doc) == shape(ingest_file(seed_path("003")))
    assert doc.warnings == []


def school_page(inner: str, *, title: str = "上级文件_云岭市滨江小学") -> str:
    """A school website's page (site lines around `inner`), as such systems write it."""
    return f"""<html><head><meta charset="utf-8"><title>{title}</title></head><body>
<h1 class="logo">云岭市滨江小学</h1><div class="menu"><a href="/">学校首页</a> | <a href="/sjwj">上级文件</a></div>
<div class="location">当前位置：首页 &gt;&gt; 上级文件</div>{inner}
<div class="foot">地址：云岭市滨江大道266号电话&amp;传真：0871-65109632</div></body></html>"""


def paragraphs(lines: list[str]) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda body: f"<form name='_newscontent_fromname'><div class='content'>{body}</div></form>",
        lambda body: f"<table width='100%'><tr><td class='content'>{body}</td></tr></table>",
    ],
    ids=["form", "layout-table"],
)
def test_article_in_a_form_or_a_layout_table_keeps_its_paragraphs(tmp_path, seed_path, wrap):
    # the extractor drops a <form> with its text, and writes a table cell's paragraphs as one row
    path = tmp_path / "004.html"
    path.write_text(school_page(wrap(paragraphs(seed_lines(seed_path, "004")))), encoding="utf-8")
    assert shape(ingest_file(path)) == shape(ingest_file(seed_path("004")))


def test_data_table_rows_are_read_like_word_table_rows(tmp_path, seed_path):
    # the extractor writes a table's rows as "| 1 | 东湖区实验小学 |" under a rule "|---|---|"
    table = "<table><tr><th>序号</th><th>学校名称</th></tr><tr><td>1</td><td>东湖区实验小学</td></tr></table>"
    path = tmp_path / "list.html"
    path.write_text(school_page(f"<article>{paragraphs(seed_lines(seed_path, '004'))}{table}</article>"), encoding="utf-8")
    lines = read_document(path).text.splitlines()
    start = lines.index("序号 学校名称")
    assert lines[start : start + 2] == ["序号 学校名称", "1 东湖区实验小学"]
    assert not any("|" in line for line in lines)


def test_headline_is_the_line_most_like_the_page_title_not_the_logo(tmp_path, seed_path):
    title = "云岭市教育局关于公布2024年中小学劳动教育特色学校名单的通知"
    inner = f"<div class='arc_title'>{title}</div><div class='content'>{paragraphs(seed_lines(seed_path, '004')[2:])}</div>"
    path = tmp_path / "notice.html"
    path.write_text(school_page(inner, title=f"关于公布2024年中小学劳动教育特色学校名单的通知_上级文件_云岭市滨江小学"), encoding="utf-8")
    lines = read_document(path).text.splitlines()
    assert lines[0] == title and "云岭市滨江小学" not in lines


def test_all_text_is_read_when_the_extractor_loses_the_body(tmp_path, seed_path):
    # a site that names its article block like a comment section: the extractor drops it
    path = tmp_path / "004.html"
    path.write_text(school_page(f"<div class='comments'>{paragraphs(seed_lines(seed_path, '004'))}</div>"), encoding="utf-8")
    doc = ingest_file(path)
    assert doc.warnings[0] == "the page's main content leaves out some of its sentences: read all of its text"
    assert all(p.text in doc.text for p in ingest_file(seed_path("004")).paragraphs)


def test_deeply_nested_html_is_read_in_linear_time(tmp_path):
    # 150,000 nested <div><p> (5 MB): minutes when each block's text was measured again (60,000: over 40 s)
    path = tmp_path / "deep.html"
    text = "全面落实&ldquo;双减&rdquo;，规范校外培训。"
    path.write_text("<html><body>" + "<div><p>" * 150_000 + text + "</p></div>" * 150_000, encoding="utf-8")
    script = f"from policy_nlp.ingest import ingest_file; print(ingest_file({str(path)!r}).text)"
    # a generous bound on a shared machine: the quadratic reader needed far more than this
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "全面落实“双减”，规范校外培训。"


def test_markdown(tmp_path, seed_path):
    lines = [f"## {line}" if line.startswith(("一、", "二、")) else line for line in seed_lines(seed_path, "004")]
    lines[0] = "# " + lines[0]
    lines = [line.replace("“强师工程”", "**“强师工程”**") for line in lines]
    path = tmp_path / "004.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    doc = ingest_file(path)
    assert doc.format == "md"
    assert shape(doc) == shape(ingest_file(seed_path("004")))


def test_docx(tmp_path, seed_path):
    document = docx.Document()
    for line in seed_lines(seed_path, "001"):
        document.add_paragraph(line)
    path = tmp_path / "001.docx"
    document.save(path)
    doc = ingest_file(path)
    assert (doc.format, doc.encoding) == ("docx", "")
    assert doc.metadata.script == "traditional"
    assert shape(doc) == shape(ingest_file(seed_path("001")))


def test_docx_tables_are_read_row_by_row(tmp_path):
    document = docx.Document()
    document.add_paragraph("县教育局2024年工作要点")
    table = document.add_table(rows=2, cols=2)
    for row, (name, value) in zip(table.rows, [("学前教育毛入园率", "96%"), ("公办率", "60%")]):
        row.cells[0].text, row.cells[1].text = name, value
    path = tmp_path / "table.docx"
    document.save(path)
    assert read_document(path).text == "县教育局2024年工作要点\n学前教育毛入园率 96%\n公办率 60%"


def write_pdf(lines: list[str], path: Path) -> None:
    """A PDF with a text layer; long lines are wrapped at the page width like a word processor does."""
    canvas = pytest.importorskip("reportlab.pdfgen.canvas")
    pdfmetrics = pytest.importorskip("reportlab.pdfbase.pdfmetrics")
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    font, size, margin = "STSong-Light", 10, 50
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    pdf = canvas.Canvas(str(path), pagesize=A4)
    width, height = A4
    y = height - margin
    for line in lines:
        rows = [""]
        for char in line:
            if pdfmetrics.stringWidth(rows[-1] + char, font, size) > width - 2 * margin:
                rows.append("")
            rows[-1] += char
        for row in rows:
            if y < margin:
                pdf.showPage()
                y = height - margin
            pdf.setFont(font, size)
            pdf.drawString(margin, y, row)
            y -= size * 1.5
    pdf.save()


@pytest.mark.parametrize("prefix", ["001", "003"])
def test_pdf_nearly_the_same_paragraphs(tmp_path, seed_path, prefix):
    path = tmp_path / f"{prefix}.pdf"
    write_pdf([line for line in seed_lines(seed_path, prefix) if line.strip()], path)
    doc = ingest_file(path)
    expected = ingest_file(seed_path(prefix))
    assert (doc.format, doc.encoding) == ("pdf", "")
    assert doc.metadata == expected.metadata
    # Same paragraphs and sections. Where a sentence ends exactly at the right margin the wrapped
    # line cannot be told from a paragraph end, so a line break may remain inside a paragraph.
    assert [p.section_path for p in doc.paragraphs] == [p.section_path for p in expected.paragraphs]
    assert [p.text.replace("\n", "") for p in doc.paragraphs] == [p.text.replace("\n", "") for p in expected.paragraphs]
    same = sum(a.text == b.text for a, b in zip(doc.paragraphs, expected.paragraphs))
    assert same >= 0.9 * len(expected.paragraphs)


def test_pdf_without_text_layer(tmp_path):
    canvas = pytest.importorskip("reportlab.pdfgen.canvas")
    pdf = canvas.Canvas(str(tmp_path / "scan.pdf"))
    pdf.rect(100, 100, 200, 200, fill=1)  # a drawing, no text
    pdf.save()
    with pytest.raises(UnsupportedFormatError) as exc:
        ingest_file(tmp_path / "scan.pdf")
    assert "without a text layer" in one_line(exc)


@pytest.mark.parametrize(("user_password", "opens"), [("secret", False), ("", True)])
def test_encrypted_pdf(tmp_path, user_password, opens):
    import pypdf

    plain = tmp_path / "plain.pdf"
    write_pdf(["县教育局2024年工作要点"], plain)
    writer = pypdf.PdfWriter(clone_from=plain)
    writer.encrypt(user_password, owner_password="owner", algorithm="RC4-128")
    writer.write(tmp_path / "locked.pdf")
    if opens:  # only editing is restricted: the text can be read
        assert read_document(tmp_path / "locked.pdf").text.strip() == "县教育局2024年工作要点"
        return
    with pytest.raises(InputError) as exc:
        ingest_file(tmp_path / "locked.pdf")
    assert one_line(exc) == "password-protected PDF: remove the password and ingest it again"


# --- bad input ------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(EmptyDocumentError) as exc:
        ingest_file(tmp_path / "empty.txt")
    assert one_line(exc) == "empty file: nothing to ingest"


@pytest.mark.parametrize(
    ("content", "what"),
    [(" \n\u3000\u3000\n\t\n", "no text"), ("收藏\n相关推荐\n下一篇:工作计划\n", "only boilerplate")],
)
def test_file_without_report_text(tmp_path, content, what):
    (tmp_path / "blank.txt").write_text(content, encoding="utf-8")
    with pytest.raises(EmptyDocumentError) as exc:
        ingest_file(tmp_path / "blank.txt")
    assert what in one_line(exc)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "a PNG image"),
        (b"PK\x03\x04" + b"\x00" * 100, "a zip archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "an old Word/Excel"),
        (b"abc\x00\x01\x02" * 50, "binary data"),
    ],
)
def test_binary_file(tmp_path, data, what):
    (tmp_path / "report.txt").write_bytes(data)
    with pytest.raises(BinaryFileError) as exc:
        ingest_file(tmp_path / "report.txt")
    message = one_line(exc)
    assert message.startswith("binary file (looks like ") and what in message
    assert message.endswith("not a text document")


def test_undecodable_bytes(tmp_path):
    (tmp_path / "garbage.txt").write_bytes(bytes(range(0x81, 0xFF)) * 20)
    with pytest.raises(EncodingDetectionError) as exc:
        ingest_file(tmp_path / "garbage.txt")
    assert "not valid UTF-8, GB18030/GBK or Big5 Chinese" in one_line(exc)


def test_non_chinese_legacy_encoding_is_not_guessed(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Rapport d'activité de l'école élémentaire, année scolaire".encode("latin-1"))
    with pytest.raises(EncodingDetectionError):
        ingest_file(tmp_path / "latin.txt")


def test_too_large_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing written
    with pytest.raises(FileTooLargeError) as exc:
        ingest_file(path)
    assert one_line(exc) == "file is 50.0 MB, larger than the 20 MB limit for one report; split it or raise --max-mb"
    with pytest.raises(FileTooLargeError):
        ingest_file(Path(__file__).parents[1] / "corpus" / "seeds" / "003_fc4fde995a027cff.txt", max_bytes=10_000)


def test_docx_that_is_a_zip_of_something_else(tmp_path):
    path = tmp_path / "report.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.csv", "year,schools\n2024,17\n")
        archive.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedFormatError) as exc:
        ingest_file(path)
    assert one_line(exc) == "not a Word .docx file: a zip archive of other files (data.csv, notes.txt)"


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda data, cd: data[:cd] + b"PK\x00\x00" + data[cd + 4 :], "BadZipFile"),  # directory signature
        (lambda data, cd: data[:cd + 6] + b"\x40\x00" + data[cd + 8 :], "NotImplementedError"),  # "zip version 6.4"
    ],
)
def test_docx_with_a_damaged_zip_directory(tmp_path, damage, error):
    # found by the long fuzz runs: the end record is intact (is_zipfile says yes), the directory is not
    path = tmp_path / "report.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    data = path.read_bytes()
    path.write_bytes(damage(data, data.index(b"PK\x01\x02")))
    with pytest.raises(UnsupportedFormatError) as exc:
        ingest_file(path)
    assert one_line(exc) == f"damaged .docx file ({error}); open it in Word and save it again"


def test_docx_that_is_not_a_zip(tmp_path, seed_path):
    path = tmp_path / "report.docx"
    path.write_bytes(seed_path("004").read_bytes())
    with pytest.raises(UnsupportedFormatError) as exc:
        ingest_file(path)
    assert "not a Word .docx file: it is not a zip package" in one_line(exc)


def test_damaged_pdf(tmp_path):
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7\n" + b"garbage " * 100)
    with pytest.raises(UnsupportedFormatError) as exc:
        ingest_file(tmp_path / "report.pdf")
    assert "damaged or not a PDF file" in one_line(exc)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.xlsx", "unsupported file type '.xlsx': ingest reads .txt, .md, .html, .htm, .docx, .pdf"),
        (
            "report.doc",
            "unsupported file type '.doc': ingest reads .txt, .md, .html, .htm, .docx, .pdf; save it as .docx",
        ),
        ("README", "unsupported file type '(no extension)': ingest reads .txt, .md, .html, .htm, .docx, .pdf"),
    ],
)
def test_unsupported_extension(tmp_path, name, expected):
    (tmp_path / name).write_bytes(b"data")
    with pytest.raises(UnsupportedFormatError) as exc:
        ingest_file(tmp_path / name)
    assert one_line(exc) == expected


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as exc:
        ingest_file(tmp_path / "nope.txt")
    assert one_line(exc).startswith("file not found: ")
