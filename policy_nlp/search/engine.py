"""Query-time search over a home: dense, BM25 or hybrid ranking, filters, near-duplicate grouping.

Filters become the set of allowed paragraph ids, applied inside FAISS and BM25, so top-k is always
the top-k of what matches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..corpus import CorpusStore, StoredParagraph
from ..embed import Encoder
from ..errors import ConfigError
from ..index import VectorIndex
from ..schema import SECTION_SEPARATOR
from .bm25 import BM25Index
from .dedup import group_duplicates
from .facets import Facets, count_facets
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


@dataclass(frozen=True)
class Copy:
    """A near-identical paragraph grouped under a hit: which document and bureau it comes from."""

    para_id: int
    doc_id: str
    title: str
    bureau: str
    level: str
    years: list[int]


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
    highlights: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of matched terms in `snippet`
    before_id: int | None = None  # the paragraph before this one in its document (context)
    after_id: int | None = None  # the paragraph after it
    copies: list[Copy] = field(default_factory=list)  # where each near-duplicate comes from, in `duplicates` order

    @property
    def count(self) -> int:
        """How many paragraphs this hit stands for (itself and its near-duplicates)."""
        return 1 + len(self.duplicates)

    def to_json(self) -> dict[str, object]:
        """Every field and ``count``: what ``search --json`` and the web API print."""
        return {**asdict(self), "count": self.count}


class SearchEngine:
    """Searches the paragraphs of one store with its indexes; encoder loaded on the first dense query."""

    def __init__(self, store: CorpusStore, dense: VectorIndex, bm25: BM25Index, encoder: Encoder | None = None,
                 *, home: Path | None = None) -> None:  # fmt: skip
        self.store, self.dense, self.bm25 = store, dense, bm25
        self._encoder, self._home = encoder, home

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

    def search_page(self, query: str, *, k: int = 10, offset: int = 0, mode: str = DEFAULT_MODE,
                    filters: Filters | None = None, group: bool = True) -> SearchPage:  # fmt: skip
        """Results ``offset`` to ``offset + k`` and the facet counts of every ranked candidate (one ranking)."""
        if not query.strip():
            raise ConfigError("the query is empty: type some words or paste a paragraph")
        if offset < 0:
            raise ConfigError(f"offset {offset} is negative: results start at 0")
        ranked = self.rank(query, mode=mode, filters=filters, depth=max(CANDIDATES, 3 * (k + offset)))
        hits = self._hits(query, ranked, k=k, group=group, offset=offset)
        pool = [i for i, _ in ranked[:CANDIDATES]]
        facets = count_facets(self.store.iter_paragraphs(para_ids=pool), self.store.themes_of(pool))
        return SearchPage(hits, facets)

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
        if filters is None or not filters.active:
            return None
        where, params = filters.to_sql()
        return np.asarray(self.store.paragraph_ids(where, params), dtype=np.int64)

    def _hits(self, query: str, ranked: list[tuple[int, float]], *, k: int, group: bool, offset: int = 0) -> list[Hit]:
        if not ranked:
            return []
        ids = [i for i, _ in ranked]
        paragraphs = {p.para_id: p for p in self.store.iter_paragraphs(para_ids=ids)}
        scores = dict(ranked)
        if group:
            groups = group_duplicates(ids, [paragraphs[i].text for i in ids], [scores[i] for i in ids])
            chosen = [(g.leader_id, list(g.member_ids[1:])) for g in groups[offset : offset + k]]
        else:
            chosen = [(i, []) for i in ids[offset : offset + k]]
        terms = _query_terms(query)
        neighbours = self.store.neighbours([i for i, _ in chosen])
        hits = [_hit(paragraphs[i], scores[i], terms, dups) for i, dups in chosen]
        for hit in hits:
            hit.before_id, hit.after_id = neighbours.get(hit.para_id, (None, None))
            hit.copies = [_copy(paragraphs[i]) for i in hit.duplicates]
        return hits


@dataclass(frozen=True)
class SearchPage:
    """One page of results and the facet counts (bureau, level, year, theme) of everything ranked."""

    hits: list[Hit]
    facets: Facets


def _query_terms(query: str) -> list[str]:
    """The query's words worth highlighting: longest first, so 课后服务 wins over 服务."""
    return sorted({t for t in tokenize(query) if len(t) > 1 or not t.isascii()}, key=len, reverse=True)


def _hit(p: StoredParagraph, score: float, terms: list[str], duplicates: list[int]) -> Hit:
    matched = [t for t in terms if t in p.text.lower()]
    window = snippet(p.text, matched)
    return Hit(
        para_id=p.para_id, score=float(score), doc_id=p.doc_id, title=p.title, bureau=p.bureau, level=p.level,
        region=p.region, years=p.years, doc_type=p.doc_type, section=SECTION_SEPARATOR.join(p.section_path),
        text=p.text, snippet=window, matched_terms=matched, duplicates=duplicates,
        highlights=highlight_spans(window, matched),
    )  # fmt: skip


def _copy(p: StoredParagraph) -> Copy:
    return Copy(p.para_id, p.doc_id, p.title, p.bureau, p.level, p.years)


def highlight_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) spans of ``terms`` in ``text`` (case-insensitive), longer terms first, in text order."""
    lowered = text.lower()
    taken = [False] * len(text)
    spans = []
    for term in sorted(terms, key=len, reverse=True):
        start = lowered.find(term.lower()) if term else -1
        while start >= 0:
            end = start + len(term)
            if not any(taken[start:end]):
                spans.append((start, end))
                taken[start:end] = [True] * len(term)
            start = lowered.find(term.lower(), end)
    return sorted(spans)


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """A window of ``text`` around the first matched term (the start when none matched), with … at cuts."""
    flat = text.replace("\n", " ")
    positions = [flat.lower().find(t) for t in terms if t in flat.lower()]
    start = max(0, min(positions) - width // 4) if positions else 0
    end = min(len(flat), start + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
