"""The ingest pipeline: read → normalise → simplify → remove boilerplate → structure → metadata."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from policy_nlp.schema import Document, Paragraph

from .clean import find_boilerplate
from .errors import EmptyDocumentError
from .formats import DEFAULT_MAX_BYTES, RawText, read_bytes, read_document
from .line_features import is_prose
from .metadata import apply_overrides, extract_metadata, read_sidecar
from .script import detect_script, normalise_line, to_simplified
from .structure import has_placeholder, split_paragraphs


def ingest_file(
    path: str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    cleaning: str = "full",
) -> Document:
    """Ingest one report file. Sidecar metadata applies first, then `overrides` (None values ignored).

    `cleaning` chooses how boilerplate is found (see clean.CLEANING_MODES); "full" unless comparing.
    """
    path = Path(path).absolute()
    raw = read_document(path, max_bytes=max_bytes)
    document = _build(raw, doc_id=path.stem, source_path=str(path), cleaning=cleaning)
    return _override(document, (f"sidecar of {path.name}", read_sidecar(path)), ("overrides", overrides or {}))


def ingest_text(text: str, *, doc_id: str, source_path: str = "", overrides: dict[str, Any] | None = None) -> Document:
    """Ingest text already in memory (pasted text); content_hash is the SHA-256 of its UTF-8 bytes."""
    raw = RawText(text, "txt", "", hashlib.sha256(text.encode("utf-8")).hexdigest())
    return _override(_build(raw, doc_id=doc_id, source_path=source_path), ("overrides", overrides or {}))


def ingest_bytes(data: bytes, *, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Ingest a report held in memory (an upload): its format comes from ``filename``'s extension; nothing is read from disk."""
    return _build(read_bytes(data, filename, max_bytes=max_bytes), doc_id=Path(filename).stem, source_path="")


def _override(document: Document, *sources: tuple[str, dict[str, Any]]) -> Document:
    """Apply each (source name, overrides) in turn to the metadata and doc_id of `document`."""
    for source, values in sources:
        document.metadata, doc_id = apply_overrides(document.metadata, values, source)
        document.doc_id = doc_id or document.doc_id
    return document


def _inside_warning(count: int) -> list[str]:
    if not count:
        return []
    return [f"{count} line(s) between the report's sentences removed as site boilerplate; review them with show --removed"]


def _no_prose_warning(lines: list[str]) -> list[str]:
    if any(is_prose(line) for line in lines):
        return []
    return ["no sentence of report text found, only title or header lines: check that the file holds the whole report"]


def _build(raw: RawText, *, doc_id: str, source_path: str, cleaning: str = "full") -> Document:
    original_lines = [line for line in map(normalise_line, raw.text.splitlines()) if line]
    simplified_lines = [to_simplified(line) for line in original_lines]
    boilerplate = find_boilerplate(simplified_lines, cleaning)
    dropped = set(boilerplate.removed)
    kept = [i for i in range(len(original_lines)) if i not in dropped]
    if not kept:
        what = "only boilerplate" if original_lines else "no text"
        raise EmptyDocumentError(f"empty document: it holds {what}, nothing to ingest")
    original = "\n".join(original_lines[i] for i in kept)
    text = "\n".join(simplified_lines[i] for i in kept)
    paragraphs = [
        Paragraph(
            position=n,
            text=text[span.start : span.end],
            original_text=original[span.start : span.end],
            section_path=span.section_path,
            start=span.start,
            end=span.end,
            has_placeholder=has_placeholder(text[span.start : span.end]),
        )
        for n, span in enumerate(split_paragraphs(text))
    ]
    metadata = extract_metadata(
        text,
        script=detect_script(original),
        title_copies=[simplified_lines[i] for i in boilerplate.title_copies],
    )
    return Document(
        doc_id=doc_id,
        source_path=source_path,
        content_hash=raw.content_hash,
        format=raw.format,
        encoding=raw.encoding,
        text=text,
        original_text=original,
        metadata=metadata,
        paragraphs=paragraphs,
        removed_lines=[original_lines[i] for i in boilerplate.removed],
        warnings=raw.warnings + _inside_warning(len(boilerplate.inside)) + _no_prose_warning(text.split("\n")),
    )
