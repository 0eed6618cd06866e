"""The Python API: one ``Workspace`` per home directory, the same operations as the CLI.

>>> from policy_nlp import Workspace
>>> ws = Workspace()                      # or Workspace(home="~/policy-data")
>>> ws.ingest(["corpus/"])                # read, clean, structure and store the reports
>>> ws.paragraphs_frame().head()          # one row per paragraph, for notebooks
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from .classify.persistence import SHIPPED_DIR as DEFAULT_THEME_MODEL
from .corpus import CorpusStore
from .errors import ConfigError, DocumentNotFoundError, ModelError, PolicyNLPError
from .home import resolve_home
from .ingest import DEFAULT_MAX_BYTES, ingest_file, iter_document_paths
from .ingest.metadata import apply_overrides
from .schema import SECTION_SEPARATOR, Document, DocumentMetadata
from .search import indexes
from .search.engine import DEFAULT_MODE, Hit, SearchEngine
from .search.evaluate import evaluate, load_queries
from .search.filters import Filters
from .tagging import Prediction, TagSummary, ThemeModel, predict, summarise

if TYPE_CHECKING:
    import pandas as pd

EXPORT_FORMATS = (".parquet", ".jsonl", ".csv")
#: Paragraphs of a report file shorter than this (titles, bare headings) get no similar-initiative search.
MIN_SIMILAR_CHARS = 40
#: The project's judged search queries (paragraphs of corpus/seeds and ../shared/corpus/meiyu).
TAG_BATCH = 64
DEFAULT_SEARCH_EVAL = Path(__file__).resolve().parents[1] / "corpus" / "eval" / "search_queries.jsonl"


@dataclass(frozen=True)
class IngestOutcome:
    """The result of ingesting one file: stored (added / replaced / unchanged) or failed with a reason."""

    path: str
    status: str  # "added" | "replaced" | "unchanged" | "failed"
    doc_id: str = ""
    paragraphs: int = 0
    title: str = ""
    error: str = ""


class Workspace:
    """The corpus store (and, later, indexes and models) under one home directory."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = resolve_home(home)
        self.store = CorpusStore.in_home(self.home)
        self._engine: SearchEngine | None = None
        self._theme_models: dict[Path, ThemeModel] = {}

    def close(self) -> None:
        self.store.close()

    @property
    def engine(self) -> SearchEngine:
        """The search engine over this home's indexes (opened on first use)."""
        if self._engine is None:
            self._engine = SearchEngine.open(self.store, self.home)
        return self._engine

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        overrides: dict[str, object] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        progress: bool | None = None,
    ) -> list[IngestOutcome]:
        """Ingest files and directories (recursively). A bad file is reported and the run goes on.

        ``overrides`` sets metadata fields (title, bureau, level, region, years, doc_type, script) on every
        document of this run. ``progress=None`` shows a progress bar only on a terminal.
        """
        apply_overrides(DocumentMetadata(), overrides or {}, "overrides")  # a bad value stops the run before it starts
        files = list(iter_document_paths([Path(p) for p in paths]))
        outcomes = []
        for path in tqdm(files, desc="ingest", unit="file", disable=_no_bar(progress, len(files))):
            outcomes.append(self._ingest_one(path, overrides, max_bytes))
        return outcomes

    def _ingest_one(self, path: Path, overrides: dict[str, object] | None, max_bytes: int) -> IngestOutcome:
        try:
            doc = ingest_file(path, overrides=overrides, max_bytes=max_bytes)
        except PolicyNLPError as exc:  # bad file or bad sidecar: report it, go on with the rest
            return IngestOutcome(str(path), "failed", error=str(exc))
        result = self.store.add_document(doc)
        return IngestOutcome(str(path), result.status, result.doc_id, result.paragraphs, doc.metadata.title)

    def documents(self) -> list[dict[str, object]]:
        """One summary per stored document."""
        return self.store.list_documents()

    def document(self, ref: str) -> Document:
        """A stored document with its paragraphs, by id or by the path it was ingested from."""
        return self.store.get_document(ref)

    def remove(self, ref: str) -> int:
        """Remove a document and its paragraphs; returns the number of paragraphs removed."""
        return self.store.remove_document(self.store.resolve_doc_id(ref))

    def paragraphs_frame(self) -> pd.DataFrame:
        """Every paragraph with its document's metadata, one row each."""
        return self.store.paragraphs_frame()

    def documents_frame(self) -> pd.DataFrame:
        """Every document's metadata, one row each."""
        return self.store.documents_frame()

    def export(self, path: str | Path, *, what: str = "paragraphs") -> Path:
        """Write paragraphs or documents to ``.parquet``, ``.jsonl`` or ``.csv`` (by the file's suffix)."""
        path = Path(path)
        if path.suffix not in EXPORT_FORMATS:
            raise ConfigError(f"cannot export to '{path.name}': use a file ending in {', '.join(EXPORT_FORMATS)}")
        if what not in ("paragraphs", "documents"):
            raise ConfigError(f"cannot export '{what}': choose 'paragraphs' or 'documents'")
        frame = self.paragraphs_frame() if what == "paragraphs" else self.documents_frame()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif path.suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(tmp, index=False)
        tmp.replace(path)
        return path

    # -- search ------------------------------------------------------------------------------

    def build_index(self, *, model: str | None = None, kind: str = "flat", progress: bool = True) -> indexes.IndexReport:
        """Embed every stored paragraph and (re)build the dense and BM25 indexes.

        ``model``: None for the embedded multilingual-e5-small, or a sentence-transformers name or folder.
        ``kind``: "flat" (exact, default), "hnsw", "ivfpq", or a FAISS factory string.
        """
        self._engine = None
        return indexes.build(self.store, self.home, model=model, kind=kind, show_progress=progress)

    def update_index(self, *, progress: bool = True) -> indexes.IndexReport:
        """Add new paragraphs to the indexes and drop removed ones (also repairs a disagreement).

        Builds them (with the embedded model) when they do not exist yet.
        """
        self._engine = None
        if not indexes.exists(self.home):
            return indexes.build(self.store, self.home, show_progress=progress)
        return indexes.update(self.store, self.home, show_progress=progress)

    def check_index(self) -> indexes.IndexReport:
        """Compare the indexes with the store without changing anything."""
        return indexes.check(self.store, self.home)

    def search(self, query: str, *, k: int = 10, mode: str = DEFAULT_MODE, filters: Filters | None = None,
               group: bool = True) -> list[Hit]:
        """Paragraphs most relevant to a phrase or a pasted paragraph, near-duplicates grouped."""
        return self.engine.search(query, k=k, mode=mode, filters=filters, group=group)

    def similar(
        self,
        *,
        para_id: int | None = None,
        text: str | None = None,
        path: str | Path | None = None,
        k: int = 10,
        mode: str = DEFAULT_MODE,
        filters: Filters | None = None,
        other_bureaus: bool = True,
    ) -> list[SimilarResult]:
        """Similar initiatives elsewhere for a stored paragraph, a pasted text, or every paragraph of a report file.

        A stored paragraph never matches its own document; with ``other_bureaus`` it does not match any
        document of the same bureau either. A report file is read (not stored) and each of its paragraphs
        of at least ``MIN_SIMILAR_CHARS`` characters gets its own results (never from the report itself, if stored).
        """
        if sum(x is not None for x in (para_id, text, path)) != 1:
            raise ConfigError("give exactly one of a paragraph id, a text, or a report file")
        filters = filters or Filters()
        if para_id is not None:
            found = list(self.store.iter_paragraphs(para_ids=[para_id]))
            if not found:
                raise DocumentNotFoundError(f"no paragraph {para_id} in the store; search results show paragraph ids")
            source = found[0]
            same = {d["doc_id"] for d in self.documents() if other_bureaus and source.bureau and d["bureau"] == source.bureau}
            excluded = tuple(sorted(same | {source.doc_id})) + filters.exclude_doc_ids
            scoped = replace(filters, exclude_doc_ids=excluded)
            return [SimilarResult(source.text, SECTION_SEPARATOR.join(source.section_path), para_id,
                                  self.search(source.text, k=k, mode=mode, filters=scoped))]
        if text is not None:
            return [SimilarResult(text, "", None, self.search(text, k=k, mode=mode, filters=filters))]
        doc = ingest_file(Path(path))
        try:  # a report that is also stored must not find itself
            filters = replace(filters, exclude_doc_ids=filters.exclude_doc_ids + (self.store.resolve_doc_id(str(path)),))
        except DocumentNotFoundError:
            pass
        return [
            SimilarResult(p.text, p.section, None, self.search(p.text, k=k, mode=mode, filters=filters))
            for p in doc.paragraphs
            if len(p.text) >= MIN_SIMILAR_CHARS
        ]

    def evaluate_search(self, queries: str | Path = DEFAULT_SEARCH_EVAL) -> SearchEvaluation:
        """nDCG@10, Recall@10 and MRR of each ranking mode on judged queries (the project's set by default)."""
        para_ids = {(p.doc_id, p.text_hash): p.para_id for p in self.store.iter_paragraphs()}
        judged, unmatched = load_queries(Path(queries), para_ids)
        usable = [q for q in judged if q.grades]
        if not usable:
            raise ConfigError(
                "none of the judged paragraphs is in this store: ingest corpus/seeds and "
                "../shared/corpus/meiyu, then run `policy-nlp index build`"
            )
        by_kind = {kind: [q for q in usable if q.kind == kind] for kind in sorted({q.kind for q in usable})}
        return SearchEvaluation(
            queries=len(usable),
            unmatched_judgements=unmatched,
            overall={m: asdict(s) for m, s in evaluate(self.engine, usable).items()},
            by_kind={k: {m: asdict(s) for m, s in evaluate(self.engine, qs).items()} for k, qs in by_kind.items()},
        )

    # -- themes ------------------------------------------------------------------------------

    def theme_model(self, path: str | Path | None = None) -> ThemeModel:
        """The theme classifier in ``path`` (default: the shipped ``models/themes-e5``), loaded once."""
        folder = Path(path) if path else DEFAULT_THEME_MODEL
        if folder not in self._theme_models:
            if not (folder / "config.json").is_file():
                raise ModelError(f"no theme model in {folder}: give a folder written by `policy-nlp train`")
            from .classify.persistence import load_model

            self._theme_models[folder] = load_model(folder, home=self.home)
        return self._theme_models[folder]

    def classify(self, texts: list[str], *, model: str | Path | None = None, explain: bool = False) -> list[Prediction]:
        """Themes of each text (with the sentences that drove them when ``explain``)."""
        return predict(self.theme_model(model), texts, explain=explain)

    def tag_report(self, path: str | Path, *, model: str | Path | None = None, explain: bool = False) -> TagReport:
        """Read a report (any format ingest reads, not stored), tag every paragraph and summarise by theme."""
        doc = ingest_file(Path(path))
        theme_model = self.theme_model(model)
        predictions = predict(theme_model, [p.text for p in doc.paragraphs], explain=explain)
        return TagReport(doc, predictions, summarise(doc, predictions, theme_model.theme_ids_))

    def tag_store(self, *, model: str | Path | None = None, progress: bool | None = None) -> int:
        """Tag every stored paragraph the model has not tagged yet; returns how many were tagged."""
        theme_model = self.theme_model(model)
        model_id = _theme_model_id(model)
        todo = self.store.untagged_paragraph_ids(model_id)
        for start in tqdm(range(0, len(todo), TAG_BATCH), desc="tagging", unit="batch", disable=_no_bar(progress, len(todo) // TAG_BATCH)):
            ids = todo[start : start + TAG_BATCH]
            texts = {p.para_id: p.text for p in self.store.iter_paragraphs(para_ids=ids)}
            preds = predict(theme_model, [texts[i] for i in ids])
            self.store.set_themes(model_id, dict(zip(ids, (p.scores for p in preds))),
                                  dict(zip(ids, (p.themes for p in preds))))  # fmt: skip
        return len(todo)

    def suggest_labels(self, n: int = 20, *, model: str | Path | None = None) -> list[dict[str, object]]:
        """The ``n`` stored paragraphs the model is least sure of: a probability closest to its threshold;
        ``uncertain`` marks those within the model's margin (the ones worth labelling first)."""
        theme_model = self.theme_model(model)
        self.tag_store(model=model, progress=False)
        thresholds = dict(zip(theme_model.theme_ids_, theme_model.thresholds_))
        scores = self.store.theme_scores(_theme_model_id(model))
        ranked = sorted(
            ((min(abs(s - thresholds[t]) for t, s in by_theme.items()), para_id) for para_id, by_theme in scores.items())
        )[:n]
        paragraphs = {p.para_id: p for p in self.store.iter_paragraphs(para_ids=[i for _, i in ranked])}
        return [
            {"para_id": i, "doc_id": paragraphs[i].doc_id, "text_hash": paragraphs[i].text_hash, "margin": round(m, 4),
             "uncertain": bool(m < theme_model.margin), "scores": scores[i], "text": paragraphs[i].text}  # fmt: skip
            for m, i in ranked
        ]


@dataclass(frozen=True)
class TagReport:
    """A tagged report: the document as read, one prediction per paragraph, and the per-theme summary."""

    document: Document
    predictions: list[Prediction]
    summary: list[TagSummary]


def _theme_model_id(model: str | Path | None) -> str:
    """Folder name and weights hash: retraining a model makes its old theme scores stale."""
    folder = Path(model) if model else DEFAULT_THEME_MODEL
    return f"{folder.name}@{hashlib.sha256((folder / 'adapter.safetensors').read_bytes()).hexdigest()[:12]}"


@dataclass(frozen=True)
class SearchEvaluation:
    """Mean retrieval metrics per ranking mode, overall and per query kind (phrase / paragraph)."""

    queries: int
    unmatched_judgements: int
    overall: dict[str, dict[str, float]]
    by_kind: dict[str, dict[str, dict[str, float]]]


@dataclass(frozen=True)
class SimilarResult:
    """Similar paragraphs found for one source paragraph."""

    source_text: str
    source_section: str
    source_para_id: int | None
    hits: list[Hit]


def _no_bar(progress: bool | None, total: int) -> bool | None:
    """tqdm's ``disable``: off when asked, on a terminal only when ``None``, never for a single item."""
    if progress is None:
        return None if total > 1 else True
    return not progress
