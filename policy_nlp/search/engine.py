"""Query-time search over a home: dense, BM25 or hybrid ranking, filters, near-duplicate grouping.

Filters become the set of allowed paragraph ids, applied inside FAISS and BM25, so top-k is always
the top-k of what matches. When the store changed after the last index update, the same mechanism
keeps removed paragraphs out of the results, and a warning says to run `policy-nlp index update`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..corpus import CorpusStore, StoredParagraph
from ..embed import Encoder
from ..errors import ConfigError
from ..index import VectorIndex
from ..schema import SECTION_SEPARATOR
from .bm25 import BM25Index
from .dedup import group_duplicates
from .filters import Filters
from .fusion import rrf
from .indexes import encoder_for, load
from .tokenize import tokenize

MODES = ("hybrid", "dense", "bm25")
DEFAULT_MODE = "hybrid"
#: Each ranking contributes this many candidates (at least) to fusion and grouping.
CANDIDATES = 100
SNIPPET_CHARS = 90
#: Hybrid = reciprocal rank fusion of the dense and BM25 rankings, the dense one weighted this much
#: (BM25 weighs 1). Chosen on the project's evaluation set: see README, "Search quality".
DENSE_WEIGHT = 0.5

log = logging.getLogger(__name__)


@dataclass
class Hit:
    """One search result: a paragraph with where it comes from, and its near-duplicates."""

    para_id: int
    score: float
    doc_id: str
    title: str
    bureau: str
    level: str
    region: str
    years: list[int]
    doc_type: str
    section: str
    text: str
    snippet: str  # a window of the text around the matched words
    matched_terms: list[str]  # query words found in the text
    duplicates: list[int] = field(default_factory=list)  # ids of near-identical paragraphs grouped under this hit

    @property
    def count(self) -> int:
        """How many paragraphs this hit stands for (itself and its near-duplicates)."""
        return 1 + len(self.duplicates)


class SearchEngine:
    """Searches the paragraphs of one store with its indexes; encoder loaded on the first dense query."""

    def __init__(self, store: CorpusStore, dense: VectorIndex, bm25: BM25Index, encoder: Encoder | None = None,
                 *, home: Path | None = None) -> None:  # fmt: skip
        self.store, self.dense, self.bm25 = store, dense, bm25
        self._encoder, self._home = encoder, home
        self._checked: tuple[str, bool] | None = None  # (store fingerprint, whether the index holds removed ids)

    @classmethod
    def open(cls, store: CorpusStore, home: Path) -> SearchEngine:
        dense, bm25 = load(home)
        return cls(store, dense, bm25, home=home)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = encoder_for(self.dense.model_id, self._home, show_progress=False)
        return self._encoder

    def search(self, query: str, *, k: int = 10, mode: str = DEFAULT_MODE, filters: Filters | None = None,
               group: bool = True) -> list[Hit]:  # fmt: skip
        """The top ``k`` results for a phrase or a pasted paragraph."""
        if not query.strip():
            raise ConfigError("the query is empty: type some words or paste a paragraph")
        ranked = self.rank(query, mode=mode, filters=filters, depth=max(CANDIDATES, 3 * k))
        return self._hits(query, ranked, k=k, group=group)

    def rank(self, query: str, *, mode: str = DEFAULT_MODE, filters: Filters | None = None,
             depth: int = CANDIDATES) -> list[tuple[int, float]]:  # fmt: skip
        """(paragraph id, score) best first, up to ``depth`` of them: the ranking before grouping."""
        if mode not in MODES:
            raise ConfigError(f"unknown search mode '{mode}': choose {', '.join(MODES)}")
        allowed = self._allowed(filters)
        if allowed is not None and not len(allowed):
            return []
        runs = []
        if mode in ("dense", "hybrid"):
            vector = self.encoder.encode_queries([query])
            scores, ids = self.dense.search(vector, depth, allowed_ids=allowed)
            keep = ids[0] >= 0
            runs.append(list(zip(ids[0][keep].tolist(), scores[0][keep].tolist())))
        if mode in ("bm25", "hybrid"):
            scores, ids = self.bm25.search(query, depth, allowed_ids=allowed)
            runs.append(list(zip(ids.tolist(), scores.tolist())))
        if mode != "hybrid":
            return runs[0]
        return rrf([[i for i, _ in run] for run in runs], weights=(DENSE_WEIGHT, 1.0))[:depth]

    def _allowed(self, filters: Filters | None) -> np.ndarray | None:
        """The paragraph ids a ranking may return; None for all the index holds (when it is in step with the store)."""
        if filters is not None and filters.active:
            where, params = filters.to_sql()
            allowed = np.asarray(self.store.paragraph_ids(where, params), dtype=np.int64)  # stored ids only
            self._behind()
            return allowed
        return np.asarray(self.store.paragraph_ids(), dtype=np.int64) if self._behind() else None

    def _behind(self) -> bool:
        """Whether the index holds paragraphs the store no longer has; warns once per change of the store."""
        fingerprint = self.store.fingerprint()
        if fingerprint == self.dense.corpus_fingerprint:
            return False
        if self._checked is None or self._checked[0] != fingerprint:
            stored = np.asarray(self.store.paragraph_ids(), dtype=np.int64)
            indexed = np.union1d(self.dense.ids, self.bm25.ids)
            removed, new = (~np.isin(indexed, stored)).sum(), (~np.isin(stored, indexed)).sum()
            if removed or new:
                log.warning("the search index is behind the store (%d removed or changed paragraphs left out, %d "
                            "new ones not searched yet); run `policy-nlp index update`", removed, new)
            self._checked = (fingerprint, bool(removed))
        return self._checked[1]

    def _hits(self, query: str, ranked: list[tuple[int, float]], *, k: int, group: bool) -> list[Hit]:
        if not ranked:
            return []
        paragraphs = {p.para_id: p for p in self.store.iter_paragraphs(para_ids=[i for i, _ in ranked])}
        ids = [i for i, _ in ranked if i in paragraphs]  # another process may remove a document meanwhile
        scores = dict(ranked)
        if group:
            groups = group_duplicates(ids, [paragraphs[i].text for i in ids], [scores[i] for i in ids])
            chosen = [(g.leader_id, list(g.member_ids[1:])) for g in groups[:k]]
        else:
            chosen = [(i, []) for i in ids[:k]]
        terms = _query_terms(query)
        return [_hit(paragraphs[i], scores[i], terms, dups) for i, dups in chosen]


def _query_terms(query: str) -> list[str]:
    """The query's words worth highlighting: longest first, so 课后服务 wins over 服务."""
    return sorted({t for t in tokenize(query) if len(t) > 1 or not t.isascii()}, key=len, reverse=True)


def _hit(p: StoredParagraph, score: float, terms: list[str], duplicates: list[int]) -> Hit:
    matched = [t for t in terms if t in p.text.lower()]
    return Hit(
        para_id=p.para_id, score=float(score), doc_id=p.doc_id, title=p.title, bureau=p.bureau, level=p.level,
        region=p.region, years=p.years, doc_type=p.doc_type, section=SECTION_SEPARATOR.join(p.section_path),
        text=p.text, snippet=snippet(p.text, matched), matched_terms=matched, duplicates=duplicates,
    )  # fmt: skip


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """A window of ``text`` around the first matched term (the start when none matched), with … at cuts."""
    flat = text.replace("\n", " ")
    positions = [flat.lower().find(t) for t in terms if t in flat.lower()]
    start = max(0, min(positions) - width // 4) if positions else 0
    end = min(len(flat), start + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
