"""Paragraph embeddings kept on disk, keyed by (model id, text hash), so unchanged text is never re-encoded."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from policy_nlp.errors import StoreError
from policy_nlp.home import resolve_home
from policy_nlp.schema import text_hash

if TYPE_CHECKING:
    from policy_nlp.embed.encoder import Encoder

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model_id  TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim       INTEGER NOT NULL,
    vector    BLOB NOT NULL,
    PRIMARY KEY (model_id, text_hash)
) WITHOUT ROWID
"""
_CHUNK = 500  # hashes per SELECT (SQLite's bound-parameter limit)


class EmbeddingCache:
    """float32 vectors in their own SQLite file (default ``<home>/cache/embeddings.sqlite``, WAL mode)."""

    def __init__(self, path: str | Path | None = None, *, home: str | Path | None = None):
        self.path = Path(path) if path is not None else resolve_home(home) / "cache" / "embeddings.sqlite"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the embedding cache {self.path}: {exc}") from exc

    def get(self, model_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``hashes`` for ``model_id``."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            rows = self._db.execute(
                f"SELECT text_hash, dim, vector FROM embeddings WHERE model_id = ? "
                f"AND text_hash IN ({','.join('?' * len(chunk))})",
                [model_id, *chunk],
            )
            for h, dim, blob in rows:
                found[h] = np.frombuffer(blob, dtype="<f4", count=dim)
        return found

    def put(self, model_id: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store (hash, vector) pairs in one transaction."""
        rows = [(model_id, h, int(v.shape[0]), np.asarray(v, dtype="<f4").tobytes()) for h, v in items]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)

    def count(self, model_id: str | None = None) -> int:
        """Number of cached vectors (for one model, or all)."""
        if model_id is None:
            return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM embeddings WHERE model_id = ?", (model_id,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def embed_passages_cached(encoder: Encoder, texts: Sequence[str], cache: EmbeddingCache) -> np.ndarray:
    """Passage vectors for ``texts`` (float32 [n, dim]); only texts missing from ``cache`` are encoded."""
    hashes = [text_hash(t) for t in texts]
    known = cache.get(encoder.model_id, hashes)
    missing = {h: t for h, t in zip(hashes, texts) if h not in known}
    if missing:
        vectors = encoder.encode_passages(list(missing.values()))
        fresh = dict(zip(missing, vectors))
        cache.put(encoder.model_id, fresh.items())
        known.update(fresh)
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for row, h in enumerate(hashes):
        out[row] = known[h]
    return out
