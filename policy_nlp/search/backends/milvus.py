"""The search indexes of a home in a Milvus collection (a cluster, a standalone server, or milvus-lite).

Milvus holds, per stored paragraph: its id, its embedding (inner product), the document fields that
filters need (bureau, level, region, doc type, doc id, first and last year, themes) and its text
analysed by the project's own analyzers (jieba words; character uni+bigrams). Each analysed term is
written as a 12-hex-digit hash, which the "standard" tokenizer of both Milvus and milvus-lite keeps as
one term, and Milvus's BM25 function indexes those terms: keyword search and filtering run in Milvus,
over exactly the terms the local index uses. The store stays the source of texts and metadata.

Fusion stays in the project: Milvus's RRF ranker has no per-signal weights (the default fusion weighs
signals by query kind) and the relevance estimate needs each signal's own ranking, so `SearchEngine`
fuses the three rankings Milvus returns, as it does the local ones.

The home records the server and collection in ``index/milvus/manifest.json``; while it is there, every
command searches Milvus. A local `index build` removes it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ...artifacts import Manifest, read_manifest, write_folder
from ...corpus import CorpusStore, StoredParagraph
from ...errors import ConfigError, SearchIndexError
from ..bm25 import B, K1
from ..filters import Filters
from ..tokenize import ANALYZERS, tokenizer_signature
from .milvus_expr import NO_YEAR_MAX, NO_YEAR_MIN, expression

log = logging.getLogger(__name__)

ARTIFACT = "milvus-index"
DIRNAME = "milvus"
DEFAULT_COLLECTION = "policy_nlp_paragraphs"
TOKEN_ENV = "POLICY_NLP_MILVUS_TOKEN"  # never stored in the home
MODEL_PROPERTY = "policy_nlp.model_id"
INDEX_TYPES = {"flat": "FLAT", "hnsw": "HNSW"}  # other kinds are taken as Milvus index types (IVF_FLAT, …)
HNSW_PARAMS = {"M": 32, "efConstruction": 200}
HNSW_EF = 64
IVF_NPROBE = 32
TEXT_MAX_BYTES = 65_535  # Milvus's longest VARCHAR
FIELD_MAX_BYTES = 512
THEMES_MAX = 16
TERM_DIGITS = 12
BATCH = 256
TIMEOUT_S = 60.0
#: Signal name -> the analyzer (and text field) it searches.
KEYWORD_SIGNALS = {"bm25": "words", "chars": "chars"}
SCALAR_FIELDS = ("doc_id", "bureau", "level", "region", "doc_type")
STORED_FIELDS = ("id", "vector", *SCALAR_FIELDS, "year_min", "year_max", "themes", "words", "chars")


def manifest_dir(home: Path) -> Path:
    return home / "index" / DIRNAME


def configured(home: Path) -> bool:
    """Whether the home's index lives in Milvus."""
    return (manifest_dir(home) / "manifest.json").is_file()


def forget(home: Path) -> None:
    """Stop using Milvus for this home (the collection itself is left on the server)."""
    shutil.rmtree(manifest_dir(home), ignore_errors=True)


def read(home: Path) -> Manifest:
    try:
        return read_manifest(manifest_dir(home), ARTIFACT)
    except (FileNotFoundError, ValueError) as exc:
        raise SearchIndexError(f"the Milvus index record in {manifest_dir(home)} is missing or damaged; "
                               "run `policy-nlp index build --backend milvus --uri URI`") from exc


def analysed(text: str, analyzer: str) -> str:
    """`text` analysed as the local index analyses it, each term as a hash Milvus's standard tokenizer keeps whole.

    Terms past Milvus's longest text are left out (with a warning): only paragraphs of several thousand characters.
    """
    terms = " ".join(_term(t) for t in ANALYZERS[analyzer](text))
    if len(terms) > TEXT_MAX_BYTES:
        log.warning("a paragraph of %d characters keeps its first %d %s terms in Milvus", len(text),
                    TEXT_MAX_BYTES // (TERM_DIGITS + 1), analyzer)
        terms = terms[: TEXT_MAX_BYTES - TEXT_MAX_BYTES % (TERM_DIGITS + 1) - 1]
    return terms


@lru_cache(maxsize=1 << 18)
def _term(token: str) -> str:
    return hashlib.blake2b(token.encode(), digest_size=TERM_DIGITS // 2).hexdigest()


class MilvusIndexes:
    """A home's paragraphs in a Milvus collection: search with filters applied by Milvus, add, remove, list."""

    native_filters = True

    def __init__(self, client: Any, manifest: Manifest) -> None:
        self._client, self.manifest = client, manifest
        settings = manifest.settings
        self.uri, self.collection, self.dim, self.kind = (settings["uri"], settings["collection"], settings["dim"],
                                                          settings["kind"])  # fmt: skip

    @classmethod
    def open(cls, home: Path) -> MilvusIndexes:
        """The collection the home records, checked to hold vectors of the home's model and dimension."""
        manifest = read(home)
        uri, name, dim = manifest.settings["uri"], manifest.settings["collection"], manifest.settings["dim"]
        client = connect(uri)
        with answering(uri):
            if not client.has_collection(name):
                raise SearchIndexError(f"the Milvus server at {uri} has no collection {name}: run `policy-nlp index "
                                       f"build --backend milvus --uri {uri} --collection {name}`")
            described = client.describe_collection(name)
            found_model = described.get("properties", {}).get(MODEL_PROPERTY, "unknown")
            found_dim = next((int(f["params"]["dim"]) for f in described["fields"] if f["name"] == "vector"), None)
            if found_model != manifest.model_id or found_dim != dim:
                raise SearchIndexError(f"the Milvus collection {name} at {uri} holds vectors of model {found_model} "
                                       f"({found_dim}-d) but this home's index uses {manifest.model_id} ({dim}-d); "
                                       f"run `policy-nlp index build --backend milvus --uri {uri}`")
            client.load_collection(name)  # a reopened collection must be loaded before searching
        return cls(client, manifest)

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def corpus_fingerprint(self) -> str:
        return self.manifest.settings["corpus_fingerprint"]

    def __len__(self) -> int:
        with answering(self.uri):
            rows = self._client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def ids(self) -> np.ndarray:
        return np.sort(np.fromiter((row["id"] for row in self._rows(["id"])), dtype=np.int64))

    def themes(self) -> dict[int, list[str]]:
        """Each paragraph's themes as Milvus holds them (paragraphs without any left out)."""
        return {int(row["id"]): list(row["themes"]) for row in self._rows(["id", "themes"]) if row["themes"]}

    def search(self, name: str, query: str, vector: np.ndarray | None, depth: int, *, filters: Filters | None = None,
               allowed: np.ndarray | None = None, ann: dict[str, int] | None = None) -> list[tuple[int, float]]:  # fmt: skip
        """Signal `name`'s top `depth` among the paragraphs matching `filters` (and in `allowed`), best first."""
        if name == "dense":
            data, field = np.asarray(vector, dtype=np.float32).reshape(1, -1).tolist(), "vector"
            params: dict[str, Any] = {"metric_type": "IP", "params": self._dense_params(depth, ann or {})}
        elif name in KEYWORD_SIGNALS:
            terms = analysed(query, KEYWORD_SIGNALS[name])
            if not terms:
                return []
            data, field, params = [terms], f"{KEYWORD_SIGNALS[name]}_sparse", {"metric_type": "BM25"}
        else:
            raise ConfigError(f"unknown search signal '{name}': choose dense, bm25 or chars")
        with answering(self.uri):
            found = self._client.search(self.collection, data=data, anns_field=field, limit=depth,
                                        filter=expression(filters, allowed), output_fields=["id"],
                                        search_params=params)[0]  # fmt: skip
        # BM25 scores are positive; milvus-lite returns them negated, so the magnitude is kept (the order is right).
        return [(int(hit["id"]), float(hit["distance"]) if name == "dense" else abs(float(hit["distance"])))
                for hit in found]  # fmt: skip

    def add(self, paragraphs: Sequence[StoredParagraph], vectors: np.ndarray, themes: dict[int, list[str]]) -> None:
        """Insert paragraphs with their vectors and assigned themes."""
        for start in range(0, len(paragraphs), BATCH):
            chunk = paragraphs[start : start + BATCH]
            rows = [_row(p, v, themes.get(p.para_id, [])) for p, v in zip(chunk, vectors[start : start + BATCH])]
            with answering(self.uri):
                self._client.insert(self.collection, rows)

    def remove(self, ids: np.ndarray) -> None:
        for start in range(0, len(ids), BATCH * 8):
            chunk = [int(i) for i in ids[start : start + BATCH * 8]]
            with answering(self.uri):
                self._client.delete(self.collection, filter=f"id in {chunk}")

    def retag(self, themes: dict[int, list[str]]) -> None:
        """Replace the themes of paragraphs ``themes`` names (id -> themes), keeping everything else."""
        ids = list(themes)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            with answering(self.uri):
                rows = self._client.query(self.collection, filter=f"id in {chunk}", output_fields=list(STORED_FIELDS))
                self._client.upsert(self.collection, [{**_plain(row), "themes": themes[row["id"]]} for row in rows])

    def _dense_params(self, depth: int, ann: dict[str, int]) -> dict[str, int]:
        """Milvus's search breadth for this collection's index; ``ann`` (nprobe, ef_search) overrides the default."""
        if self.kind == "hnsw":
            return {"ef": max(ann.get("ef_search", HNSW_EF), depth)}
        return {"nprobe": ann.get("nprobe", IVF_NPROBE)} if self.kind.upper().startswith("IVF") else {}

    def _rows(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        with answering(self.uri), _quiet_iterator():
            iterator = self._client.query_iterator(self.collection, batch_size=BATCH * 8, filter="id >= 0",
                                                   output_fields=fields)  # fmt: skip
            try:
                while batch := iterator.next():
                    yield from batch
            finally:
                iterator.close()


def create(uri: str, collection: str, *, model_id: str, dim: int, kind: str) -> MilvusIndexes:
    """A new, empty collection (replacing one of that name) and a handle on it."""
    from pymilvus import DataType, Function, FunctionType

    client = connect(uri)
    with answering(uri):
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        for name in SCALAR_FIELDS:
            schema.add_field(name, DataType.VARCHAR, max_length=FIELD_MAX_BYTES)
        schema.add_field("year_min", DataType.INT64)
        schema.add_field("year_max", DataType.INT64)
        schema.add_field("themes", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=THEMES_MAX,
                         max_length=64)  # fmt: skip
        index_params = client.prepare_index_params()
        index_type = INDEX_TYPES.get(kind, kind.upper())
        index_params.add_index("vector", index_type=index_type, metric_type="IP",
                               params=HNSW_PARAMS if index_type == "HNSW" else {})  # fmt: skip
        for analyzer in KEYWORD_SIGNALS.values():
            schema.add_field(analyzer, DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True,
                             analyzer_params={"tokenizer": "standard"})  # fmt: skip
            schema.add_field(f"{analyzer}_sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name=f"{analyzer}_bm25", function_type=FunctionType.BM25,
                                         input_field_names=[analyzer], output_field_names=[f"{analyzer}_sparse"]))
            index_params.add_index(f"{analyzer}_sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                                   params={"bm25_k1": K1, "bm25_b": B})  # fmt: skip
        client.create_collection(collection, schema=schema, index_params=index_params)
        client.alter_collection_properties(collection, properties={MODEL_PROPERTY: model_id})
        client.load_collection(collection)
    settings = {"uri": uri, "collection": collection, "dim": dim, "kind": kind, "corpus_fingerprint": "",
                "analyzers": {name: tokenizer_signature(name) for name in KEYWORD_SIGNALS.values()}}
    return MilvusIndexes(client, Manifest.new(ARTIFACT, model_id=model_id, settings=settings))


def save(home: Path, indexes: MilvusIndexes, *, corpus_fingerprint: str, count: int) -> None:
    """Record in the home that its index is this collection, in step with the store's `corpus_fingerprint`."""
    import pymilvus

    old = indexes.manifest
    settings = {**old.settings, "corpus_fingerprint": corpus_fingerprint}
    indexes.manifest = Manifest.new(ARTIFACT, model_id=old.model_id, counts={"paragraphs": count}, settings=settings,
                                    libraries=(pymilvus,))  # fmt: skip
    with write_folder(manifest_dir(home), indexes.manifest):
        pass


def differences(store: CorpusStore, indexes: MilvusIndexes) -> tuple[np.ndarray, np.ndarray, dict[int, list[str]]]:
    """(ids missing from Milvus, ids Milvus holds that the store lost, id -> store themes where Milvus differs)."""
    stored, indexed = np.asarray(store.paragraph_ids(), np.int64), indexes.ids()
    both = np.intersect1d(stored, indexed).tolist()
    wanted, held = store.themes_of(both), indexes.themes()
    retag = {i: wanted.get(i, []) for i in both if sorted(wanted.get(i, [])) != sorted(held.get(i, []))}
    return stored[~np.isin(stored, indexed)], indexed[~np.isin(indexed, stored)], retag


def connect(uri: str) -> Any:
    """A client of the Milvus server at `uri` (credentials, "user:password" or an API key, from $POLICY_NLP_MILVUS_TOKEN);
    a one-line error when the extra is missing or the server is down."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise ConfigError("the Milvus backend needs the milvus extra: pip install 'policy_nlp[milvus]'") from None
    with answering(uri):
        return MilvusClient(uri=uri, token=os.environ.get(TOKEN_ENV, ""), timeout=TIMEOUT_S)


@contextmanager
def answering(uri: str) -> Iterator[None]:
    """Turn the client's errors into one-line SearchIndexErrors that name the server."""
    import grpc
    from pymilvus import MilvusException

    try:
        yield
    except (MilvusException, grpc.RpcError) as exc:
        message = str(getattr(exc, "message", "") or exc)
        if isinstance(exc, grpc.RpcError) or "connect" in message.lower() or "unavailable" in message.lower():
            raise SearchIndexError(f"the Milvus server at {uri} does not answer: start it, or build the index "
                                   "with another --uri") from None  # fmt: skip
        raise SearchIndexError(f"the Milvus server at {uri} refused the request: {message}") from None


@contextmanager
def _quiet_iterator() -> Iterator[None]:
    """milvus-lite has no MVCC timestamp for query iterators; pymilvus warns and uses its own (harmless)."""
    logger = logging.getLogger("pymilvus")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _row(p: StoredParagraph, vector: np.ndarray, themes: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": p.para_id, "vector": np.asarray(vector, dtype=np.float32).tolist()}
    row.update({name: _clip(getattr(p, name)) for name in SCALAR_FIELDS})
    row["year_min"], row["year_max"] = (min(p.years), max(p.years)) if p.years else (NO_YEAR_MIN, NO_YEAR_MAX)
    row["themes"] = list(themes)[:THEMES_MAX]
    row.update({analyzer: analysed(p.text, analyzer) for analyzer in KEYWORD_SIGNALS.values()})
    return row


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A queried row as insertable values (vectors and arrays as plain lists)."""
    return {name: list(row[name]) if name in ("vector", "themes") else row[name] for name in STORED_FIELDS}


def _clip(value: str | None) -> str:
    """A metadata value cut to Milvus's field length (in UTF-8 bytes), never inside a character."""
    return (value or "").encode()[:FIELD_MAX_BYTES].decode(errors="ignore")
