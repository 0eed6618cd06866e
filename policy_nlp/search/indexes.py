"""The dense (FAISS) and keyword (BM25) indexes of a home, kept in step with the corpus store.

``build`` embeds every stored paragraph (through the embedding cache, so unchanged paragraphs are
never encoded twice) and writes both indexes; ``update`` adds the paragraphs the store gained and
removes those it lost; ``check`` compares indexes and store without changing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..corpus import CorpusStore
from ..embed import EmbeddingCache, Encoder, embed_passages_cached, load_encoder
from ..embed.encoder import DEFAULT_MODEL_ID, INT8_SUFFIX, ONNX, ONNX_INT8_SUFFIX
from ..errors import SearchIndexError
from ..index import VectorIndex
from .bm25 import BM25Index

INDEX_DIRNAME = "index"
DENSE_DIRNAME = "dense"
BM25_DIRNAME = "bm25"


@dataclass(frozen=True)
class IndexReport:
    """The state of a home's indexes against its store (after a build, an update or a check)."""

    model_id: str
    kind: str
    paragraphs: int  # in the store
    indexed: int  # in the dense index
    added: int = 0
    removed: int = 0
    missing: int = 0  # in the store, not in an index
    stale: int = 0  # in an index, no longer in the store

    @property
    def consistent(self) -> bool:
        return self.missing == 0 and self.stale == 0


def index_dir(home: Path) -> Path:
    return home / INDEX_DIRNAME


def encoder_for(model_id: str, home: Path, *, show_progress: bool = True) -> Encoder:
    """The encoder an index was built with, from the model id in its manifest."""
    name, quantize = model_id, False
    for suffix, value in ((ONNX_INT8_SUFFIX, ONNX), (INT8_SUFFIX, True)):
        if model_id.endswith(suffix):
            name, quantize = model_id.removesuffix(suffix), value
            break
    return load_encoder(None if name == DEFAULT_MODEL_ID else name, home=home, quantize=quantize,
                        show_progress=show_progress)  # fmt: skip


def _texts(store: CorpusStore, ids: list[int]) -> list[str]:
    """The texts of paragraphs ``ids``, in that order."""
    texts = {p.para_id: p.text for p in store.iter_paragraphs(para_ids=ids)}
    return [texts[i] for i in ids]


def embed_paragraphs(store: CorpusStore, home: Path, encoder: Encoder, ids: list[int]) -> np.ndarray:
    """Vectors of stored paragraphs ``ids`` (in that order), through the home's embedding cache."""
    return _embed(encoder, home, _texts(store, ids))


def _embed(encoder: Encoder, home: Path, texts: list[str]) -> np.ndarray:
    with EmbeddingCache(home=home) as cache:
        return embed_passages_cached(encoder, texts, cache)


def build(store: CorpusStore, home: Path, *, model: str | None = None, kind: str = "flat",
          show_progress: bool = True) -> IndexReport:  # fmt: skip
    """Embed every paragraph and write both indexes from scratch."""
    encoder = load_encoder(model, home=home, show_progress=show_progress)
    ids = store.paragraph_ids()
    if not ids:
        raise SearchIndexError("the corpus store is empty: ingest some reports first (`policy-nlp ingest PATH`)")
    texts = _texts(store, ids)
    vectors = _embed(encoder, home, texts)
    fingerprint = store.fingerprint()
    dense = VectorIndex.build(np.asarray(ids, np.int64), vectors, model_id=encoder.model_id, kind=kind,
                              corpus_fingerprint=fingerprint)  # fmt: skip
    bm25 = BM25Index.build(np.asarray(ids, np.int64), texts)
    dense.save(index_dir(home) / DENSE_DIRNAME)
    bm25.save(index_dir(home) / BM25_DIRNAME)
    return IndexReport(encoder.model_id, kind, len(ids), len(dense), added=len(ids))


def exists(home: Path) -> bool:
    """Whether the indexes of a home were built."""
    return (index_dir(home) / DENSE_DIRNAME).is_dir()


def load(home: Path) -> tuple[VectorIndex, BM25Index]:
    """Both indexes of a home; a clear error when they were never built."""
    folder = index_dir(home)
    if not exists(home):
        raise SearchIndexError(f"no search index in {home}: run `policy-nlp index build` first")
    return VectorIndex.load(folder / DENSE_DIRNAME), BM25Index.load(folder / BM25_DIRNAME)


def _differences(store: CorpusStore, dense: VectorIndex, bm25: BM25Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids missing from an index, ids an index holds that the store lost)."""
    stored = np.asarray(store.paragraph_ids(), np.int64)
    indexed = [dense.ids, bm25.ids]
    missing = np.unique(np.concatenate([stored[~np.isin(stored, ids)] for ids in indexed]))
    stale = np.unique(np.concatenate([ids[~np.isin(ids, stored)] for ids in indexed]))
    return missing, stale


def check(store: CorpusStore, home: Path) -> IndexReport:
    """Compare indexes and store; changes nothing."""
    dense, bm25 = load(home)
    missing, stale = _differences(store, dense, bm25)
    return IndexReport(dense.model_id, dense.kind, store.counts()[1], len(dense), missing=len(missing),
                       stale=len(stale))  # fmt: skip


def update(store: CorpusStore, home: Path, *, show_progress: bool = True) -> IndexReport:
    """Bring both indexes in step with the store: embed and add new paragraphs, drop removed ones."""
    dense, bm25 = load(home)
    missing, stale = _differences(store, dense, bm25)
    if len(stale):
        dense.remove(stale)
        bm25.remove(stale)
    texts = dict(zip(missing.tolist(), _texts(store, missing.tolist())))  # read once for both indexes
    new_dense = missing[~np.isin(missing, dense.ids)]
    if len(new_dense):
        encoder = encoder_for(dense.model_id, home, show_progress=show_progress)
        dense.add(new_dense, _embed(encoder, home, [texts[i] for i in new_dense.tolist()]))
    new_bm25 = missing[~np.isin(missing, bm25.ids)]
    if len(new_bm25):
        bm25.add(new_bm25, [texts[i] for i in new_bm25.tolist()])
    dense.corpus_fingerprint = store.fingerprint()
    dense.save(index_dir(home) / DENSE_DIRNAME)
    bm25.save(index_dir(home) / BM25_DIRNAME)
    return IndexReport(dense.model_id, dense.kind, store.counts()[1], len(dense), added=len(missing),
                       removed=len(stale))  # fmt: skip
