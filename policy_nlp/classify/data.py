"""Labelled paragraphs: the JSONL format and its loader.

One labelled paragraph per line::

    {"doc_id": "000", "text_hash": "9f2c…", "themes": ["safety"], "text": "…", "synthetic": false,
     "genre": "report", "note": "…"}

`doc_id`, `text_hash` (`policy_nlp.schema.text_hash` of the paragraph text) and `themes` (taxonomy
ids, possibly empty) are required. `text` is optional: paragraphs of documents whose text must not
live in the repository carry none and are resolved by (doc_id, text_hash) against a mapping the
caller builds from the corpus store. `synthetic` (default false) marks written-for-training rows,
which need `text`; `genre` (default "report": policy documents and work reports) names the kind of
text, e.g. "message" for a citizen's message or hotline digest, so evaluation can train on one genre
and test on another; `note` is a free-text reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..schema import text_hash as hash_text
from .taxonomy import Taxonomy, load_taxonomy

_REQUIRED = {"doc_id", "text_hash", "themes"}
_OPTIONAL = {"text", "synthetic", "genre", "note"}
DEFAULT_GENRE = "report"
_SHOWN = 5  # unresolved rows named in a message


@dataclass(frozen=True)
class LabelledSet:
    texts: list[str]
    doc_ids: np.ndarray  # (n,) str, the grouping for cross-validation
    text_hashes: np.ndarray  # (n,) str
    Y: np.ndarray  # (n, n_themes) int8, columns in taxonomy order
    synthetic: np.ndarray  # (n,) bool
    genres: np.ndarray  # (n,) str: "report", "message", …
    taxonomy: Taxonomy
    unresolved: tuple[str, ...] = ()  # "file:line doc_id text_hash" of text-less rows left out (strict=False)

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping], taxonomy: Taxonomy, unresolved: tuple[str, ...] = ()
    ) -> LabelledSet:
        """Build from mappings with `text`, `doc_id`, `themes` (ids) and optional `text_hash`, `synthetic`, `genre`."""
        records = list(records)
        column = {tid: j for j, tid in enumerate(taxonomy.ids)}
        Y = np.zeros((len(records), len(taxonomy)), dtype=np.int8)
        for i, r in enumerate(records):
            Y[i, [column[t] for t in r["themes"]]] = 1
        return cls(
            texts=[r["text"] for r in records],
            doc_ids=np.array([r["doc_id"] for r in records], dtype=str),
            text_hashes=np.array([r.get("text_hash") or hash_text(r["text"]) for r in records], dtype=str),
            Y=Y,
            synthetic=np.array([r.get("synthetic", False) for r in records], dtype=bool),
            taxonomy=taxonomy,
            genres=np.array([r.get("genre", DEFAULT_GENRE) for r in records], dtype=str),
            unresolved=unresolved,
        )


def load_labelled(
    paths: str | Path | Iterable[str | Path],
    taxonomy: Taxonomy | None = None,
    texts: Mapping[tuple[str, str], str] | None = None,
    *,
    strict: bool = True,
) -> LabelledSet:
    """Read labelled JSONL files into a LabelledSet.

    Text-less rows are looked up in `texts` by (doc_id, text_hash). Rows that are not found raise
    InputError (count and the first few) when `strict`; otherwise they are left out and listed in
    `LabelledSet.unresolved`.
    """
    taxonomy = taxonomy or load_taxonomy()
    texts = texts or {}
    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    rows: list[dict] = []
    seen: dict[tuple[str, str], str] = {}
    unresolved: list[str] = []
    for file in files:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise InputError(f"{file}: cannot read labelled data ({e.strerror})") from e
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{file}:{lineno}"
            row = _parse_line(line, where, taxonomy)
            key = (row["doc_id"], row["text_hash"])
            if key in seen:
                raise InputError(f"{where}: paragraph {key[0]}/{key[1]} is labelled again (first at {seen[key]})")
            seen[key] = where
            text = row.get("text", texts.get(key))
            if text is None:
                unresolved.append(f"{where} {key[0]} {key[1]}")
                continue
            rows.append({**row, "text": text})
    if unresolved and strict:
        raise InputError(
            f"{len(unresolved)} labelled paragraph(s) have no text and are not in the corpus store "
            f"(ingest their documents, or relabel if the paragraphs changed): "
            + "; ".join(unresolved[:_SHOWN])
            + (" …" if len(unresolved) > _SHOWN else "")
        )
    if not rows:
        raise InputError(f"no labelled paragraphs in {', '.join(map(str, files))}")
    return LabelledSet.from_records(rows, taxonomy, unresolved=tuple(unresolved))


def _parse_line(line: str, where: str, taxonomy: Taxonomy) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from e
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object")
    missing, unknown = _REQUIRED - row.keys(), row.keys() - _REQUIRED - _OPTIONAL
    if missing or unknown:
        raise InputError(f"{where}: missing {sorted(missing)} / unknown {sorted(unknown)} keys")
    for key in ("doc_id", "text_hash"):
        if not isinstance(row[key], str) or not row[key]:
            raise InputError(f"{where}: {key!r} must be a non-empty string")
    if "text" in row:
        if not isinstance(row["text"], str) or not row["text"].strip():
            raise InputError(f"{where}: 'text' must be a non-empty string when present")
        if hash_text(row["text"]) != row["text_hash"]:
            actual = hash_text(row["text"])
            raise InputError(f"{where}: text_hash {row['text_hash']} is not the hash of the text ({actual})")
    if not isinstance(row.get("genre", DEFAULT_GENRE), str) or not row.get("genre", DEFAULT_GENRE):
        raise InputError(f"{where}: 'genre' must be a non-empty string")
    if not isinstance(row.get("synthetic", False), bool):
        raise InputError(f"{where}: 'synthetic' must be true or false")
    if row.get("synthetic") and "text" not in row:
        raise InputError(f"{where}: a synthetic row needs its 'text'")
    if not isinstance(row["themes"], list) or not all(isinstance(t, str) for t in row["themes"]):
        raise InputError(f"{where}: 'themes' must be a list of theme ids")
    for tid in row["themes"]:
        if tid not in taxonomy.ids:
            hint = ""
            try:
                hint = f" (did you mean {taxonomy.get(tid).id!r}?)"
            except KeyError:
                pass
            raise InputError(f"{where}: unknown theme {tid!r}{hint}; known: {', '.join(taxonomy.ids)}")
    return row
