"""The Python API: one ``Workspace`` per home directory, the same operations as the CLI.

>>> from policy_nlp import Workspace
>>> ws = Workspace()                      # or Workspace(home="~/policy-data")
>>> ws.ingest(["corpus/"])                # read, clean, structure and store the reports
>>> ws.paragraphs_frame().head()          # one row per paragraph, for notebooks
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from .corpus import CorpusStore
from .errors import ConfigError, PolicyNLPError
from .home import resolve_home
from .ingest import DEFAULT_MAX_BYTES, ingest_file, iter_document_paths
from .ingest.metadata import apply_overrides
from .schema import Document, DocumentMetadata

if TYPE_CHECKING:
    import pandas as pd

EXPORT_FORMATS = (".parquet", ".jsonl", ".csv")


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

    def close(self) -> None:
        self.store.close()

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


def _no_bar(progress: bool | None, total: int) -> bool | None:
    """tqdm's ``disable``: off when asked, on a terminal only when ``None``, never for a single item."""
    if progress is None:
        return None if total > 1 else True
    return not progress
