"""Theme tagging with a trained model: texts, JSONL files, whole reports, and the corpus store.

The model is anything with ``theme_ids_``, ``thresholds_``, ``predict_proba(texts)`` and
``uncertain(proba)`` (the shipped calibrated classifier, or a baseline wrapped in
``CalibratedThemeClassifier``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .classify.explain import driving_sentences, split_sentences
from .schema import Document

#: Texts longer than this are cut before classification (the encoder reads at most 512 tokens anyway).
MAX_TEXT_CHARS = 4000
#: Below this share of CJK characters a text is tagged with a warning that themes are unreliable.
MIN_CJK_SHARE = 0.2


class ThemeModel(Protocol):
    theme_ids_: Sequence[str]
    thresholds_: np.ndarray
    margin: float

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...

    def uncertain(self, proba: np.ndarray) -> np.ndarray: ...


@dataclass
class Prediction:
    """The themes of one text: those above their threshold, every theme's probability, and whether
    some probability sits near its threshold (`uncertain`: worth a human look, or a label)."""

    themes: list[str]
    scores: dict[str, float]
    uncertain: bool = False
    warnings: list[str] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)  # theme -> sentences that drove it


def _cjk_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalnum()]
    return sum("\u4e00" <= ch <= "\u9fff" for ch in letters) / len(letters) if letters else 0.0


def predict(model: ThemeModel, texts: Sequence[str], *, explain: bool = False) -> list[Prediction]:
    """Themes for each text. Long texts are cut (with a warning); explanations are optional (slower)."""
    cut = [t[:MAX_TEXT_CHARS] for t in texts]
    proba = model.predict_proba(cut) if cut else np.zeros((0, len(model.theme_ids_)))
    unsure = model.uncertain(proba) if cut else np.zeros(0, dtype=bool)
    out = []
    for text, row, flag in zip(texts, proba, unsure):
        scores = {t: round(float(p), 4) for t, p in zip(model.theme_ids_, row)}
        themes = [t for t, p, th in zip(model.theme_ids_, row, model.thresholds_) if p >= th]
        themes.sort(key=lambda t: -scores[t])
        warnings = []
        if len(text) > MAX_TEXT_CHARS:
            warnings.append(f"text of {len(text)} characters was cut to {MAX_TEXT_CHARS} for classification")
        if _cjk_share(text) < MIN_CJK_SHARE:
            warnings.append("little or no Chinese text: themes are unreliable")
        out.append(Prediction(themes, scores, bool(flag), warnings))
    if explain:
        _add_evidence(model, cut, proba, out)
    return out


def _add_evidence(model: ThemeModel, texts: list[str], proba: np.ndarray, predictions: list[Prediction]) -> None:
    """The sentences that drove each assigned theme, every sentence of every text scored in one batch."""
    sentences = [split_sentences(t) if p.themes else [] for t, p in zip(texts, predictions)]
    flat = [s for group in sentences for s in group]
    scores = model.predict_proba(flat) if flat else np.zeros((0, len(model.theme_ids_)))
    column = {t: j for j, t in enumerate(model.theme_ids_)}
    start = 0
    for group, row, pred in zip(sentences, proba, predictions):
        block = scores[start : start + len(group)]
        start += len(group)
        pred.evidence = {t: [s for s, _ in driving_sentences(group, block[:, column[t]], float(row[column[t]]))]
                         for t in pred.themes}  # fmt: skip


@dataclass
class TagSummary:
    """How much of a report goes to each theme: paragraph counts and share of the report's characters."""

    theme: str
    paragraphs: int
    share: float


def summarise(doc: Document, predictions: Sequence[Prediction], theme_ids: Sequence[str]) -> list[TagSummary]:
    """Per-theme paragraph counts and character share, most frequent first (themes with no paragraph left out)."""
    total = sum(len(p.text) for p in doc.paragraphs) or 1
    rows = []
    for theme in theme_ids:
        hits = [p for p, pred in zip(doc.paragraphs, predictions) if theme in pred.themes]
        if hits:
            rows.append(TagSummary(theme, len(hits), round(sum(len(p.text) for p in hits) / total, 4)))
    return sorted(rows, key=lambda r: (-r.paragraphs, r.theme))


@dataclass
class LineResult:
    """One line of a classify JSONL run: a prediction, or the reason the line could not be classified."""

    line: int
    id: object
    prediction: Prediction | None = None
    error: str = ""

    def to_json(self) -> dict[str, object]:
        if self.prediction is None:
            return {"id": self.id, "line": self.line, "error": self.error}
        p = self.prediction
        row: dict[str, object] = {"id": self.id, "themes": p.themes, "scores": p.scores, "uncertain": p.uncertain}
        if p.warnings:
            row["warnings"] = p.warnings
        if p.evidence:
            row["evidence"] = p.evidence
        return row


def read_jsonl_inputs(path: Path) -> Iterator[tuple[int, object, str | None, str]]:
    """(line number, id, text or None, error) for each non-blank line of a ``{"id", "text"}`` JSONL file.

    JSON Lines is UTF-8: a line that is not (a GBK or Big5 export) is an error, never tagged as mojibake.
    """
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, None, None, f"not UTF-8 text (byte {exc.start + 1} of the line): save the file as UTF-8"
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(row, dict):
                yield number, None, None, 'each line must be a JSON object like {"id": 1, "text": "…"}'
                continue
            text = row.get("text")
            if not isinstance(text, str):
                yield number, row.get("id"), None, 'missing "text" (a string)'
            elif not text.strip():
                yield number, row.get("id"), None, "empty text: nothing to classify"
            else:
                yield number, row.get("id"), text, ""


def classify_jsonl(model: ThemeModel, source: Path, *, batch: int = 64, explain: bool = False) -> Iterator[LineResult]:
    """Classify a JSONL file in batches; a bad line becomes an error result and the rest still runs."""
    pending: list[tuple[int, object, str]] = []

    def flush() -> Iterator[LineResult]:
        preds = predict(model, [t for _, _, t in pending], explain=explain)
        for (number, ident, _), pred in zip(pending, preds):
            yield LineResult(number, ident, pred)
        pending.clear()

    for number, ident, text, error in read_jsonl_inputs(source):
        if text is None:
            yield from flush()
            yield LineResult(number, ident, error=error)
            continue
        pending.append((number, ident, text))
        if len(pending) >= batch:
            yield from flush()
    yield from flush()
