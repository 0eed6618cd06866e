"""The Python API: one ``Workspace`` per home directory, the same operations as the CLI.

>>> from policy_nlp import Workspace
>>> ws = Workspace()                      # or Workspace(home="~/policy-data")
>>> ws.ingest(["corpus/"])                # read, clean, structure and store the reports
>>> ws.paragraphs_frame().head()          # one row per paragraph, for notebooks
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from .artifacts import write_file
from .classify.persistence import SHIPPED_DIR as DEFAULT_THEME_MODEL
from .classify.taxonomy import load_taxonomy
from .corpus import CorpusStore, StoredParagraph
from .errors import ConfigError, DocumentNotFoundError, InputError, ModelError, PolicyNLPError
from .home import resolve_home
from .ingest import DEFAULT_MAX_BYTES, ingest_bytes, ingest_file, ingest_text, iter_document_paths
from .ingest.metadata import apply_overrides
from .resources import shipped
from .schema import SECTION_SEPARATOR, Document, DocumentMetadata
from .search import indexes
from .search.dedup import SIMILARITY_THRESHOLD
from .search.engine import DEFAULT_MODE, MODES, Hit, SearchEngine, SearchPage
from .search.evaluate import DEFAULT_QUERIES as DEFAULT_SEARCH_EVAL
from .search.evaluate import Judged, evaluate, judged_in_store, per_query
from .search.filters import Filters
from .tagging import Prediction, TagSummary, ThemeModel, predict, summarise

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .classify.data import LabelledSet
    from .classify.evaluate import EvalResult
    from .classify.predictions import OutOfFoldPredictions

EXPORT_FORMATS = (".parquet", ".jsonl", ".csv")
#: The most results one search may ask for.
MAX_RESULTS = 1000
#: Paragraphs of a report file shorter than this (titles, bare headings) get no similar-initiative search.
MIN_SIMILAR_CHARS = 40
TAG_BATCH = 64
#: The source checkout (corpus/seeds and ../shared/corpus/meiyu for `Workspace.research_sample`).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Out-of-fold predictions of `policy-nlp evaluate classify --predictions FILE` for the shipped theme model.
DEFAULT_CLASSIFY_PREDICTIONS = shipped("data", "eval", "classify_predictions.json")
#: Home of ``Workspace.research_sample`` (default: policy_nlp_notebooks in the system temporary folder).
NOTEBOOK_HOME_ENV = "POLICY_NLP_NOTEBOOK_HOME"


@dataclass(frozen=True)
class IngestOutcome:
    """The result of ingesting one file: stored (added / replaced / unchanged) or failed with a reason."""

    path: str
    status: str  # "added" | "replaced" | "unchanged" | "failed"
    doc_id: str = ""
    paragraphs: int = 0
    title: str = ""
    error: str = ""
    warnings: list[str] = field(default_factory=list)  # notes on a stored document (see Document.warnings)


class Workspace:
    """The corpus store, indexes and models under one home directory.

    ``read_only`` never writes to the store (listing, showing and searching work in a read-only home).
    """

    def __init__(self, home: str | Path | None = None, *, read_only: bool = False) -> None:
        self.home = resolve_home(home, create=not read_only)
        self.store = CorpusStore.in_home(self.home, read_only=read_only)
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
        if path.is_dir() and not path.is_symlink():  # the walk yields a folder only when it cannot open it
            return IngestOutcome(str(path), "failed", error="cannot open this folder: check that you may read it")
        try:
            doc = ingest_file(path, overrides=overrides, max_bytes=max_bytes)
        except PolicyNLPError as exc:  # bad file or bad sidecar: report it, go on with the rest
            return IngestOutcome(str(path), "failed", error=str(exc))
        except OSError as exc:  # unreadable, or gone since the folder was listed
            return IngestOutcome(str(path), "failed", error=f"cannot read the file ({exc.strerror or exc}): "
                                                            "check that you may read it")  # fmt: skip
        result = self.store.add_document(doc)
        return IngestOutcome(
            str(path), result.status, result.doc_id, result.paragraphs, doc.metadata.title, warnings=doc.warnings
        )

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

    def paragraphs(self, doc_id: str) -> list[StoredParagraph]:
        """A stored document's paragraphs with their ids, in reading order."""
        return list(self.store.iter_paragraphs(doc_ids=[self.store.resolve_doc_id(doc_id)]))

    def paragraph_themes(self, para_ids: list[int]) -> dict[int, list[str]]:
        """The stored themes of each paragraph (after ``tag_store``; paragraphs without any are left out)."""
        return self.store.themes_of(para_ids)

    def stats(self) -> dict[str, object]:
        """Counts and model ids: documents, paragraphs, indexed and tagged paragraphs, embedding and theme models."""
        documents, paragraphs = self.store.counts()
        theme_model_id = _theme_model_id(None)
        return {
            "documents": documents,
            "paragraphs": paragraphs,
            "indexed": len(self.engine.indexes),
            "tagged": paragraphs - len(self.store.untagged_paragraph_ids(theme_model_id)),
            "embedding_model": self.engine.indexes.model_id,
            "theme_model": theme_model_id,
        }

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
        with write_file(path) as tmp:
            if path.suffix == ".parquet":
                frame.to_parquet(tmp, index=False)
            elif path.suffix == ".jsonl":
                frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
            else:
                frame.to_csv(tmp, index=False)
        return path

    # -- search ------------------------------------------------------------------------------

    def build_index(self, *, model: str | None = None, kind: str = "auto", progress: bool = True,
                    backend: str = "local", uri: str | None = None, collection: str | None = None) -> indexes.IndexReport:
        """Embed every stored paragraph and (re)build the dense and BM25 indexes.

        ``model``: None for the embedded multilingual-e5-small, or a sentence-transformers name or folder.
        ``kind``: an ANN preset ("auto": exact "flat" up to 100,000 paragraphs, else "ivf-fp16"; "ivf-sq8",
        "hnsw", "ivfpq") or a FAISS factory string (Milvus: "auto" is FLAT up to 100,000 paragraphs, else HNSW;
        flat, hnsw or a Milvus index type such as IVF_FLAT).
        ``backend``: "local" (FAISS + BM25 files in the home) or "milvus": a collection (``collection``, default
        policy_nlp_paragraphs) on the Milvus server at ``uri``, which every later search and update uses.
        """
        self._engine = None
        return indexes.build(self.store, self.home, model=model, kind=kind, show_progress=progress, backend=backend,
                             uri=uri, collection=collection)

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
               group: bool = True, ann: dict[str, int] | None = None) -> list[Hit]:
        """Paragraphs most relevant to a phrase or a pasted paragraph, near-duplicates grouped.

        ``ann``: the dense index's search breadth for this query (``{"nprobe": 64}`` for an IVF index,
        ``{"ef_search": 128}`` for HNSW) instead of the one saved with the index.
        """
        if not 1 <= k <= MAX_RESULTS:
            raise ConfigError(f"ask for between 1 and {MAX_RESULTS} results, not {k}")
        return self.engine.search(query, k=k, mode=mode, filters=filters, group=group, ann=ann)

    def search_page(self, query: str, *, k: int = 10, offset: int = 0, mode: str = DEFAULT_MODE,
                    filters: Filters | None = None, group: bool = True) -> SearchPage:  # fmt: skip
        """Results ``offset`` to ``offset + k`` with facet counts (bureau, level, year, theme) of what was ranked."""
        return self.engine.search_page(query, k=k, offset=offset, mode=mode, filters=filters, group=group)

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
        """nDCG@10, Recall@10, MRR and unjudged results of every ranking mode and every anchor, side by side,
        on the tuning and held-out halves of judged queries (the project's set by default)."""
        usable, unmatched, systems = self._search_systems(queries)
        groups = evaluate(usable, systems)
        return SearchEvaluation(
            queries=len(usable),
            unmatched_judgements=unmatched,
            groups={g: {name: asdict(s) for name, s in by_system.items()} for g, by_system in groups.items()},
        )

    def evaluate_search_per_query(self, queries: str | Path = DEFAULT_SEARCH_EVAL) -> pd.DataFrame:
        """One row per (system, judged query): mode (a ranking mode or an anchor), qid, query, kind, split,
        relevant, ndcg, recall, rr, unjudged."""
        import pandas as pd

        usable, _, systems = self._search_systems(queries)
        rows = [{"mode": name, "qid": q.qid, "query": q.query, "kind": q.kind, "split": q.split, "relevant": q.relevant,
                 "ndcg": s.ndcg, "recall": s.recall, "rr": s.mrr, "unjudged": s.unjudged}
                for name, q, s in per_query(usable, systems)]  # fmt: skip
        return pd.DataFrame(rows)

    def _search_systems(self, queries: str | Path) -> tuple[list[Judged], int, dict[str, Callable[[str], list[int]]]]:
        """The judged queries with a relevant paragraph in this store, the unmatched judgements, and every
        ranking mode and anchor as a ranking function (query -> paragraph ids)."""
        from .search.anchors import ANCHORS, Anchors  # scikit-learn and bm25s models: only when evaluating

        paragraphs, judged, unmatched = judged_in_store(self.store, Path(queries))
        usable = [q for q in judged if q.relevant]
        if not usable:
            raise ConfigError(
                "none of the judged paragraphs is in this store: ingest corpus/seeds and "
                "../shared/corpus/meiyu, then run `policy-nlp index build`"
            )
        engine = self.engine
        anchors = Anchors([p.para_id for p in paragraphs], [p.text for p in paragraphs],
                          lambda q, depth: engine.signal(q, "dense", depth=depth))  # fmt: skip
        systems = {m: _ids(lambda q, m=m: engine.rank(q, mode=m)) for m in MODES}
        systems |= {a: _ids(lambda q, a=a: anchors.rank(a, q)) for a in ANCHORS}
        return usable, unmatched, systems

    # -- themes ------------------------------------------------------------------------------

    def theme_model(self, path: str | Path | None = None) -> ThemeModel:
        """The theme classifier in ``path`` (default: the shipped ``policy_nlp/models/themes-e5``), loaded once."""
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
        return self._tag(ingest_file(Path(path)), model, explain)

    def tag_text(self, text: str, *, model: str | Path | None = None, explain: bool = False) -> TagReport:
        """``tag_report`` for a pasted report."""
        return self._tag(ingest_text(text, doc_id="pasted"), model, explain)

    def tag_upload(self, data: bytes, filename: str, *, model: str | Path | None = None, explain: bool = False,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> TagReport:  # fmt: skip
        """``tag_report`` for a file held in memory; ``filename`` gives only its format (by extension)."""
        return self._tag(ingest_bytes(data, filename=filename, max_bytes=max_bytes), model, explain)

    def _tag(self, doc: Document, model: str | Path | None, explain: bool) -> TagReport:
        theme_model = self.theme_model(model)
        predictions = predict(theme_model, [p.text for p in doc.paragraphs], explain=explain)
        return TagReport(doc, predictions, summarise(doc, predictions, theme_model.theme_ids_))

    def tag_store(self, *, model: str | Path | None = None, progress: bool | None = None) -> int:
        """Tag every stored paragraph the model has not tagged yet; returns how many were tagged.

        The shipped model reads the token states of the int8 pass that also caches each paragraph's
        search vector (see ``shared_pass``), so the index update that follows encodes nothing again.
        """
        from .shared_pass import shared_pass

        theme_model = self.theme_model(model)
        model_id = _theme_model_id(model)
        todo = self.store.untagged_paragraph_ids(model_id)
        shared = shared_pass(self.home, theme_model) if todo else None
        tag = shared.predict if shared else partial(predict, theme_model)
        try:
            for start in tqdm(range(0, len(todo), TAG_BATCH), desc="tagging", unit="batch", disable=_no_bar(progress, len(todo) // TAG_BATCH)):
                ids = todo[start : start + TAG_BATCH]
                texts = {p.para_id: p.text for p in self.store.iter_paragraphs(para_ids=ids)}
                preds = tag([texts[i] for i in ids])
                self.store.set_themes(model_id, dict(zip(ids, (p.scores for p in preds))),
                                      dict(zip(ids, (p.themes for p in preds))))  # fmt: skip
        finally:
            if shared:
                shared.close()
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

    # -- research: frames and analyses for notebooks ------------------------------------------

    @classmethod
    def research_sample(cls, home: str | Path | None = None, *, progress: bool = False) -> ResearchSample:
        """The project's sample corpus in one reusable home: corpus/seeds plus ../shared/corpus/meiyu
        (its P*.txt reports) when present, ingested, tagged and indexed; a second call only checks.

        ``home`` defaults to ``$POLICY_NLP_NOTEBOOK_HOME``, else ``policy_nlp_notebooks`` in the system
        temporary folder, so several notebooks (and a CI run) share one store and index.
        """
        home = home or os.environ.get(NOTEBOOK_HOME_ENV) or Path(tempfile.gettempdir()) / "policy_nlp_notebooks"
        seeds, meiyu = REPO_ROOT / "corpus" / "seeds", REPO_ROOT.parent / "shared" / "corpus" / "meiyu"
        paths = [seeds] + sorted(meiyu.glob("P*.txt"))
        ws = cls(home)
        failed = [o for o in ws.ingest(paths, progress=progress) if o.status == "failed"]
        if failed:
            raise InputError(f"cannot read {failed[0].path}: {failed[0].error}")
        ws.tag_store(progress=progress)
        ws.update_index(progress=progress)
        sources = [str(seeds)] + ([str(meiyu)] if len(paths) > 1 else [])
        return ResearchSample(ws, sources, [] if len(paths) > 1 else [str(meiyu)])

    def theme_scores_frame(self, *, model: str | Path | None = None) -> pd.DataFrame:
        """One row per (paragraph, theme): ``score``, the model's ``threshold``, ``assigned``, ``name``, ``core``.

        Tags the paragraphs the model has not tagged yet first.
        """
        import pandas as pd

        theme_model = self.theme_model(model)
        self.tag_store(model=model, progress=False)
        thresholds = dict(zip(theme_model.theme_ids_, theme_model.thresholds_))
        taxonomy = load_taxonomy()
        rows = [(para_id, theme, score) for para_id, by_theme in self.store.theme_scores(_theme_model_id(model)).items()
                for theme, score in by_theme.items()]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["para_id", "theme", "score"])
        frame["threshold"] = frame["theme"].map(thresholds).astype(float)
        frame["assigned"] = frame["score"] >= frame["threshold"]
        frame["name"] = frame["theme"].map(lambda t: taxonomy.get(t).name_zh)
        frame["core"] = frame["theme"].map(lambda t: taxonomy.get(t).core)
        order = {t: j for j, t in enumerate(theme_model.theme_ids_)}
        return frame.sort_values(["para_id", "theme"], key=lambda c: c.map(order) if c.name == "theme" else c,
                                 ignore_index=True)  # fmt: skip

    def initiative_timeline(self, query: str, *, k: int = 30, mode: str = DEFAULT_MODE,
                            filters: Filters | None = None) -> pd.DataFrame:  # fmt: skip
        """The ``k`` paragraphs best matching an initiative, near-duplicates listed separately, one row each:
        para_id, doc_id, bureau, level, region, ``year`` (the document's first year), score, rank and the
        query words found in the paragraph (``matched_terms``)."""
        import pandas as pd

        hits = self.search(query, k=k, mode=mode, filters=filters, group=False)
        rows = [{"para_id": h.para_id, "doc_id": h.doc_id, "bureau": h.bureau, "level": h.level, "region": h.region,
                 "year": min(h.years) if h.years else None, "score": h.score, "rank": r,
                 "matched_terms": h.matched_terms}
                for r, h in enumerate(hits, start=1)]  # fmt: skip
        columns = ["para_id", "doc_id", "bureau", "level", "region", "year", "score", "rank", "matched_terms"]
        return pd.DataFrame(rows, columns=columns).astype({"year": "Int64"})

    def first_appearances(self, query: str, *, k: int = 30, by: str = "bureau", mode: str = DEFAULT_MODE,
                          filters: Filters | None = None) -> pd.DataFrame:  # fmt: skip
        """Who did an initiative, and when first: the earliest matching paragraph of each bureau (or ``by``)."""
        from . import research

        return research.first_appearances(self.initiative_timeline(query, k=k, mode=mode, filters=filters), by=by)

    def near_duplicates(self, *, threshold: float = SIMILARITY_THRESHOLD, across: str = "bureau",
                        min_chars: int = 40) -> pd.DataFrame:  # fmt: skip
        """Paragraphs whose text (nearly) repeats a paragraph of another bureau: template text across
        governments, one row per paragraph with ``group``, ``group_size`` and a ``year`` column."""
        from . import research

        frame = self.paragraphs_frame()
        frame["year"] = frame["years"].map(lambda ys: min(ys) if ys else None).astype("Int64")
        return research.near_duplicate_groups(frame, threshold=threshold, min_chars=min_chars, across=across)

    def template_copies(self, groups: pd.DataFrame | None = None) -> pd.DataFrame:
        """Who took template text from whom: per near-duplicate group its earliest bureau is the source, each
        other bureau a follower; one row per (source, follower) with the number of shared groups and first years.
        ``groups`` defaults to ``near_duplicates()``."""
        from . import research

        return research.copy_edges(self.near_duplicates() if groups is None else groups)

    def paragraph_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(paragraph ids, unit vectors) of every stored paragraph with the search index's encoder, from
        the embedding cache (nothing is re-encoded after an index build)."""
        import numpy as np

        ids = self.store.paragraph_ids()
        return np.asarray(ids, dtype=np.int64), indexes.embed_paragraphs(self.store, self.home, self.engine.encoder, ids)

    def evaluate_classify(self, *, schemes: Sequence[str] | None = None, tuned: bool = False,
                          predictions: str | Path | None = None, progress: bool = True,
                          in_sample: bool = False) -> dict[str, dict[str, EvalResult]]:  # fmt: skip
        """{scheme: {model: EvalResult}}: the keyword, TF-IDF, embedding and shipped classifiers evaluated side by
        side by document, across genres and on the held-out set (minutes; `schemes` picks some).

        ``in_sample``: instead, the shipped model's stored scores and the keyword rule (threshold 0.5) on the
        labelled real paragraphs, in seconds; optimistic, since the shipped model was trained on them. With
        ``predictions``, also writes the in-sample predictions there, or without ``in_sample`` the out-of-fold
        predictions of the by-document scheme, the shipped recipe named "fine-tuned" (see ``classify_predictions``).
        """
        from .classify.encoder_choice import FROZEN
        from .classify.predictions import save_predictions
        from .classify.training import SCHEMES, evaluate_models, load_training_data

        schemes = list(schemes or SCHEMES)
        if predictions is not None and not in_sample and "by document" not in schemes:
            raise ConfigError('--predictions writes the in-sample or the by-document evaluation: add --in-sample '
                              'or --scheme "by document"')  # fmt: skip
        if not in_sample:
            results = evaluate_models(self.home, progress=progress, tuned=tuned, schemes=schemes)
            if predictions is not None:
                by_document = {"fine-tuned" if name == FROZEN else name: r for name, r in results["by document"].items()}
                save_predictions(by_document, load_training_data(self.home), predictions,
                                 theme_model=_theme_model_id(None))  # fmt: skip
            return results
        labelled = load_training_data(self.home)
        results = self._in_sample_results(labelled)
        if predictions is not None:
            save_predictions(results, labelled, predictions, theme_model=_theme_model_id(None))
        return {"in-sample": results}

    def _in_sample_results(self, labelled: LabelledSet) -> dict[str, EvalResult]:
        import numpy as np

        from .classify.baselines import KeywordClassifier
        from .classify.predictions import in_sample_results

        model = self.theme_model()
        self.tag_store(progress=False)
        stored = self.store.theme_scores(_theme_model_id(None))
        para_ids = {(p.doc_id, p.text_hash): p.para_id for p in self.store.iter_paragraphs()}
        real = np.flatnonzero(~labelled.synthetic)
        keys = [(labelled.doc_ids[i], labelled.text_hashes[i]) for i in real]
        shipped = np.array([[stored[para_ids[k]].get(t, 0.0) for t in labelled.taxonomy.ids] if k in para_ids
                            else [np.nan] * len(labelled.taxonomy.ids) for k in keys])  # fmt: skip
        outside = [n for n, k in enumerate(keys) if k not in para_ids]  # texts of other genres: not in the store
        if outside:
            proba = model.predict_proba([labelled.texts[real[n]] for n in outside])
            columns = [list(model.theme_ids_).index(t) if t in model.theme_ids_ else None for t in labelled.taxonomy.ids]
            shipped[outside] = [[row[c] if c is not None else 0.0 for c in columns] for row in proba]
        thresholds = dict(zip(model.theme_ids_, model.thresholds_))
        texts = [labelled.texts[i] for i in real]
        keyword = KeywordClassifier(labelled.taxonomy).fit(texts).predict_proba(texts)
        return in_sample_results(labelled, {
            "fine-tuned": (shipped, np.array([thresholds.get(t, 1.0) for t in labelled.taxonomy.ids])),
            "keyword": (keyword, np.full(len(labelled.taxonomy.ids), 0.5)),
        })  # fmt: skip

    def classify_predictions(self, path: str | Path = DEFAULT_CLASSIFY_PREDICTIONS) -> OutOfFoldPredictions:
        """Out-of-fold predictions saved by ``evaluate_classify(predictions=…)`` (the project's by default:
        the shipped model and three baselines, leave-one-document-out on the labelled real paragraphs).

        ``theme_model`` in the result names the model evaluated; compare it with ``current_theme_model()``.
        """
        from .classify.predictions import load_predictions

        return load_predictions(path)

    def classify_evaluation(self, path: str | Path = DEFAULT_CLASSIFY_PREDICTIONS, *, bins: int = 10) -> ClassifyEvaluation:
        """Per-theme precision and recall with 95 % Wilson intervals and a reliability table for every model
        in a predictions file (``classify_predictions``); nothing is re-run, so it takes a second."""
        import pandas as pd

        from . import research

        saved = self.classify_predictions(path)
        names = load_taxonomy()
        per_theme = pd.concat([
            research.precision_recall_intervals(saved.y_true, pred, list(saved.theme_ids)).assign(model=model)
            for model, pred in saved.pred.items()
        ], ignore_index=True)  # fmt: skip
        per_theme["name"] = per_theme["theme"].map(lambda t: names.get(t).name_zh)
        reliability = pd.concat([research.reliability_table(saved.y_true, proba, bins=bins).assign(model=model)
                                 for model, proba in saved.proba.items()], ignore_index=True)  # fmt: skip
        ece = {model: research.expected_calibration_error(reliability[reliability["model"] == model])
               for model in saved.proba}  # fmt: skip
        return ClassifyEvaluation(saved.theme_model, saved.scheme, len(saved.doc_ids), len(set(saved.doc_ids)),
                                  per_theme, reliability, ece)  # fmt: skip

    def current_theme_model(self, model: str | Path | None = None) -> str:
        """The theme model's id: folder name and weights hash."""
        return _theme_model_id(model)


@dataclass(frozen=True)
class TagReport:
    """A tagged report: the document as read, one prediction per paragraph, and the per-theme summary."""

    document: Document
    predictions: list[Prediction]
    summary: list[TagSummary]

    def to_json(self) -> dict[str, object]:
        """Title, per-theme summary and each paragraph with its themes (and evidence, warnings when there are any)."""
        rows = [
            {"position": p.position, "section": p.section, "text": p.text, "themes": pred.themes, "scores": pred.scores,
             **({"evidence": pred.evidence} if pred.evidence else {}), **({"warnings": pred.warnings} if pred.warnings else {})}
            for p, pred in zip(self.document.paragraphs, self.predictions)
        ]  # fmt: skip
        return {"title": self.document.metadata.title, "summary": [asdict(r) for r in self.summary], "paragraphs": rows}


@dataclass(frozen=True)
class ClassifyEvaluation:
    """A saved classifier evaluation as frames: ``per_theme`` (model, theme, name, support, precision and
    recall with ``_low``/``_high`` 95 % bounds, f1) and ``reliability`` (model, score bin, mean score,
    share positive, pairs); ``ece`` is each model's expected calibration error."""

    theme_model: str
    scheme: str
    paragraphs: int
    documents: int
    per_theme: pd.DataFrame
    reliability: pd.DataFrame
    ece: dict[str, float]


@dataclass(frozen=True)
class ResearchSample:
    """The sample corpus's workspace, the folders it was built from, and those it could not find."""

    workspace: Workspace
    sources: list[str]
    missing: list[str]


def _theme_model_id(model: str | Path | None) -> str:
    """Folder name and weights hash: retraining a model makes its old theme scores stale."""
    folder = Path(model) if model else DEFAULT_THEME_MODEL
    return f"{folder.name}@{hashlib.sha256((folder / 'adapter.safetensors').read_bytes()).hexdigest()[:12]}"


@dataclass(frozen=True)
class SearchEvaluation:
    """Mean retrieval metrics per system (project modes and anchors), per half and per half and query kind."""

    queries: int
    unmatched_judgements: int
    groups: dict[str, dict[str, dict[str, float]]]  # "tune", "heldout", "heldout/phrase", … -> system -> metrics


@dataclass(frozen=True)
class SimilarResult:
    """Similar paragraphs found for one source paragraph."""

    source_text: str
    source_section: str
    source_para_id: int | None
    hits: list[Hit]


def _ids(rank: Callable[[str], list[tuple[int, float]]]) -> Callable[[str], list[int]]:
    """A ranking function that returns paragraph ids only."""
    return lambda query: [i for i, _ in rank(query)]


def _no_bar(progress: bool | None, total: int) -> bool | None:
    """tqdm's ``disable``: off when asked, on a terminal only when ``None``, never for a single item."""
    if progress is None:
        return None if total > 1 else True
    return not progress
