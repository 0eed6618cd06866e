"""What a search backend does for `SearchEngine`: the local FAISS + bm25s indexes (`search.indexes.Indexes`,
the default) or a Milvus collection (`backends.milvus.MilvusIndexes`), chosen when the index is built and
recorded in the home."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..filters import Filters


class SearchBackend(Protocol):
    """The indexes of one home as the search engine uses them; the store stays the source of texts and metadata."""

    #: True when `search` applies `Filters` itself; else the engine turns them into allowed ids from the store.
    native_filters: bool

    @property
    def model_id(self) -> str: ...

    @property
    def corpus_fingerprint(self) -> str:
        """The store's fingerprint when the index last matched it ("" when unknown)."""
        ...

    def __len__(self) -> int: ...

    def ids(self) -> np.ndarray:
        """Every paragraph id the backend holds, sorted."""
        ...

    def search(self, name: str, query: str, vector: np.ndarray | None, depth: int, *, filters: Filters | None = None,
               allowed: np.ndarray | None = None, ann: dict[str, int] | None = None) -> list[tuple[int, float]]:  # fmt: skip
        """Signal `name`'s ranking (dense, bm25, chars) of what matches, (paragraph id, score) best first.

        ``ann`` overrides the dense index's search breadth (``nprobe``, ``ef_search``) for this query.
        """
        ...
