"""The dense (FAISS) and keyword (BM25 over jieba words, BM25 over character n-grams) indexes of a home,
kept in step with the corpus store.

``build`` embeds every stored paragraph (through the embedding cache, so unchanged paragraphs are
never encoded twice) and writes every index; ``update`` adds the paragraphs the store gained,
removes those it lost, re-embeds damaged vectors (and creates an index a home built by an older
version lacks), and rebuilds an "auto" dense index as the kind "auto" now chooses when the home has crossed
its size threshold (flat up to 100,000 paragraphs, ivf-fp16 beyond), so the manifest's kind always is the one
"auto" would choose; ``check`` compares indexes and store without changing anything. Build and update
hold the index folder's writer lock, so a second writer waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import locked
from ..corpus import CorpusStore
from ..embed import EmbeddingCache, Encoder, embed_passages_cached, load_encoder
from ..embed.encoder import DEFAULT_MODEL_ID, INT8_SUFFIX, ONNX, ONNX_INT8_SUFFIX
from ..errors import ConfigError, SearchIndexError
from ..index import VectorIndex
from .backends import SearchBackend, milvus
from .bm25 import BM25Index
from .filters import Filters

INDEX_DIRNAME = "index"
DENSE_DIRNAME = "dense"
BM25_DIRNAME = "bm25"
CHARS_DIRNAME = "bm25_chars"
BACKENDS = ("local", "milvus")


@dataclass
class Indexes:
    """The indexes of one home: dense vectors, BM25 over jieba words, BM25 over character uni+bigrams."""

    dense: VectorIndex
    words: BM25Index
    chars: BM25Index

    native_filters = False  # filters reach these indexes as the allowed ids the store gives (see engine)

    @property
    def keyword(self) -> tuple[BM25Index, BM25Index]:
        return self.words, self.chars

    @property
    def model_id(self) -> str:
        return self.dense.model_id

    @property
    def corpus_fingerprint(self) -> str:
        return self.dense.corpus_fingerprint

    def __len__(self) -> int:
        return len(self.dense)

    def ids(self) -> np.ndarray:
        """Every paragraph id some index holds, sorted."""
        return np.union1d(self.dense.ids, np.union1d(self.words.ids, self.chars.ids))

    def search(self, name: str, query: str, vector: np.ndarray | None, depth: int, *, filters: Filters | None = None,
               allowed: np.ndarray | None = None, ann: dict[str, int] | None = None) -> list[tuple[int, float]]:  # fmt: skip
        """One signal's ranking, (paragraph id, score) best first; ``filters`` are already in ``allowed``."""
        if name == "dense":
            scores, ids = self.dense.search(vector, depth, allowed_ids=allowed, **(ann or {}))
            keep = ids[0] >= 0
            return list(zip(ids[0][keep].tolist(), scores[0][keep].tolist()))
        index = self.words if name == "bm25" else self.chars
        scores, ids = index.search(query, depth, allowed_ids=allowed)
        return list(zip(ids.tolist(), scores.tolist()))

    def save(self, home: Path) -> None:
        folder = index_dir(home)
        self.dense.save(folder / DENSE_DIRNAME)
        self.words.save(folder / BM25_DIRNAME)
        self.chars.save(folder / CHARS_DIRNAME)


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
    damaged: int = 0  # stored vectors that are not finite or not of unit length
    repaired: int = 0  # damaged vectors embedded again
    themes_behind: int = 0  # Milvus: paragraphs whose stored themes the collection does not hold yet
    retagged: int = 0  # Milvus: paragraphs whose themes were copied from the store
    rebuilt_from: str = ""  # the dense kind before `update` rebuilt an "auto" index as `kind` for the home's size

    @property
    def consistent(self) -> bool:
        return self.missing == 0 and self.stale == 0 and self.damaged == 0 and self.themes_behind == 0


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


def build(store: CorpusStore, home: Path, *, model: str | None = None, kind: str = "auto",
          show_progress: bool = True, backend: str = "local", uri: str | None = None,
          collection: str | None = None) -> IndexReport:  # fmt: skip
    """Embed every paragraph and write every index from scratch: locally, or into a Milvus collection at `uri`."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown index backend '{backend}': choose {', '.join(BACKENDS)}")
    if backend == "milvus" and not uri:
        raise ConfigError("give the Milvus server's address with --uri, e.g. --uri http://127.0.0.1:19530")
    encoder = load_encoder(model, home=home, show_progress=show_progress)
    ids = store.paragraph_ids()
    if not ids:
        raise SearchIndexError("the corpus store is empty: ingest some reports first (`policy-nlp ingest PATH`)")
    with locked(index_dir(home)):
        texts = _texts(store, ids)
        vectors = _embed(encoder, home, texts)
        if backend == "milvus":
            from .backends import milvus_sync

            return milvus_sync.build(store, home, ids, vectors, model_id=encoder.model_id, uri=uri,
                                     collection=collection, kind=kind)  # fmt: skip
        fingerprint = store.fingerprint()
        dense = VectorIndex.build(np.asarray(ids, np.int64), vectors, model_id=encoder.model_id, kind=kind,
                                  corpus_fingerprint=fingerprint)  # fmt: skip
        words = BM25Index.build(np.asarray(ids, np.int64), texts)
        chars = BM25Index.build(np.asarray(ids, np.int64), texts, analyzer="chars")
        Indexes(dense, words, chars).save(home)
        milvus.forget(home)  # searches use the local indexes again
    return IndexReport(encoder.model_id, dense.kind, len(ids), len(dense), added=len(ids))


def exists(home: Path) -> bool:
    """Whether the indexes of a home were built."""
    return (index_dir(home) / DENSE_DIRNAME).is_dir() or milvus.configured(home)


def load(home: Path, *, create_missing_chars: bool = False) -> SearchBackend:
    """The indexes of a home (its Milvus collection where it records one); a clear error when they were never built.

    A home built before the character index existed gets an empty one with `create_missing_chars`
    (then `update` fills it), else an error that says to run `policy-nlp index update`.
    """
    folder = index_dir(home)
    if not exists(home):
        raise SearchIndexError(f"no search index in {home}: run `policy-nlp index build` first")
    if milvus.configured(home):
        return milvus.MilvusIndexes.open(home)
    if (folder / CHARS_DIRNAME).is_dir():
        chars = BM25Index.load(folder / CHARS_DIRNAME, analyzer="chars")
    elif create_missing_chars:
        chars = BM25Index.from_tokens(np.empty(0, np.int64), [], analyzer="chars")
    else:
        raise SearchIndexError(f"the search index in {home} has no character index yet: run `policy-nlp index update`")
    return Indexes(VectorIndex.load(folder / DENSE_DIRNAME), BM25Index.load(folder / BM25_DIRNAME), chars)


def _differences(store: CorpusStore, found: Indexes) -> tuple[np.ndarray, np.ndarray]:
    """(ids missing from an index, ids an index holds that the store lost)."""
    stored = np.asarray(store.paragraph_ids(), np.int64)
    indexed = [found.dense.ids, found.words.ids, found.chars.ids]
    missing = np.unique(np.concatenate([stored[~np.isin(stored, ids)] for ids in indexed]))
    stale = np.unique(np.concatenate([ids[~np.isin(ids, stored)] for ids in indexed]))
    return missing, stale


def check(store: CorpusStore, home: Path) -> IndexReport:
    """Compare indexes and store, and look for damaged vectors; changes nothing."""
    if milvus.configured(home):
        from .backends import milvus_sync

        return milvus_sync.check(store, home)
    found = load(home)
    dense = found.dense
    missing, stale = _differences(store, found)
    return IndexReport(dense.model_id, dense.kind, store.counts()[1], len(dense), missing=len(missing),
                       stale=len(stale), damaged=len(dense.damaged_ids()))  # fmt: skip


def update(store: CorpusStore, home: Path, *, show_progress: bool = True) -> IndexReport:
    """Bring every index in step with the store: embed and add new paragraphs, drop removed ones, re-embed damaged ones."""
    if milvus.configured(home):
        from .backends import milvus_sync

        return milvus_sync.update(store, home, show_progress=show_progress)
    with locked(index_dir(home)):
        found = load(home, create_missing_chars=True)
        dense = found.dense
        missing, stale = _differences(store, found)
        damaged = dense.damaged_ids()
        if len(stale) or len(damaged):
            dense.remove(np.concatenate([stale, damaged]))
            for keyword in found.keyword:
                keyword.remove(stale)
        repaired = damaged[~np.isin(damaged, stale)]
        missing = np.union1d(missing, repaired)
        texts = dict(zip(missing.tolist(), _texts(store, missing.tolist())))  # read once for every index
        new_dense = missing[~np.isin(missing, dense.ids)]
        if len(new_dense):
            encoder = encoder_for(dense.model_id, home, show_progress=show_progress)
            dense.add(new_dense, _embed(encoder, home, [texts[i] for i in new_dense.tolist()]))
        for keyword in found.keyword:
            new = missing[~np.isin(missing, keyword.ids)]
            if len(new):
                keyword.add(new, [texts[i] for i in new.tolist()])
        rebuilt_from = dense.kind if dense.outgrown else ""
        if rebuilt_from:
            found.dense = dense = _rebuilt(store, home, dense, show_progress)
        dense.corpus_fingerprint = store.fingerprint()
        found.save(home)
    return IndexReport(dense.model_id, dense.kind, store.counts()[1], len(dense), added=len(missing) - len(repaired),
                       removed=len(stale), repaired=len(repaired), rebuilt_from=rebuilt_from)  # fmt: skip


def _rebuilt(store: CorpusStore, home: Path, dense: VectorIndex, show_progress: bool) -> VectorIndex:
    """`dense` built again as the kind its preset ("auto") chooses for its size, from the vectors of the
    embedding cache (as `index build` would make it: the kind's default search breadth)."""
    ids = dense.ids
    vectors = embed_paragraphs(store, home, encoder_for(dense.model_id, home, show_progress=show_progress),
                               ids.tolist())
    return VectorIndex.build(ids, vectors, model_id=dense.model_id, kind=dense.preset)
