"""BM25 keyword index over analyzed paragraphs (jieba words or character n-grams), scored by bm25s, keyed by
store paragraph ids.

Scoring is bm25s method "lucene": Okapi BM25 term weights (without the constant factor k1 + 1) with Lucene's
idf = ln(1 + (N - df + 0.5) / (df + 0.5)), which stays positive, so a word found in most paragraphs (教育, 教师)
still counts a little instead of scoring 0 as under Robertson's idf. The segmented paragraphs are kept (as token ids)
so that adding or removing paragraphs rebuilds the index without the original texts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import scipy.sparse

from policy_nlp.artifacts import Manifest, read_manifest, write_folder
from policy_nlp.errors import SearchIndexError
from policy_nlp.idpositions import IdPositions
from policy_nlp.search.postings import Postings
from policy_nlp.search.tokenize import ANALYZER_SETTINGS, ANALYZERS, analyze_batch, tokenizer_signature

logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its logger to DEBUG on import

ARTIFACT = "bm25-index"
K1 = 1.5
B = 0.75
METHOD = "lucene"
REBUILD_HINT = "run `policy-nlp index build` to rebuild it"
#: A query reads at most this many postings: its rarest tokens first, the commonest beyond the budget are left
#: out (single characters such as 教 occur in most paragraphs of a large home; far below it, nothing is left out).
MAX_POSTINGS = 3_000_000
_FIT_CHUNK = 100_000  # paragraphs whose term frequencies are counted at a time


class BM25Index:
    """Keyword search over paragraphs; `search` returns the top-k paragraphs that share a token with the query."""

    def __init__(self, ids: np.ndarray, vocab: dict[str, int], tokens: np.ndarray, offsets: np.ndarray,
                 analyzer: str = "words") -> None:  # fmt: skip
        """Paragraph `ids[i]` has the token ids `tokens[offsets[i]:offsets[i + 1]]` of `vocab`.

        `analyzer` names the function in `policy_nlp.search.tokenize.ANALYZERS` that makes tokens of a text.
        """
        if analyzer not in ANALYZERS:
            raise SearchIndexError(f"unknown keyword analyzer '{analyzer}': choose {', '.join(ANALYZERS)}")
        self._ids, self._vocab, self._tokens, self._offsets = ids, vocab, tokens, offsets
        self.analyzer = analyzer
        self._analyze = ANALYZERS[analyzer]
        self._bm25: bm25s.BM25 | None = None
        self._postings: Postings | None = None  # the score columns of `_bm25`, read a word at a time
        self._positions: IdPositions | None = None  # where each id sits, made on the first filtered query

    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str], analyzer: str = "words") -> BM25Index:
        """Analyze `texts` and index them under `ids`."""
        return cls.from_token_ids(ids, *analyze_batch(analyzer, texts), analyzer)

    @classmethod
    def from_tokens(cls, ids: np.ndarray, token_lists: Sequence[list[str]], analyzer: str = "words") -> BM25Index:
        """Index paragraphs already analyzed by the analyzer named `analyzer`."""
        vocab: dict[str, int] = {}
        tokens = np.fromiter((vocab.setdefault(t, len(vocab)) for ts in token_lists for t in ts), np.int32)
        offsets = np.concatenate([[0], np.cumsum([len(ts) for ts in token_lists], dtype=np.int64)])
        return cls.from_token_ids(ids, list(vocab), tokens, offsets, analyzer)

    @classmethod
    def from_token_ids(cls, ids: np.ndarray, vocab: list[str], tokens: np.ndarray, offsets: np.ndarray,
                       analyzer: str = "words") -> BM25Index:  # fmt: skip
        """Index paragraphs given as token ids into `vocab` (paragraph i: ``tokens[offsets[i]:offsets[i + 1]]``)."""
        index = cls(np.empty(0, np.int64), {}, np.empty(0, np.int32), np.zeros(1, np.int64), analyzer)
        index._append(ids, vocab, tokens, offsets)
        index._fit()
        return index

    @property
    def ids(self) -> np.ndarray:
        """All paragraph ids in the index, in index order."""
        return self._ids.copy()

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: np.ndarray, texts: Sequence[str]) -> None:
        """Add paragraphs (an id already in the index is refused) and rebuild the scores."""
        self._append(ids, *analyze_batch(self.analyzer, texts))
        self._fit()

    def remove(self, ids: np.ndarray) -> int:
        """Remove paragraphs by id (unknown ids are ignored), rebuild, and return how many were removed."""
        drop = np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        lengths = np.diff(self._offsets)
        self._tokens = self._tokens[np.repeat(~drop, lengths)]
        self._offsets = np.concatenate([[0], np.cumsum(lengths[~drop])])
        self._ids = self._ids[~drop]
        self._fit()
        return int(drop.sum())

    def search(self, query: str, k: int, *, allowed_ids: np.ndarray | None = None,
               max_postings: int | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Top-k (scores, ids) as 1-D arrays, best first, ties by id; only paragraphs sharing a token with the query.

        A token repeated in the query counts each time (a pasted paragraph weighs its repeated words more).
        With `allowed_ids`, other paragraphs are masked out before the top-k is taken. `max_postings` replaces
        `MAX_POSTINGS`, the most postings a query reads.
        """
        query_ids = [self._vocab[t] for t in self._analyze(query) if t in self._vocab]
        if self._postings is None or not query_ids or k <= 0:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        scores = self._scores(query_ids, max_postings)
        if allowed_ids is None:
            hits = np.flatnonzero(scores > 0)
        else:  # only the allowed paragraphs' scores are looked at
            if self._positions is None:
                self._positions = IdPositions(self._ids)
            allowed = np.unique(self._positions.of(allowed_ids))
            hits = allowed[scores[allowed] > 0]
        if len(hits) > k:  # keep every hit tied with the k-th best, then sort exactly
            kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
            hits = hits[scores[hits] >= kth]
        order = np.lexsort((self._ids[hits], -scores[hits]))[:k]
        return scores[hits[order]], self._ids[hits[order]]

    def _scores(self, query_ids: list[int], max_postings: int | None = None) -> np.ndarray:
        """Every paragraph's score: the sum of bm25s's precomputed per-token columns, each once per query repeat.

        The same sum as `bm25s.BM25.get_scores`, in one sparse product (`Postings.scores`) instead of one
        `np.add.at` per query token (which made a pasted paragraph cost hundreds of milliseconds at 100k
        paragraphs). Only the rarest tokens whose postings fit in `max_postings` (default `MAX_POSTINGS`) count;
        the rarest always does.
        """
        tokens, repeats = np.unique(np.asarray(query_ids, dtype=np.int64), return_counts=True)
        counts = self._postings.counts(tokens)
        rarest = np.argsort(counts, kind="stable")
        within = np.cumsum(counts[rarest]) <= (MAX_POSTINGS if max_postings is None else max_postings)
        keep = np.sort(rarest[within | (np.arange(len(rarest)) == 0)])
        return self._postings.scores(tokens[keep], repeats[keep])

    def save(self, directory: str | Path) -> None:
        """Write bm25s's files, the segmented paragraphs and `manifest.json` to `directory`, atomically."""
        manifest = Manifest.new(ARTIFACT, counts={"paragraphs": len(self), "words": len(self._vocab)},
                                settings={"k1": K1, "b": B, "method": METHOD, "analyzer": self.analyzer,
                                          "tokenizer": ANALYZER_SETTINGS[self.analyzer],
                                          "tokenizer_signature": tokenizer_signature(self.analyzer)},
                                libraries=(bm25s, np))  # fmt: skip
        with write_folder(Path(directory), manifest) as tmp:
            if self._bm25 is not None:
                self._bm25.save(tmp, show_progress=False)
            np.save(tmp / "ids.npy", self._ids)
            np.save(tmp / "doc_tokens.npy", self._tokens)
            np.save(tmp / "doc_offsets.npy", self._offsets)

    @classmethod
    def load(cls, directory: str | Path, analyzer: str = "words") -> BM25Index:
        """Load a saved index without reading its arrays into memory (queries read their words' postings from the
        files, see `policy_nlp.search.postings`); refuse one made by another analyzer or with other tokenizer settings."""
        directory = Path(directory)
        try:
            manifest = read_manifest(directory, ARTIFACT, legacy=_manifest_v1)
            ids, tokens, offsets = (np.load(directory / name, allow_pickle=False, mmap_mode="r")
                                    for name in ("ids.npy", "doc_tokens.npy", "doc_offsets.npy"))
            has_scores = (directory / "params.index.json").is_file()  # absent when no paragraph has a word
            bm25 = bm25s.BM25.load(directory, mmap=True, show_progress=False) if has_scores else None
        except FileNotFoundError as exc:
            if not directory.is_dir():
                raise SearchIndexError(f"no keyword index in {directory}; run `policy-nlp index build` to create it") from exc
            raise SearchIndexError(f"the keyword index in {directory} is incomplete; {REBUILD_HINT}") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise SearchIndexError(f"the keyword index in {directory} is damaged or of another format; "
                                   f"{REBUILD_HINT}") from exc
        if manifest.counts.get("paragraphs") != len(ids):
            raise SearchIndexError(f"the keyword index in {directory} does not match its manifest: {len(ids)} "
                                   f"paragraphs, {manifest.counts.get('paragraphs')} in the manifest; {REBUILD_HINT}")
        if (manifest.settings.get("analyzer", "words") != analyzer
                or manifest.settings.get("tokenizer_signature") != tokenizer_signature(analyzer)):
            raise SearchIndexError(f"the keyword index in {directory} was made by another analyzer or with other "
                                   f"tokenizer settings; {REBUILD_HINT}")
        index = cls(ids, bm25.vocab_dict if bm25 else {}, tokens, offsets, analyzer)
        index._bm25, index._postings = bm25, Postings(bm25.scores) if bm25 else None
        return index

    def _append(self, ids: np.ndarray, vocab: list[str], tokens: np.ndarray, offsets: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (len(offsets) - 1,):
            raise SearchIndexError(f"expected {len(offsets) - 1} paragraph ids, got an array of shape {ids.shape}")
        all_ids = np.concatenate([self._ids, ids])
        if len(np.unique(all_ids)) != len(all_ids):
            raise SearchIndexError("paragraph ids must be unique and not already in the keyword index")
        known = self._vocab
        to_global = np.fromiter((known.setdefault(t, len(known)) for t in vocab), np.int32, len(vocab))
        self._ids = all_ids
        self._tokens = np.concatenate([self._tokens, to_global[np.asarray(tokens, np.int64)]])
        self._offsets = np.concatenate([self._offsets, self._offsets[-1] + np.asarray(offsets[1:], np.int64)])

    def _fit(self) -> None:
        """Drop words no paragraph uses any more, renumber them, and recompute the bm25s scores."""
        self._positions = None
        used = np.flatnonzero(np.bincount(self._tokens, minlength=len(self._vocab)))
        renumber = np.zeros(len(self._vocab), np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        self._tokens = renumber[self._tokens]
        words = np.empty(len(self._vocab), dtype=object)
        words[list(self._vocab.values())] = list(self._vocab.keys())
        self._vocab = {word: i for i, word in enumerate(words[used].tolist())}
        if not self._vocab:
            self._bm25, self._postings = None, None
            return
        self._bm25 = bm25s.BM25(k1=K1, b=B, method=METHOD)
        self._bm25.scores = _lucene_scores(self._tokens, self._offsets, len(self._vocab))
        self._bm25.vocab_dict = dict(self._vocab)
        self._bm25.unique_token_ids_set = set(self._vocab.values())
        self._bm25.nonoccurrence_array = None
        self._postings = Postings(self._bm25.scores)


def _lucene_scores(tokens: np.ndarray, offsets: np.ndarray, n_words: int) -> dict[str, object]:
    """bm25s's "lucene" score matrix (CSC by word: data, indices = paragraph, indptr, num_docs), vectorised.

    What `bm25s.BM25.index` computes one paragraph at a time in Python: each (paragraph, word) pair scores
    idf * tf / (tf + k1 * (1 - b + b * length / mean length)) with idf = ln(1 + (N - df + 0.5) / (df + 0.5)).
    Term frequencies are counted a chunk of paragraphs at a time (sorting small keys), and scipy turns the
    paragraph-major matrix into the word-major one bm25s keeps.
    """
    lengths = np.diff(offsets)
    n_docs = len(lengths)
    pairs_words, pairs_tf, row_counts = [], [], []
    for start in range(0, n_docs, _FIT_CHUNK):
        stop = min(n_docs, start + _FIT_CHUNK)
        doc = np.repeat(np.arange(stop - start, dtype=np.int64), lengths[start:stop])
        keys, tf = np.unique(doc * n_words + tokens[offsets[start]:offsets[stop]], return_counts=True)
        pairs_words.append((keys % n_words).astype(np.int32))
        pairs_tf.append(tf.astype(np.float32))
        row_counts.append(np.bincount(keys // n_words, minlength=stop - start))
    words, tf = np.concatenate(pairs_words), np.concatenate(pairs_tf)
    del pairs_words, pairs_tf
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(row_counts))])
    df = np.bincount(words, minlength=n_words)
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = (K1 * ((1 - B) + B * lengths / lengths.mean())).astype(np.float32)
    tf /= np.repeat(norm, np.diff(indptr)) + tf
    tf *= idf[words]
    by_word = scipy.sparse.csr_matrix((tf, words, indptr), shape=(n_docs, n_words)).tocsc()
    return {"data": by_word.data, "indices": by_word.indices.astype(np.int32, copy=False),
            "indptr": by_word.indptr.astype(np.int64), "num_docs": n_docs}


def _manifest_v1(data: dict) -> Manifest:
    """A format-1 keyword-index manifest (flat fields) read into the current shape."""
    if data["format_version"] != 1:
        raise ValueError(f"unknown keyword index format {data['format_version']}")
    return Manifest(ARTIFACT, counts={"paragraphs": data["count"]}, format_version=1,
                    settings={"tokenizer": data["tokenizer"], "tokenizer_signature": data["tokenizer_signature"]},
                    versions={"policy_nlp": data["policy_nlp"], "bm25s": data["bm25s"]})
