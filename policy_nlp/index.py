"""FAISS vector index over paragraph embeddings, keyed by store paragraph ids, with a manifest on disk.

Vectors are L2-normalised float32, so inner product is cosine similarity. Kinds: "flat" (exact,
the default), "hnsw" (graph, approximate), "ivfpq" (compressed, approximate, needs training) or
any faiss factory string.
"""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

from policy_nlp.artifacts import Manifest, read_manifest, write_folder
from policy_nlp.errors import ConfigError, SearchIndexError

ARTIFACT = "dense-index"
INDEX_FILE = "index.faiss"
REBUILD_HINT = "run `policy-nlp index build` to rebuild it"
REPAIR_HINT = "run `policy-nlp index update` to repair it"

HNSW_M = 32
HNSW_EF_SEARCH = 64
IVF_NPROBE = 32
PQ_DIMS_PER_CODE = 4  # ivfpq: a 4-bit code per 4 dimensions, 48 bytes per 384-d vector
IVFPQ_MIN_TRAIN = 10_000  # below this, exact search is fast anyway and IVF training is unreliable
_NORM_TOLERANCE = 1e-3
_CHECK_CHUNK = 65_536  # vectors read back at a time when checking for damage


class VectorIndex:
    """Inner-product search over int64-keyed, L2-normalised embeddings."""

    def __init__(self, index: faiss.Index, *, model_id: str, kind: str, factory: str,
                 corpus_fingerprint: str = "") -> None:
        self._index = index
        self.model_id = model_id
        self.kind = kind
        self.factory = factory
        self.corpus_fingerprint = corpus_fingerprint
        self._damaged: np.ndarray | None = None

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
        self.corpus_fingerprint, self._damaged = "", None

    def remove(self, ids: np.ndarray) -> int:
        """Remove paragraphs by id (unknown ids are ignored); return how many were removed.

        HNSW graphs cannot delete, so the index is rebuilt from its stored vectors. Clears `corpus_fingerprint`.
        """
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        self.corpus_fingerprint, self._damaged = "", None
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
        (id -1, score -inf). A damaged stored vector would rank first for every query: refused.
        """
        queries = _as_vectors(query_vectors, self.dim)
        damaged = self.damaged_ids()
        if len(damaged):
            raise SearchIndexError(f"the vector index has {len(damaged)} damaged vectors (paragraphs "
                                   f"{', '.join(map(str, damaged[:5]))}); {REPAIR_HINT}")
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
        manifest = Manifest.new(ARTIFACT, model_id=self.model_id, counts={"paragraphs": len(self)},
                                settings={"dim": self.dim, "normalization": "l2", "kind": self.kind,
                                          "factory": self.factory, "corpus_fingerprint": self.corpus_fingerprint},
                                libraries=(faiss, np))  # fmt: skip
        with write_folder(Path(directory), manifest) as tmp:
            faiss.write_index(self._index, str(tmp / INDEX_FILE))

    @classmethod
    def load(cls, directory: str | Path, *, expected_model_id: str | None = None,
             expected_dim: int | None = None) -> VectorIndex:
        """Load a saved index, refusing one built with another model or dimension, or that disagrees with its manifest."""
        manifest = load_manifest(directory)
        dim = manifest.settings["dim"]
        if (expected_model_id is not None and manifest.model_id != expected_model_id) or (
                expected_dim is not None and dim != expected_dim):
            current = f"{expected_model_id or manifest.model_id} ({expected_dim or dim}-d)"
            raise SearchIndexError(f"index was built with model {manifest.model_id} ({dim}-d) "
                                   f"but the current model is {current}; {REBUILD_HINT}")
        path = Path(directory) / INDEX_FILE
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise SearchIndexError(f"the vector index {path} is missing or damaged; {REBUILD_HINT}") from exc
        count = manifest.counts.get("paragraphs")
        for what, found, recorded in (("dimension", index.d, dim), ("paragraph count", index.ntotal, count)):
            if found != recorded:
                raise SearchIndexError(f"the vector index {path} does not match its manifest: {what} {found} in the "
                                       f"index, {recorded} in the manifest; {REBUILD_HINT}")
        return cls(index, model_id=manifest.model_id, kind=manifest.settings["kind"],
                   factory=manifest.settings["factory"], corpus_fingerprint=manifest.settings["corpus_fingerprint"])

    def damaged_ids(self) -> np.ndarray:
        """Ids whose stored vector is not finite or not of unit length (a damaged file), sorted.

        Checked where the index keeps the vectors themselves (flat, hnsw); compressed kinds report none.
        """
        if self._damaged is None:
            inner, ids = self._inner(), self._ids_in_storage_order()
            bad = np.zeros(len(ids), bool)
            if isinstance(inner, (faiss.IndexFlat, faiss.IndexHNSWFlat)):
                for start in range(0, len(ids), _CHECK_CHUNK):
                    vectors = inner.reconstruct_n(start, min(_CHECK_CHUNK, len(ids) - start)).astype(np.float64)
                    with np.errstate(all="ignore"):
                        norms = np.linalg.norm(vectors, axis=1)
                    bad[start:start + len(vectors)] = ~(np.abs(norms - 1) <= _NORM_TOLERANCE)  # NaN is damage too
            self._damaged = np.sort(ids[bad])
        return self._damaged

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


def load_manifest(directory: str | Path) -> Manifest:
    """The manifest of a saved index (format 1 included); SearchIndexError when it is missing or unreadable."""
    try:
        return read_manifest(directory, ARTIFACT, legacy=_manifest_v1)
    except FileNotFoundError:
        raise SearchIndexError(f"no vector index in {directory}; run `policy-nlp index build` to create it") from None
    except ValueError as exc:
        raise SearchIndexError(f"the index manifest in {directory} is damaged or of another format; "
                               f"{REBUILD_HINT}") from exc


def _manifest_v1(data: dict) -> Manifest:
    """A format-1 index manifest (flat fields) read into the current shape."""
    if data["format_version"] != 1:
        raise ValueError(f"unknown index format {data['format_version']}")
    settings = {key: data[key] for key in ("dim", "normalization", "kind", "factory", "corpus_fingerprint")}
    return Manifest(ARTIFACT, model_id=data["model_id"], counts={"paragraphs": data["count"]}, settings=settings,
                    versions=data["versions"], created_utc=data["created_utc"], format_version=1)


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
