"""The records that flow through the package: ingest produces them, the corpus store keeps them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

#: Administrative levels, from the top down.
LEVELS = ("national", "province", "city", "district", "county", "unknown")

#: The years a report, a filter or an override may name: the People's Republic's bureaus, this century.
YEAR_MIN, YEAR_MAX = 1949, 2100

#: Document types of education-bureau texts.
DOC_TYPES = (
    "annual_summary",  # 年度工作总结
    "half_year_summary",  # 上半年/半年工作总结
    "plan",  # 工作计划 / 工作打算 / 工作思路
    "key_points",  # 工作要点
    "summary_and_plan",  # 工作总结及下一年(下半年)工作计划
    "implementation_opinion",  # 实施意见 / 通知 / 办法 / 方案 issued as policy
    "other",
)

SECTION_SEPARATOR = " > "


def text_hash(text: str) -> str:
    """Stable id of a paragraph's text: the first 16 hex digits of its SHA-256 (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class DocumentMetadata:
    """What a document says about itself. Every field may be overridden by the user."""

    title: str = ""
    bureau: str = ""  # issuing body as written, e.g. "xx区教育局"
    level: str = "unknown"  # one of LEVELS
    region: str = ""  # e.g. "吉林省", "" when not stated
    years: list[int] = field(default_factory=list)  # years covered, ascending
    doc_type: str = "other"  # one of DOC_TYPES
    script: str = "simplified"  # script of the source: "simplified" | "traditional" | "mixed"


@dataclass
class Paragraph:
    """A retrievable unit: a heading with its body, or one part of a long enumeration."""

    position: int  # 0-based order within the document
    text: str  # cleaned, simplified text (what is embedded, indexed and classified)
    original_text: str  # the same span before script conversion
    section_path: list[str]  # headings from the top level down, e.g. ["三、…", "(三)重点任务"]
    start: int  # character offsets of `text` in Document.text
    end: int
    has_placeholder: bool = False  # contains xx, *, ***, 〔...〕 style placeholders

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)

    @property
    def section(self) -> str:
        return SECTION_SEPARATOR.join(self.section_path)


@dataclass
class Document:
    """One ingested report: cleaned text, metadata and paragraphs."""

    doc_id: str  # stable, human-readable id (the file stem unless overridden)
    source_path: str  # absolute path of the file it was read from
    content_hash: str  # SHA-256 of the file's bytes
    format: str  # "txt" | "md" | "html" | "docx" | "pdf"
    encoding: str  # detected encoding, e.g. "utf-8", "utf-8-sig", "gb18030", "big5"; "" for binary formats
    text: str  # cleaned, simplified full text; paragraph offsets point into it
    original_text: str  # cleaned full text in the source script
    metadata: DocumentMetadata
    paragraphs: list[Paragraph]
    removed_lines: list[str] = field(default_factory=list)  # boilerplate the cleaner dropped, for review
    warnings: list[str] = field(default_factory=list)  # what the reader noticed, e.g. PDF pages without text
