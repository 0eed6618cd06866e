"""Query-time search over a home: dense, word BM25, character BM25 or hybrid ranking, filters,
near-duplicate grouping.

Filters become the set of allowed paragraph ids, applied inside FAISS and BM25 (on the Milvus backend,
an expression Milvus applies), so top-k is always the top-k of what matches. When the store changed after the last index update, the same mechanism
keeps removed paragraphs out of the results, and a warning says to run `policy-nlp index update`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..corpus import CorpusStore, StoredParagraph
from ..embed import Encoder
from ..errors import ConfigError
from ..index import VectorIndex
from ..schema import SECTION_SEPARATOR
from .dedup import group_duplicates
from .facets import Facets, count_facets
from .filters import Filters
from .fusion import FUSION, Fusion
from .backends import SearchBackend
from .indexes import encoder_for, load
from .ranker import RANKER, Candidates, LinearRanker
from .relevance import RELEVANCE, RelevanceModel, features
from .tokenize import tokenize

#: Ranking modes: the fused default, and each signal alone (bm25 = jieba words, chars = character uni+bigrams).
MODES = ("hybrid", "dense", "bm25", "chars")
DEFAULT_MODE = "hybrid"
#: Each ranking contributes this many candidates (at least) to fusion and grouping.
CANDIDATES = 100
SNIPPET_CHARS = 90


@dataclass(frozen=True)
class Member:
    """A near-identical paragraph grouped under a hit: the same template or copied text in another document."""

    para_id: int
    doc_id: str
    title: str
    bureau: str
    level: str
    years: list[int]


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
    members: list[Member] = field(default_factory=list)  # those paragraphs, with where they come from
    relevance: float | None = None  # calibrated P(a reader judges it relevant); hybrid mode only
    weak: bool = False  # relevance below the threshold chosen on the tuning half: not a close match
    highlights: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of matched terms in `snippet`
    before_id: int | None = None  # the paragraph before this one in its document (context)
    after_id: int | None = None  # the paragraph after it

    @property
    def count(self) -> int:
        """How many paragraphs this hit stands for (itself and its near-duplicates)."""
        return 1 + len(self.duplicates)

    @property
    def other_bureaus(self) -> list[str]:
        """Bureaus of the grouped copies other than this hit's own, in first-seen order."""
        return [b for b in dict.fromkeys(m.bureau for m in self.members) if b and b != self.bureau]

    def to_json(self) -> dict[str, object]:
        """Every field, ``count`` and ``other_bureaus``: what ``search --json`` and the web API print."""
        return {**asdict(self), "count": self.count, "other_bureaus": self.other_bureaus}


class SearchEngine:
    """Searches the paragraphs of one store with its indexes; encoder loaded on the first dense query."""

    def __init__(self, store: CorpusStore, indexes: SearchBackend, encoder: Encoder | None = None, *,
                 home: Path | None = None, fusion: Fusion = FUSION, relevance: RelevanceModel | None = RELEVANCE,
                 ranker: LinearRanker | None = RANKER) -> None:  # fmt: skip
        self.store, self.indexes, self.fusion, self.relevance, self.ranker = store, indexes, fusion, relevance, ranker
        self._encoder, self._home = encoder, home
        self._checked: tuple[tuple[int, int], bool] | None = None  # (store version, whether the index holds removed ids)

    @classmethod
    def open(cls, store: CorpusStore, home: Path) -> SearchEngine:
        return cls(store, load(home), home=home)

    @property
    def dense(self) -> VectorIndex:
        """The local FAISS index (the local backend only)."""
        return self.indexes.dense

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = encoder_for(self.indexes.model_id, self._home, show_progress=False)
        return self._encoder

    def search(self, query: str, *, k: int = 10, mode: str = DEFAULT_MODE, filters: Filters | None = None,
               group: bool = True, ann: dict[str, int] | None = None) -> list[Hit]:  # fmt: skip
        """The top ``k`` results for a phrase or a pasted paragraph; ``ann`` overrides the dense search breadth."""
        if not query.strip():
            raise ConfigError("the query is empty: type some words or paste a paragraph")
        ranked, runs = self._rank(query, mode, filters, max(CANDIDATES, 3 * k), ann)
        return self._hits(query, ranked, runs, k=k, group=group)

    def search_page(self, query: str, *, k: int = 10, offset: int = 0, mode: str = DEFAULT_MODE,
                    filters: Filters | None = None, group: bool = True) -> SearchPage:  # fmt: skip
        """Results ``offset`` to ``offset + k`` and the facet counts of every ranked candidate (one ranking)."""
        if not query.strip():
            raise ConfigError("the query is empty: type some words or paste a paragraph")
        if offset < 0:
            raise ConfigError(f"offset {offset} is negative: results start at 0")
        ranked, runs = self._rank(query, mode, filters, max(CANDIDATES, 3 * (k + offset)))
        hits = self._hits(query, ranked, runs, k=k, group=group, offset=offset)
        pool = [i for i, _ in ranked[:CANDIDATES]]
        facets = count_facets(self.store.iter_paragraphs(para_ids=pool), self.store.themes_of(pool))
        return SearchPage(hits, facets)

    def rank(self, query: str, *, mode: str = DEFAULT_MODE, filters: Filters | None = None,
             depth: int = CANDIDATES) -> list[tuple[int, float]]:  # fmt: skip
        """(paragraph id, score) best first, up to ``depth`` of them: the ranking before grouping."""
        return self._rank(query, mode, filters, depth)[0]

    def _rank(self, query: str, mode: str, filters: Filters | None, depth: int,
              ann: dict[str, int] | None = None) -> tuple[list[tuple[int, float]], dict[str, list[tuple[int, float]]]]:
        """The ranking and, in hybrid mode, the signal rankings it fused."""
        if mode not in MODES:
            raise ConfigError(f"unknown search mode '{mode}': choose {', '.join(MODES)}")
        allowed = self._allowed(filters)
        if allowed is not None and not len(allowed):
            return [], {}
        native = filters if self.indexes.native_filters else None  # else they are in `allowed`
        if mode != "hybrid":
            return self.signal(query, mode, depth=depth, allowed=allowed, filters=native, ann=ann), {}
        runs = {name: self.signal(query, name, depth=max(depth, CANDIDATES), allowed=allowed, filters=native, ann=ann)
                for name in sorted(set(self.fusion.signals) | set(self.ranker.signals if self.ranker else ()))}
        fused = self.fusion.fuse(query, runs)
        if self.ranker is not None:
            head = [i for i, _ in fused[: self.ranker.depth]]
            read = self.store.iter_paragraphs(para_ids=list(dict.fromkeys(head + [i for i, _ in runs["chars"]])))
            candidates = Candidates.of(read, self.store.neighbours(head))
            fused = self.ranker.rerank(query, fused, runs, candidates, pasted=self.fusion.kind(query) == "paragraph")
        return fused[:depth], runs

    def signal(self, query: str, name: str, *, depth: int = CANDIDATES, allowed: np.ndarray | None = None,
               filters: Filters | None = None, ann: dict[str, int] | None = None) -> list[tuple[int, float]]:  # fmt: skip
        """One signal's ranking, (paragraph id, score) best first: `dense`, `bm25` (words) or `chars`.

        ``filters`` go to a backend that applies them itself (Milvus); ``allowed`` limits every backend.
        ``ann``: search breadth of the dense index (``nprobe``, ``ef_search``) for this query.
        """
        vector = None
        if name == "dense":
            unknown = sorted(set(ann or {}) - {"nprobe", "ef_search"})
            if unknown:
                raise ConfigError(f"unknown dense search parameter {unknown[0]!r}: use nprobe or ef_search")
            vector = self.encoder.encode_queries([query])
        return self.indexes.search(name, query, vector, depth, filters=filters, allowed=allowed, ann=ann)

    def _allowed(self, filters: Filters | None) -> np.ndarray | None:
        """The paragraph ids a ranking may return; None for all the index holds (when it is in step with the store).

        A backend that filters natively gets the filters themselves, and ids only to leave out removed paragraphs.
        """
        if filters is not None and filters.active and not self.indexes.native_filters:
            where, params = filters.to_sql()
            allowed = np.asarray(self.store.paragraph_ids(where, params), dtype=np.int64)  # stored ids only
            self._behind()
            return allowed
        return np.asarray(self.store.paragraph_ids(), dtype=np.int64) if self._behind() else None

    def _behind(self) -> bool:
        """Whether the index holds paragraphs the store no longer has; warns once per change of the store.

        The full fingerprint is compared only when the store's cheap version changed since the last query.
        """
        version = self.store.version()
        if self._checked is not None and self._checked[0] == version:
            return self._checked[1]
        removed = False
        if self.store.fingerprint() != self.indexes.corpus_fingerprint:
            stored = np.asarray(self.store.paragraph_ids(), dtype=np.int64)
            indexed = self.indexes.ids()
            n_removed, n_new = (~np.isin(indexed, stored)).sum(), (~np.isin(stored, indexed)).sum()
            if n_removed or n_new:
                log.warning("the search index is behind the store (%d removed or changed paragraphs left out, %d "
                            "new ones not searched yet); run `policy-nlp index update`", n_removed, n_new)
            removed = bool(n_removed)
        self._checked = (version, removed)
        return removed

    def _hits(self, query: str, ranked: list[tuple[int, float]], runs: dict[str, list[tuple[int, float]]], *,
              k: int, group: bool, offset: int = 0) -> list[Hit]:  # fmt: skip
        if not ranked:
            return []
        paragraphs = {p.para_id: p for p in self.store.iter_paragraphs(para_ids=[i for i, _ in ranked])}
        ids = [i for i, _ in ranked if i in paragraphs]  # another process may remove a document meanwhile
        scores = dict(ranked)
        if group:
            groups = group_duplicates(ids, [paragraphs[i].text for i in ids], [scores[i] for i in ids])
            chosen = [(g.leader_id, list(g.member_ids[1:])) for g in groups[offset : offset + k]]
        else:
            chosen = [(i, []) for i in ids[offset : offset + k]]
        terms = _query_terms(query)
        neighbours = self.store.neighbours([i for i, _ in chosen])
        hits = [_hit(paragraphs[i], scores[i], terms, [_member(paragraphs[d]) for d in dups]) for i, dups in chosen]
        for hit in hits:
            hit.before_id, hit.after_id = neighbours.get(hit.para_id, (None, None))
        if runs and self.relevance is not None:
            texts = {i: paragraphs[i].text for i, _ in chosen}
            rows = features(query, [i for i, _ in chosen], runs, texts, self.fusion)
            for hit, p in zip(hits, self.relevance.predict(rows)):
                hit.relevance, hit.weak = round(p, 3), p < self.relevance.threshold
        return hits


@dataclass(frozen=True)
class SearchPage:
    """One page of results and the facet counts (bureau, level, year, theme) of everything ranked."""

    hits: list[Hit]
    facets: Facets


def _query_terms(query: str) -> list[str]:
    """The query's words and whitespace-separated chunks worth highlighting, longest first.

    A chunk such as 县管校聘 is kept whole besides its words (县管, 校聘), so a paragraph holding the
    whole phrase is marked as one span.
    """
    words = {t for t in tokenize(query) if len(t) > 1 or not t.isascii()}
    chunks = {c.lower() for c in query.split() if len(c) > 1}
    return sorted(words | chunks, key=len, reverse=True)


def _hit(p: StoredParagraph, score: float, terms: list[str], members: list[Member]) -> Hit:
    matched = [t for t in terms if t in p.text.lower()]
    window = snippet(p.text, matched)
    return Hit(
        para_id=p.para_id, score=float(score), doc_id=p.doc_id, title=p.title, bureau=p.bureau, level=p.level,
        region=p.region, years=p.years, doc_type=p.doc_type, section=SECTION_SEPARATOR.join(p.section_path),
        text=p.text, snippet=window, matched_terms=matched,
        duplicates=[m.para_id for m in members], members=members, highlights=highlight_spans(window, matched),
    )  # fmt: skip


def _member(p: StoredParagraph) -> Member:
    return Member(para_id=p.para_id, doc_id=p.doc_id, title=p.title, bureau=p.bureau, level=p.level, years=p.years)


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
    """A window of ``text`` around the first place of its longest matched term (the start when none matched),
    with … at cuts."""
    flat = text.replace("\n", " ")
    found = [t for t in terms if t in flat.lower()]
    start = max(0, flat.lower().find(max(found, key=len)) - width // 4) if found else 0
    end = min(len(flat), start + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
