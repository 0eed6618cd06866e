"""The corpus store: documents, paragraphs and their metadata in one SQLite file.

Each document is written in a single transaction, so a crash mid-ingest never leaves half a
document behind. Paragraph ids are SQLite ``AUTOINCREMENT`` keys: they are never reused, which lets
the vector index use them as its int64 ids.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DocumentNotFoundError, StoreError
from .schema import SECTION_SEPARATOR, Document, DocumentMetadata, Paragraph

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
STORE_FILENAME = "corpus.sqlite"
#: How long a writer waits for another one (a concurrent ingest) before giving up.
BUSY_TIMEOUT_S = 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source_path TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    format TEXT NOT NULL,
    encoding TEXT NOT NULL,
    title TEXT NOT NULL,
    bureau TEXT NOT NULL,
    level TEXT NOT NULL,
    region TEXT NOT NULL,
    years TEXT NOT NULL,
    year_min INTEGER,
    year_max INTEGER,
    doc_type TEXT NOT NULL,
    script TEXT NOT NULL,
    text TEXT NOT NULL,
    original_text TEXT NOT NULL,
    removed_lines TEXT NOT NULL,
    warnings TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_content_hash ON documents(content_hash);
CREATE TABLE IF NOT EXISTS paragraphs (
    para_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    original_text TEXT NOT NULL,
    section_path TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    has_placeholder INTEGER NOT NULL,
    text_hash TEXT NOT NULL,
    UNIQUE (doc_id, position)
);
CREATE INDEX IF NOT EXISTS paragraphs_doc ON paragraphs(doc_id);
CREATE INDEX IF NOT EXISTS paragraphs_text_hash ON paragraphs(text_hash);
CREATE TABLE IF NOT EXISTS paragraph_themes (
    para_id INTEGER NOT NULL REFERENCES paragraphs(para_id) ON DELETE CASCADE,
    theme TEXT NOT NULL,
    score REAL NOT NULL,
    assigned INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    PRIMARY KEY (para_id, theme)
);
CREATE INDEX IF NOT EXISTS paragraph_themes_theme ON paragraph_themes(theme, assigned);
"""

_DOC_COLUMNS = (
    "doc_id, source_path, content_hash, format, encoding, title, bureau, level, region, years, "
    "year_min, year_max, doc_type, script, text, original_text, removed_lines, warnings, ingested_at"
)


@dataclass(frozen=True)
class AddResult:
    """What happened to one document on ``add_document``."""

    doc_id: str
    status: str  # "added" | "replaced" | "unchanged"
    paragraphs: int


@dataclass(frozen=True)
class StoredParagraph:
    """A paragraph as the store keeps it, joined with its document's metadata."""

    para_id: int
    doc_id: str
    position: int
    text: str
    original_text: str
    section_path: list[str]
    start: int
    end: int
    has_placeholder: bool
    text_hash: str
    title: str
    bureau: str
    level: str
    region: str
    years: list[int]
    doc_type: str


class CorpusStore:
    """Documents and paragraphs in SQLite. Use as a context manager, or call ``close()``.

    ``read_only`` opens the file without ever writing to it (a read-only home still lists and searches);
    a store that does not exist yet then reads as empty.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        try:
            if read_only:
                self._conn = _connect_read_only(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.executescript(_SCHEMA)
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._check_schema_version()
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc) from exc
        except OSError as exc:
            raise StoreError(f"cannot open the corpus store at {self.path} ({exc.strerror or exc}): "
                             "use --home with a folder you can write to") from exc  # fmt: skip

    @classmethod
    def in_home(cls, home: Path, *, read_only: bool = False) -> CorpusStore:
        """The store that lives in a policy_nlp home directory."""
        return cls(home / STORE_FILENAME, read_only=read_only)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction that waits for other writers; operational failures become one-line StoreErrors.

        ``BEGIN IMMEDIATE`` takes the write lock before anything is read, so two ingests of the same
        file run one after the other (the second finds the first's document) instead of colliding.
        """
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                yield
        except sqlite3.OperationalError as exc:  # full disk, read-only file, busy: not a bug in this package
            raise _store_error(self.path, exc) from exc

    def _check_schema_version(self) -> None:
        row = self._conn.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()
        if row is None:
            with self._writing():
                self._conn.execute(
                    "INSERT OR IGNORE INTO store_info (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )  # OR IGNORE: two processes may create the same new store at once
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"the corpus store at {self.path} has schema version {row[0]}, this policy_nlp "
                f"reads version {SCHEMA_VERSION}; ingest the reports into a new --home"
            )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> CorpusStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def add_document(self, doc: Document) -> AddResult:
        """Store ``doc``: a no-op if the same content is stored, a replacement if its file changed."""
        with self._writing():  # one transaction: all of the document or none of it
            same = self._conn.execute(
                "SELECT doc_id, source_path FROM documents WHERE content_hash = ?", (doc.content_hash,)
            ).fetchone()
            if same is not None:
                return AddResult(same[0], "unchanged", self._count_paragraphs(same[0]))
            previous = self._conn.execute(
                "SELECT doc_id FROM documents WHERE source_path = ?", (doc.source_path,)
            ).fetchone()
            doc_id = previous[0] if previous else self._free_doc_id(doc.doc_id, doc.content_hash)
            if previous:
                self._conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            self._insert_document(doc_id, doc)
            self._conn.executemany(
                "INSERT INTO paragraphs (doc_id, position, text, original_text, section_path, start, end, "
                "has_placeholder, text_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_paragraph_row(doc_id, p) for p in doc.paragraphs),
            )
        return AddResult(doc_id, "replaced" if previous else "added", len(doc.paragraphs))

    def _free_doc_id(self, wanted: str, content_hash: str) -> str:
        taken = self._conn.execute("SELECT 1 FROM documents WHERE doc_id = ?", (wanted,)).fetchone()
        return f"{wanted}-{content_hash[:8]}" if taken else wanted

    def _insert_document(self, doc_id: str, doc: Document) -> None:
        m = doc.metadata
        self._conn.execute(
            f"INSERT INTO documents ({_DOC_COLUMNS}) VALUES ({', '.join('?' * 19)})",
            (
                doc_id,
                doc.source_path,
                doc.content_hash,
                doc.format,
                doc.encoding,
                m.title,
                m.bureau,
                m.level,
                m.region,
                json.dumps(m.years),
                min(m.years) if m.years else None,
                max(m.years) if m.years else None,
                m.doc_type,
                m.script,
                doc.text,
                doc.original_text,
                json.dumps(doc.removed_lines, ensure_ascii=False),
                json.dumps(doc.warnings, ensure_ascii=False),
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
            ),
        )

    def remove_document(self, doc_id: str) -> int:
        """Delete a document and its paragraphs; returns how many paragraphs went with it."""
        n = self._count_paragraphs(doc_id)
        with self._writing():
            cur = self._conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        if cur.rowcount == 0:
            raise DocumentNotFoundError(f"no document '{doc_id}' in the store; `policy-nlp docs` lists them")
        return n

    # -- reading ---------------------------------------------------------------------------

    def _count_paragraphs(self, doc_id: str) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM paragraphs WHERE doc_id = ?", (doc_id,)).fetchone()[0]

    def resolve_doc_id(self, ref: str) -> str:
        """Accept a document id or the path of an ingested file; return the document id."""
        row = self._conn.execute("SELECT doc_id FROM documents WHERE doc_id = ?", (ref,)).fetchone()
        if row is None:
            row = self._conn.execute(
                "SELECT doc_id FROM documents WHERE source_path = ?", (str(Path(ref).expanduser().resolve()),)
            ).fetchone()
        if row is None:
            raise DocumentNotFoundError(f"no document '{ref}' in the store; `policy-nlp docs` lists them")
        return row[0]

    def get_document(self, ref: str) -> Document:
        """The stored document with all its paragraphs, by id or source path."""
        doc_id = self.resolve_doc_id(ref)
        row = self._conn.execute(f"SELECT {_DOC_COLUMNS} FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        (_, source_path, content_hash, fmt, encoding, title, bureau, level, region, years, _, _, doc_type,
         script, text, original_text, removed_lines, warnings, _) = row  # fmt: skip
        paragraphs = [
            Paragraph(
                position=p.position,
                text=p.text,
                original_text=p.original_text,
                section_path=p.section_path,
                start=p.start,
                end=p.end,
                has_placeholder=p.has_placeholder,
            )
            for p in self.iter_paragraphs(doc_ids=[doc_id])
        ]
        return Document(
            doc_id=doc_id,
            source_path=source_path,
            content_hash=content_hash,
            format=fmt,
            encoding=encoding,
            text=text,
            original_text=original_text,
            metadata=DocumentMetadata(title, bureau, level, region, json.loads(years), doc_type, script),
            paragraphs=paragraphs,
            removed_lines=json.loads(removed_lines),
            warnings=json.loads(warnings),
        )

    def list_documents(self) -> list[dict[str, object]]:
        """One summary row per document, ordered by id."""
        rows = self._conn.execute(
            "SELECT d.doc_id, d.title, d.bureau, d.level, d.region, d.years, d.doc_type, d.script, d.format, "
            "d.encoding, d.source_path, d.content_hash, d.ingested_at, COUNT(p.para_id) "
            "FROM documents d LEFT JOIN paragraphs p ON p.doc_id = d.doc_id GROUP BY d.doc_id ORDER BY d.doc_id"
        ).fetchall()
        keys = ("doc_id", "title", "bureau", "level", "region", "years", "doc_type", "script", "format",
                "encoding", "source_path", "content_hash", "ingested_at", "paragraphs")  # fmt: skip
        docs = [dict(zip(keys, row)) for row in rows]
        for d in docs:
            d["years"] = json.loads(d["years"])  # type: ignore[arg-type]
        return docs

    def iter_paragraphs(
        self, *, doc_ids: Sequence[str] | None = None, para_ids: Sequence[int] | None = None
    ) -> Iterator[StoredParagraph]:
        """Paragraphs with their document metadata, in document then position order."""
        sql = (
            "SELECT p.para_id, p.doc_id, p.position, p.text, p.original_text, p.section_path, p.start, p.end, "
            "p.has_placeholder, p.text_hash, d.title, d.bureau, d.level, d.region, d.years, d.doc_type "
            "FROM paragraphs p JOIN documents d ON d.doc_id = p.doc_id"
        )
        params: list[object] = []
        if doc_ids is not None:
            sql += f" WHERE p.doc_id IN ({', '.join('?' * len(doc_ids))})"
            params += list(doc_ids)
        if para_ids is not None:
            sql += " AND" if doc_ids is not None else " WHERE"
            sql += " p.para_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in para_ids]))
        sql += " ORDER BY p.doc_id, p.position"
        for row in self._conn.execute(sql, params):
            yield StoredParagraph(
                para_id=row[0],
                doc_id=row[1],
                position=row[2],
                text=row[3],
                original_text=row[4],
                section_path=json.loads(row[5]),
                start=row[6],
                end=row[7],
                has_placeholder=bool(row[8]),
                text_hash=row[9],
                title=row[10],
                bureau=row[11],
                level=row[12],
                region=row[13],
                years=json.loads(row[14]),
                doc_type=row[15],
            )

    def paragraph_ids(self, where: str = "1", params: Sequence[object] = ()) -> list[int]:
        """Paragraph ids, ascending; ``where`` is an SQL condition over ``documents d`` and ``paragraphs p``."""
        sql = f"SELECT p.para_id FROM paragraphs p JOIN documents d ON d.doc_id = p.doc_id WHERE {where} ORDER BY p.para_id"
        return [r[0] for r in self._conn.execute(sql, list(params))]

    def neighbours(self, para_ids: Sequence[int]) -> dict[int, tuple[int | None, int | None]]:
        """For each paragraph: the ids of the paragraphs just before and after it in its document (None at an end)."""
        rows = self._conn.execute(
            "SELECT para_id, before_id, after_id FROM (SELECT para_id, "
            "LAG(para_id) OVER w AS before_id, LEAD(para_id) OVER w AS after_id FROM paragraphs "
            "WHERE doc_id IN (SELECT doc_id FROM paragraphs WHERE para_id IN (SELECT value FROM json_each(?))) "
            "WINDOW w AS (PARTITION BY doc_id ORDER BY position)) "
            "WHERE para_id IN (SELECT value FROM json_each(?))",
            (json.dumps([int(i) for i in para_ids]),) * 2,
        )
        return {para_id: (before, after) for para_id, before, after in rows}

    def fingerprint(self) -> str:
        """A hash of every (paragraph id, text hash) pair: equal fingerprints mean the same paragraphs."""
        h = hashlib.sha256()
        for para_id, th in self._conn.execute("SELECT para_id, text_hash FROM paragraphs ORDER BY para_id"):
            h.update(f"{para_id}:{th};".encode())
        return h.hexdigest()[:16]

    def version(self) -> tuple[int, int]:
        """(paragraph count, highest paragraph id): changes whenever paragraphs are added or removed.

        Ids are never reused, so an unchanged pair means an unchanged set of paragraphs; unlike
        `fingerprint` it costs no scan of every row, so it can be asked on every query.
        """
        return tuple(self._conn.execute("SELECT COUNT(*), COALESCE(MAX(para_id), 0) FROM paragraphs").fetchone())

    def counts(self) -> tuple[int, int]:
        """(documents, paragraphs) in the store."""
        docs = self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        paras = self._conn.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]
        return docs, paras

    # -- themes ------------------------------------------------------------------------------

    def set_themes(self, model_id: str, scores: dict[int, dict[str, float]], assigned: dict[int, list[str]]) -> None:
        """Replace the theme scores of the given paragraphs (one transaction)."""
        with self._writing():
            self._conn.execute(
                "DELETE FROM paragraph_themes WHERE para_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(scores)),),
            )
            self._conn.executemany(
                "INSERT INTO paragraph_themes (para_id, theme, score, assigned, model_id) VALUES (?, ?, ?, ?, ?)",
                (
                    (para_id, theme, float(score), int(theme in assigned.get(para_id, ())), model_id)
                    for para_id, by_theme in scores.items()
                    for theme, score in by_theme.items()
                ),
            )

    def untagged_paragraph_ids(self, model_id: str) -> list[int]:
        """Paragraphs without theme scores from ``model_id``."""
        rows = self._conn.execute(
            "SELECT para_id FROM paragraphs WHERE para_id NOT IN "
            "(SELECT para_id FROM paragraph_themes WHERE model_id = ?) ORDER BY para_id",
            (model_id,),
        )
        return [r[0] for r in rows]

    def theme_scores(self, model_id: str) -> dict[int, dict[str, float]]:
        """Every stored score of ``model_id``: paragraph id -> theme -> score."""
        found: dict[int, dict[str, float]] = {}
        for para_id, theme, score in self._conn.execute(
            "SELECT para_id, theme, score FROM paragraph_themes WHERE model_id = ?", (model_id,)
        ):
            found.setdefault(para_id, {})[theme] = score
        return found

    def themes_of(self, para_ids: Sequence[int]) -> dict[int, list[str]]:
        """The assigned themes of each paragraph (paragraphs without any are left out)."""
        rows = self._conn.execute(
            "SELECT para_id, theme FROM paragraph_themes WHERE assigned = 1 AND para_id IN "
            "(SELECT value FROM json_each(?)) ORDER BY para_id, score DESC",
            (json.dumps([int(i) for i in para_ids]),),
        )
        found: dict[int, list[str]] = {}
        for para_id, theme in rows:
            found.setdefault(para_id, []).append(theme)
        return found

    # -- export ------------------------------------------------------------------------------

    def paragraphs_frame(self) -> pd.DataFrame:
        """Every paragraph with its document metadata as a pandas DataFrame (one row per paragraph)."""
        import pandas as pd

        rows = [asdict(p) for p in self.iter_paragraphs()]
        columns = list(StoredParagraph.__dataclass_fields__)
        frame = pd.DataFrame(rows, columns=columns)
        frame["section"] = frame["section_path"].map(SECTION_SEPARATOR.join)
        themes = self.themes_of(frame["para_id"].tolist())
        frame["themes"] = frame["para_id"].map(lambda i: themes.get(i, []))
        return frame

    def documents_frame(self) -> pd.DataFrame:
        """Every document's metadata as a pandas DataFrame (one row per document)."""
        import pandas as pd

        return pd.DataFrame(self.list_documents())


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: the file opened read-only, or an empty in-memory store if there is none.

    A WAL-mode file in a read-only folder cannot get its shared-memory file; it is then opened as immutable.
    """
    if not path.is_file():
        conn = sqlite3.connect(":memory:")
        conn.executescript(_SCHEMA)
        conn.execute("INSERT INTO store_info (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return conn
    uri = path.absolute().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True)


def _store_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """A one-line StoreError that says what to do about an SQLite failure."""
    reason = str(exc).lower()
    if "full" in reason:
        return StoreError(f"the disk holding {path} is full: free some space and run the command again "
                          "(nothing half-written was kept)")  # fmt: skip
    if "readonly" in reason or "read-only" in reason:
        return StoreError(f"cannot write to the corpus store at {path}: it is read-only; "
                          "use --home with a folder you can write to")  # fmt: skip
    if "locked" in reason or "busy" in reason:
        return StoreError(f"the corpus store at {path} stayed busy for {BUSY_TIMEOUT_S} s (another policy-nlp "
                          "is writing to it): run the command again when it has finished")  # fmt: skip
    if "unable to open" in reason:
        return StoreError(f"cannot open the corpus store at {path} for writing (is its folder read-only?): "
                          "use --home with a folder you can write to")  # fmt: skip
    if "disk i/o" in reason:
        return StoreError(f"the disk failed while writing the corpus store at {path}: check the disk and run "
                          "the command again (nothing half-written was kept)")  # fmt: skip
    return StoreError(f"cannot use the corpus store at {path}: {exc}. If the file is damaged, "
                      "move it away and ingest the reports again.")  # fmt: skip


def _paragraph_row(doc_id: str, p: Paragraph) -> tuple[object, ...]:
    return (
        doc_id,
        p.position,
        p.text,
        p.original_text,
        json.dumps(p.section_path, ensure_ascii=False),
        p.start,
        p.end,
        int(p.has_placeholder),
        p.text_hash,
    )
