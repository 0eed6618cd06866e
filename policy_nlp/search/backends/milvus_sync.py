"""Build, update and check a home's Milvus index against its store (the Milvus side of `search.indexes`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...artifacts import locked
from ...corpus import CorpusStore
from ...index import AUTO_FLAT_MAX
from ..indexes import IndexReport, _embed, encoder_for, index_dir
from . import milvus
from .milvus import DEFAULT_COLLECTION, MilvusIndexes


def build(store: CorpusStore, home: Path, ids: list[int], vectors: np.ndarray, *, model_id: str, uri: str,
          collection: str | None, kind: str) -> IndexReport:  # fmt: skip
    """Write every stored paragraph into a new collection and record it in the home (caller holds the index lock).

    ``kind`` "auto" is exact search (FLAT) up to `AUTO_FLAT_MAX` paragraphs, as locally, and Milvus's HNSW above.
    """
    if kind == "auto":
        kind = "flat" if len(ids) <= AUTO_FLAT_MAX else "hnsw"
    fingerprint = store.fingerprint()
    indexes = milvus.create(uri, collection or DEFAULT_COLLECTION, model_id=model_id, dim=vectors.shape[1], kind=kind)
    paragraphs = list(store.iter_paragraphs(para_ids=ids))  # in document order, not the order of `ids`
    row = {para_id: i for i, para_id in enumerate(ids)}
    indexes.add(paragraphs, vectors[[row[p.para_id] for p in paragraphs]], store.themes_of(ids))
    milvus.save(home, indexes, corpus_fingerprint=fingerprint, count=len(ids))
    return IndexReport(model_id, _kind(indexes), len(ids), len(ids), added=len(ids))


def check(store: CorpusStore, home: Path) -> IndexReport:
    """Compare the collection with the store (ids and themes); changes nothing."""
    indexes = MilvusIndexes.open(home)
    missing, stale, retag = milvus.differences(store, indexes)
    return IndexReport(indexes.model_id, _kind(indexes), store.counts()[1], len(indexes), missing=len(missing),
                       stale=len(stale), themes_behind=len(retag))  # fmt: skip


def update(store: CorpusStore, home: Path, *, show_progress: bool = True) -> IndexReport:
    """Bring the collection in step with the store: add new paragraphs, delete removed ones, copy changed themes."""
    with locked(index_dir(home)):
        indexes = MilvusIndexes.open(home)
        missing, stale, retag = milvus.differences(store, indexes)
        fingerprint = store.fingerprint()
        if len(stale):
            indexes.remove(stale)
        if len(missing):
            ids = missing.tolist()
            paragraphs = list(store.iter_paragraphs(para_ids=ids))
            encoder = encoder_for(indexes.model_id, home, show_progress=show_progress)
            indexes.add(paragraphs, _embed(encoder, home, [p.text for p in paragraphs]), store.themes_of(ids))
        if retag:
            indexes.retag(retag)
        count = len(indexes)
        milvus.save(home, indexes, corpus_fingerprint=fingerprint, count=count)
    return IndexReport(indexes.model_id, _kind(indexes), store.counts()[1], count, added=len(missing),
                       removed=len(stale), retagged=len(retag))  # fmt: skip


def _kind(indexes: MilvusIndexes) -> str:
    return f"milvus {indexes.kind}"
