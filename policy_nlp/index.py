"""FAISS vector index over paragraph embeddings, keyed by store paragraph ids, with a manifest on disk.

Vectors are L2-normalised float32, so inner product is cosine similarity. Kinds: "flat" (exact,
the default), "hnsw" (graph, approximate), "ivfpq" (compressed, approximate, needs training) or
any faiss factory string.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from policy_nlp import __version__
from policy_nlp.errors import ConfigError, SearchIndexError
from policy_nlp.search.atomic import atomic_dir

FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
REBUILD_HINT = "run `policy-nlp index build` to rebuild it"

HNSW_M = 32
HNSW_EF_SEARCH = 64
IVF_NPROBE = 32
PQ_DIMS_PER_CODE = 4  # ivfpq: a 4-bit code per 4 dimensions, 48 bytes per 384-d vector
IVFPQ_MIN_TRAIN = 10_000  # below this, exact search is fast anyway and IVF training is unreliable
_NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class IndexManifest:
    """What `manifest.json` records about a saved index."""

    format_version: int
    model_id: str
    dim: int
    normalization: str
    kind: str
    factory: str
    count: int
    corpus_fingerprint: str
    versions: dict[str, str]
    created_utc: str


class VectorIndex:
    """Inner-product search over int64-keyed, L2-normalised embeddings."""

    def __init__(self, index: faiss.Index, *, model_id: str, kind: str, factory: str,
                 corpus_fingerprint: str = "") -> None:
        self._index = index
        self.model_id = model_id
        self.kind = kind
        self.factory = factory
        self.corpus_fingerprint = corpus_fingerprint

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, *, model_id: str, kind: str = "flat",
              corpus_fingerprint: str = "") -> VectorIndex:
        """Build an index of `kind` from `vectors` (trained on them when the kind needs training)."""
        vectors = _as_vectors(vectors)
        dim = vectors.shape[1]
        factory = _factory_for(kind, len(vectors), dim)
        try:
            index = _new_index(factory, dim)
            if not index.is_trained:
                index.train(vectors)
        except RuntimeError as exc:
            raise ConfigError(f"cannot build a {kind!r} index from {len(vectors)} paragraphs: {exc}") from exc
        built = cls(index, model_id=model_id, kind=kind, factory=factory)
        built.add(ids, vectors)
        built.corpus_fingerprint = corpus_fingerprint
        return built

    @property
    def dim(self) -> int:
        return self._index.d

    @property
    def ids(self) -> np.ndarray:
        """All paragraph ids in the index, sorted."""
        return np.sort(self._ids_in_storage_order())

    def __len__(self) -> int:
        return self._index.ntotal

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add paragraphs; an id already in the index is refused. Clears `corpus_fingerprint`."""
        vectors = _as_vectors(vectors, self.dim)
        ids = _as_ids(ids, len(vectors))
        clash = ids[np.isin(ids, self._ids_in_storage_order())]
        if len(clash):
            raise SearchIndexError(f"paragraph ids already in the index: {clash[:10].tolist()}; remove them first")
        self._index.add_with_ids(vectors, ids)
        self.corpus_fingerprint = ""

    def remove(self, ids: np.ndarray) -> int:
        """Remove paragraphs by id (unknown ids are ignored); return how many were removed.

        HNSW graphs cannot delete, so the index is rebuilt from its stored vectors. Clears `corpus_fingerprint`.
        """
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        self.corpus_fingerprint = ""
        if not isinstance(self._inner(), faiss.IndexHNSW):
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        stored = self._ids_in_storage_order()
        keep = ~np.isin(stored, ids)
        vectors = self._inner().reconstruct_n(0, len(stored))
        self._index = _new_index(self.factory, self.dim)
        self._index.add_with_ids(vectors[keep], stored[keep])
        return int((~keep).sum())

    def search(self, query_vectors: np.ndarray, k: int, *,
               allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids), each of shape (n_queries, k'), best first.

        With `allowed_ids`, FAISS only considers those ids, so the result is the top-k of what matches.
        k' is k capped at the number of candidates; an approximate kind may still leave a slot empty
        (id -1, score -inf).
        """
        queries = _as_vectors(query_vectors, self.dim)
        selector, candidates = None, len(self)
        if allowed_ids is not None:
            allowed = np.unique(np.asarray(allowed_ids, dtype=np.int64))
            selector, candidates = faiss.IDSelectorBatch(allowed), min(candidates, len(allowed))
        k = min(k, candidates)
        if k <= 0:
            return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        params = self._search_params(selector, candidates / len(self), k)
        scores, ids = self._index.search(queries, k, params=params)
        scores[ids < 0] = -np.inf
        return scores, ids

    def save(self, directory: str | Path) -> None:
        """Write `index.faiss` and `manifest.json` into `directory`, replacing any previous version atomically."""
        manifest = IndexManifest(
            format_version=FORMAT_VERSION, model_id=self.model_id, dim=self.dim, normalization="l2",
            kind=self.kind, factory=self.factory, count=len(self), corpus_fingerprint=self.corpus_fingerprint,
            versions={"faiss": faiss.__version__, "numpy": np.__version__, "policy_nlp": __version__},
            created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        with atomic_dir(Path(directory)) as tmp:
            faiss.write_index(self._index, str(tmp / INDEX_FILE))
            (tmp / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2),
                                             encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, *, expected_model_id: str | None = None,
             expected_dim: int | None = None) -> VectorIndex:
        """Load a saved index, refusing one built with another model or dimension."""
        manifest = read_manifest(directory)
        if (expected_model_id is not None and manifest.model_id != expected_model_id) or (
                expected_dim is not None and manifest.dim != expected_dim):
            current = f"{expected_model_id or manifest.model_id} ({expected_dim or manifest.dim}-d)"
            raise SearchIndexError(f"index was built with model {manifest.model_id} ({manifest.dim}-d) "
                                   f"but the current model is {current}; {REBUILD_HINT}")
        path = Path(directory) / INDEX_FILE
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise SearchIndexError(f"the vector index {path} is missing or damaged; {REBUILD_HINT}") from exc
        if index.ntotal != manifest.count or index.d != manifest.dim:
            raise SearchIndexError(f"the vector index {path} does not match its manifest "
                                   f"({index.ntotal} vs {manifest.count} paragraphs); {REBUILD_HINT}")
        return cls(index, model_id=manifest.model_id, kind=manifest.kind, factory=manifest.factory,
                   corpus_fingerprint=manifest.corpus_fingerprint)

    def _inner(self) -> faiss.Index:
        """The index that holds the vectors (inside the id map, where there is one)."""
        if isinstance(self._index, faiss.IndexIDMap2):
            return faiss.downcast_index(self._index.index)
        return self._index

    def _ids_in_storage_order(self) -> np.ndarray:
        if isinstance(self._index, faiss.IndexIDMap2):
            return faiss.vector_to_array(self._index.id_map)
        invlists = faiss.extract_index_ivf(self._index).invlists
        parts = [faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                 for i in range(invlists.nlist) if invlists.list_size(i)]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    def _search_params(self, selector: faiss.IDSelector | None, fraction: float,
                       k: int) -> faiss.SearchParameters | None:
        """Search breadth for approximate kinds, widened by 1/fraction when a filter keeps a fraction of ids."""
        inner = self._inner()
        if isinstance(inner, faiss.IndexHNSW):
            ef = min(math.ceil(max(HNSW_EF_SEARCH, k) / fraction), len(self))
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef, k))
        ivf = faiss.try_extract_index_ivf(inner)
        if ivf is not None:
            return faiss.SearchParametersIVF(sel=selector, nprobe=min(math.ceil(IVF_NPROBE / fraction), ivf.nlist))
        return None if selector is None else faiss.SearchParameters(sel=selector)


def read_manifest(directory: str | Path) -> IndexManifest:
    """Read and check `manifest.json`; SearchIndexError when it is missing, unreadable or of another format."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise SearchIndexError(f"no vector index in {directory}; run `policy-nlp index build` to create it")
    try:
        manifest = IndexManifest(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise SearchIndexError(f"the index manifest {path} is damaged; {REBUILD_HINT}") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise SearchIndexError(f"the index in {directory} has format {manifest.format_version}, this version "
                               f"reads format {FORMAT_VERSION}; {REBUILD_HINT}")
    return manifest


def _factory_for(kind: str, n: int, dim: int) -> str:
    """The faiss factory string of a preset; any other `kind` is taken as a factory string."""
    if kind == "flat":
        return "Flat"
    if kind == "hnsw":
        return f"HNSW{HNSW_M},Flat"
    if kind != "ivfpq":
        return kind
    if n < IVFPQ_MIN_TRAIN:
        raise ConfigError(f"the ivfpq index needs at least {IVFPQ_MIN_TRAIN} paragraphs to train, got {n}; "
                          "use the exact 'flat' index, which is fast at this size")
    if dim % PQ_DIMS_PER_CODE:
        raise ConfigError(f"the ivfpq index needs a dimension divisible by {PQ_DIMS_PER_CODE}, got {dim}")
    nlist = min(int(4 * math.sqrt(n)), n // 39)  # faiss wants >= 39 training points per list
    return f"IVF{nlist},PQ{dim // PQ_DIMS_PER_CODE}x4fs"  # 4-bit fast-scan PQ: trains and scans fast


def _new_index(factory: str, dim: int) -> faiss.Index:
    """An empty index; IVF keeps ids itself (its remove_ids is wrong under IndexIDMap2), others get an id map."""
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ConfigError(f"unknown index kind {factory!r}; use 'flat', 'hnsw', 'ivfpq' "
                          "or a faiss factory string") from exc
    return index if faiss.try_extract_index_ivf(index) is not None else faiss.IndexIDMap2(index)


def _as_vectors(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if vectors.ndim != 2 or (dim is not None and vectors.shape[1] != dim):
        raise SearchIndexError(f"expected vectors of dimension {dim}, got an array of shape {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1)
    if len(norms) and np.abs(norms - 1).max() > _NORM_TOLERANCE:
        raise SearchIndexError("vectors must be L2-normalised (norm 1); "
                               f"got norms between {norms.min():.3f} and {norms.max():.3f}")
    return vectors


def _as_ids(ids: np.ndarray, n: int) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    if ids.shape != (n,):
        raise SearchIndexError(f"expected {n} paragraph ids, got an array of shape {ids.shape}")
    if len(np.unique(ids)) != n:
        raise SearchIndexError("paragraph ids must be unique")
    return ids
