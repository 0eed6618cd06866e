"""FAISS vector index over paragraph embeddings, keyed by store paragraph ids, with a manifest on disk.

Vectors are L2-normalised float32, so inner product is cosine similarity. Kinds (ANN presets):
"flat" (exact), "hnsw" (graph over the float vectors), "ivf-fp16" (inverted lists of 16-bit float vectors:
half the memory, recall@10 near exact with its default nprobe), "ivf-sq8" (8-bit codes: a quarter of the
memory, but on dense realistic vectors the codes alone reorder near-copies: see README, Scale), "ivfpq" (4-bit
product codes, smallest, lowest recall), "auto" (flat up to `AUTO_FLAT_MAX` paragraphs, else ivf-fp16), or any
faiss factory string. The search breadth of an approximate kind (``nprobe``,
``ef_search``) is saved in the manifest and can be overridden per query, and so is the preset asked for
(``preset``: "auto" lets `policy_nlp.search.indexes.update` change the kind when the home crosses `AUTO_FLAT_MAX`).
"""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

from policy_nlp.artifacts import Manifest, read_manifest, write_folder
from policy_nlp.errors import ConfigError, SearchIndexError
from policy_nlp.idpositions import IdPositions

ARTIFACT = "dense-index"
INDEX_FILE = "index.faiss"
REBUILD_HINT = "run `policy-nlp index build` to rebuild it"
REPAIR_HINT = "run `policy-nlp index update` to repair it"

HNSW_M = 32
HNSW_EF_SEARCH = 64
IVF_NPROBE = 32
IVF_PROBE_SHARE = 16  # a new IVF index scans 1 / IVF_PROBE_SHARE of its lists by default
PQ_DIMS_PER_CODE = 4  # ivfpq: a 4-bit code per 4 dimensions, 48 bytes per 384-d vector
IVFPQ_MIN_TRAIN = 10_000  # below this, exact search is fast anyway and IVF training is unreliable
IVF_MIN_TRAIN = IVFPQ_MIN_TRAIN
#: "auto" keeps exact search up to this many paragraphs (a flat scan of 100k takes a few ms per query).
AUTO_FLAT_MAX = 100_000
PRESETS = ("auto", "flat", "hnsw", "ivf-fp16", "ivf-sq8", "ivfpq")
_IVF_CODES = {"ivf-fp16": "SQfp16", "ivf-sq8": "SQ8"}  # 2 and 1 bytes per dimension
#: Search parameters by index family, with their defaults; saved in the manifest, overridable per query.
SEARCH_DEFAULTS = {"hnsw": {"ef_search": HNSW_EF_SEARCH}, "ivf": {"nprobe": IVF_NPROBE}, "flat": {}}
_TRAIN_POINTS_PER_LIST = 64  # k-means sample per inverted list: enough for stable centroids, fast on 2 cores
_NORM_TOLERANCE = 1e-3
_CHECK_CHUNK = 65_536  # vectors read back at a time when checking for damage
#: A filter keeping at most this share of a flat or graph index is answered by an exact scan of the kept vectors.
EXACT_FILTER_FRACTION = 0.05


class VectorIndex:
    """Inner-product search over int64-keyed, L2-normalised embeddings."""

    def __init__(self, index: faiss.Index, *, model_id: str, kind: str, factory: str,
                 corpus_fingerprint: str = "", search_params: dict[str, int] | None = None,
                 preset: str | None = None) -> None:
        self._index = index
        self.model_id = model_id
        self.kind = kind
        #: What the index was built as: "auto" or, by default, `kind` itself.
        self.preset = preset or kind
        self.factory = factory
        self.corpus_fingerprint = corpus_fingerprint
        #: The default search breadth (``nprobe`` for IVF kinds, ``ef_search`` for HNSW), saved in the manifest.
        self.search_params = {**SEARCH_DEFAULTS[self.family], **(search_params or {})}
        self._damaged: np.ndarray | None = None
        self._sorted: IdPositions | None = None  # where each stored id sits, made on the first filtered query

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, *, model_id: str, kind: str = "auto",
              corpus_fingerprint: str = "", search_params: dict[str, int] | None = None) -> VectorIndex:
        """Build an index of `kind` from `vectors` (trained on a sample of them when the kind needs training).

        "auto" becomes the kind it chooses for this many vectors (and stays the `preset`); `search_params` replace
        the kind's defaults.
        """
        vectors = _as_vectors(vectors)
        dim = vectors.shape[1]
        resolved = resolve_kind(kind, len(vectors))
        factory = _factory_for(resolved, len(vectors), dim)
        try:
            index = _new_index(factory, dim)
            if not index.is_trained:
                index.train(_training_sample(index, vectors))
        except RuntimeError as exc:
            raise ConfigError(f"cannot build a {resolved!r} index from {len(vectors)} paragraphs: {exc}") from exc
        built = cls(index, model_id=model_id, kind=resolved, factory=factory, preset=kind,
                    search_params={**_default_breadth(index), **(search_params or {})})
        built._check_params(built.search_params)
        built.add(ids, vectors)
        built.corpus_fingerprint = corpus_fingerprint
        return built

    @property
    def family(self) -> str:
        """"flat", "hnsw" or "ivf": which search parameters apply."""
        inner = self._inner()
        if isinstance(inner, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if faiss.try_extract_index_ivf(inner) is not None else "flat"

    @property
    def dim(self) -> int:
        return self._index.d

    @property
    def ids(self) -> np.ndarray:
        """All paragraph ids in the index, sorted."""
        return np.sort(self._ids_in_storage_order())

    def __len__(self) -> int:
        return self._index.ntotal

    @property
    def outgrown(self) -> bool:
        """Whether the preset would now choose another kind for this many paragraphs (only "auto" can)."""
        return resolve_kind(self.preset, len(self)) != self.kind

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add paragraphs; an id already in the index is refused. Clears `corpus_fingerprint`."""
        vectors = _as_vectors(vectors, self.dim)
        ids = _as_ids(ids, len(vectors))
        clash = ids[np.isin(ids, self._ids_in_storage_order())]
        if len(clash):
            raise SearchIndexError(f"paragraph ids already in the index: {clash[:10].tolist()}; remove them first")
        self._index.add_with_ids(vectors, ids)
        self.corpus_fingerprint, self._damaged, self._sorted = "", None, None

    def remove(self, ids: np.ndarray) -> int:
        """Remove paragraphs by id (unknown ids are ignored); return how many were removed.

        HNSW graphs cannot delete, so the index is rebuilt from its stored vectors. Clears `corpus_fingerprint`.
        """
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        self.corpus_fingerprint, self._damaged, self._sorted = "", None, None
        if not isinstance(self._inner(), faiss.IndexHNSW):
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        stored = self._ids_in_storage_order()
        keep = ~np.isin(stored, ids)
        vectors = self._inner().reconstruct_n(0, len(stored))
        self._index = _new_index(self.factory, self.dim)
        self._index.add_with_ids(vectors[keep], stored[keep])
        return int((~keep).sum())

    def search(self, query_vectors: np.ndarray, k: int, *, allowed_ids: np.ndarray | None = None,
               nprobe: int | None = None, ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids), each of shape (n_queries, k'), best first.

        With `allowed_ids`, FAISS only considers those ids, so the result is the top-k of what matches.
        k' is k capped at the number of candidates; an approximate kind may still leave a slot empty
        (id -1, score -inf). A damaged stored vector would rank first for every query: refused.
        `nprobe` (IVF kinds) and `ef_search` (HNSW) override the saved search breadth for this query.
        """
        override = {name: value for name, value in (("nprobe", nprobe), ("ef_search", ef_search)) if value is not None}
        self._check_params(override)
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
        storage = self._float_storage()
        if allowed_ids is not None and storage is not None and candidates <= EXACT_FILTER_FRACTION * len(self):
            return self._exact_subset(storage, queries, allowed, k)
        params = self._search_params(selector, candidates / len(self), k, {**self.search_params, **override})
        scores, ids = self._index.search(queries, k, params=params)
        scores[ids < 0] = -np.inf
        return scores, ids

    def save(self, directory: str | Path) -> None:
        """Write `index.faiss` and `manifest.json` into `directory`, replacing any previous version atomically."""
        manifest = Manifest.new(ARTIFACT, model_id=self.model_id, counts={"paragraphs": len(self)},
                                settings={"dim": self.dim, "normalization": "l2", "kind": self.kind,
                                          "factory": self.factory, "corpus_fingerprint": self.corpus_fingerprint,
                                          "search": self.search_params, "preset": self.preset},
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
                   factory=manifest.settings["factory"], corpus_fingerprint=manifest.settings["corpus_fingerprint"],
                   search_params=manifest.settings.get("search"), preset=manifest.settings.get("preset"))

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

    def _check_params(self, params: dict[str, int]) -> None:
        """Refuse a search parameter that does not apply to this kind, or that is not a positive integer."""
        for name, value in params.items():
            if name not in SEARCH_DEFAULTS[self.family]:
                allowed = ", ".join(f"{family}: {', '.join(p)}" for family, p in SEARCH_DEFAULTS.items() if p)
                raise ConfigError(f"{name} does not apply to a {self.kind} index (search parameters by kind: {allowed})")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")

    def _search_params(self, selector: faiss.IDSelector | None, fraction: float, k: int,
                       breadth: dict[str, int]) -> faiss.SearchParameters | None:
        """Search breadth for approximate kinds, widened by 1/fraction when a filter keeps a fraction of ids."""
        family = self.family
        if family == "hnsw":
            ef = min(math.ceil(max(breadth["ef_search"], k) / fraction), len(self))
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef, k))
        if family == "ivf":
            nlist = faiss.extract_index_ivf(self._inner()).nlist
            return faiss.SearchParametersIVF(sel=selector, nprobe=min(math.ceil(breadth["nprobe"] / fraction), nlist))
        return None if selector is None else faiss.SearchParameters(sel=selector)

    def _float_storage(self) -> faiss.IndexFlat | None:
        """The flat array of float vectors the index keeps (flat, or under an HNSW graph); None for coded kinds."""
        inner = self._inner()
        storage = faiss.downcast_index(inner.storage) if isinstance(inner, faiss.IndexHNSW) else inner
        return storage if isinstance(storage, faiss.IndexFlat) else None

    def _exact_subset(self, storage: faiss.IndexFlat, queries: np.ndarray, allowed: np.ndarray,
                      k: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The exact top-k among the stored float vectors of the `allowed` ids (a selective filter)."""
        positions = self._positions(allowed)
        if not len(positions):
            return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        vectors = faiss.rev_swig_ptr(storage.get_xb(), storage.ntotal * self.dim).reshape(-1, self.dim)[positions]
        sims = queries @ vectors.T
        k = min(k, len(positions))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable"), 1)
        return np.take_along_axis(sims, top, axis=1), self._ids_in_storage_order()[positions][top]

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        """Storage positions of the `ids` that the index holds."""
        if self._sorted is None:
            self._sorted = IdPositions(self._ids_in_storage_order())
        return self._sorted.of(ids)


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


def resolve_kind(kind: str, n: int) -> str:
    """The preset "auto" chooses for `n` paragraphs (exact up to `AUTO_FLAT_MAX`); any other kind unchanged."""
    if kind != "auto":
        return kind
    return "flat" if n <= AUTO_FLAT_MAX else "ivf-fp16"


def _factory_for(kind: str, n: int, dim: int) -> str:
    """The faiss factory string of a preset; any other `kind` is taken as a factory string."""
    if kind == "flat":
        return "Flat"
    if kind == "hnsw":
        return f"HNSW{HNSW_M},Flat"
    if kind != "ivfpq" and kind not in _IVF_CODES:
        return kind
    if n < IVF_MIN_TRAIN:
        raise ConfigError(f"the {kind} index needs at least {IVF_MIN_TRAIN} paragraphs to train, got {n}; "
                          "use the exact 'flat' index, which is fast at this size")
    if kind in _IVF_CODES:
        return f"IVF{_nlist(n, 2)},{_IVF_CODES[kind]}"
    if dim % PQ_DIMS_PER_CODE:
        raise ConfigError(f"the ivfpq index needs a dimension divisible by {PQ_DIMS_PER_CODE}, got {dim}")
    return f"IVF{_nlist(n, 4)},PQ{dim // PQ_DIMS_PER_CODE}x4fs"  # 4-bit fast-scan PQ: trains and scans fast


def _default_breadth(index: faiss.Index) -> dict[str, int]:
    """The search breadth a new index is saved with: IVF scans 1/16 of its lists (at least `IVF_NPROBE`), which
    held recall@10 >= 0.95 on realistic vectors (`benchmarks/tune_ann.py`, seed 0); others their kind's default."""
    ivf = faiss.try_extract_index_ivf(index)
    return {"nprobe": max(IVF_NPROBE, math.ceil(ivf.nlist / IVF_PROBE_SHARE))} if ivf is not None else {}


def _nlist(n: int, per_sqrt: int) -> int:
    """Inverted lists for n vectors: `per_sqrt` * sqrt(n), and at least 39 training points per list."""
    return min(int(per_sqrt * math.sqrt(n)), n // 39)


def _training_sample(index: faiss.Index, vectors: np.ndarray) -> np.ndarray:
    """At most `_TRAIN_POINTS_PER_LIST` vectors per inverted list, evenly spaced (k-means cost grows with the sample)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None or len(vectors) <= _TRAIN_POINTS_PER_LIST * ivf.nlist:
        return vectors
    ivf.cp.max_points_per_centroid = _TRAIN_POINTS_PER_LIST
    step = len(vectors) / (_TRAIN_POINTS_PER_LIST * ivf.nlist)
    return vectors[(np.arange(_TRAIN_POINTS_PER_LIST * ivf.nlist) * step).astype(np.int64)]


def _new_index(factory: str, dim: int) -> faiss.Index:
    """An empty index; IVF keeps ids itself (its remove_ids is wrong under IndexIDMap2), others get an id map."""
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ConfigError(f"unknown index kind {factory!r}; use {', '.join(PRESETS)} "
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
