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

from policy_nlp.artifacts import Manifest, read_manifest, write_folder
from policy_nlp.errors import SearchIndexError
from policy_nlp.search.tokenize import ANALYZER_SETTINGS, ANALYZERS, tokenizer_signature

logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its logger to DEBUG on import

ARTIFACT = "bm25-index"
K1 = 1.5
B = 0.75
METHOD = "lucene"
REBUILD_HINT = "run `policy-nlp index build` to rebuild it"


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

    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str], analyzer: str = "words") -> BM25Index:
        """Analyze `texts` and index them under `ids`."""
        return cls.from_tokens(ids, [ANALYZERS[analyzer](text) for text in texts], analyzer)

    @classmethod
    def from_tokens(cls, ids: np.ndarray, token_lists: Sequence[list[str]], analyzer: str = "words") -> BM25Index:
        """Index paragraphs already analyzed by the analyzer named `analyzer`."""
        index = cls(np.empty(0, np.int64), {}, np.empty(0, np.int32), np.zeros(1, np.int64), analyzer)
        index._append(ids, token_lists)
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
        self._append(ids, [self._analyze(text) for text in texts])
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

    def search(self, query: str, k: int, *, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) as 1-D arrays, best first, ties by id; only paragraphs sharing a token with the query.

        A token repeated in the query counts each time (a pasted paragraph weighs its repeated words more).
        With `allowed_ids`, other paragraphs are masked out before the top-k is taken.
        """
        query_ids = [self._vocab[t] for t in self._analyze(query) if t in self._vocab]
        if self._bm25 is None or not query_ids or k <= 0:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        scores = self._scores(query_ids)
        if allowed_ids is not None:
            scores *= np.isin(self._ids, np.asarray(allowed_ids, dtype=np.int64))
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:  # keep every hit tied with the k-th best, then sort exactly
            kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
            hits = hits[scores[hits] >= kth]
        order = np.lexsort((self._ids[hits], -scores[hits]))[:k]
        return scores[hits[order]], self._ids[hits[order]]

    def _scores(self, query_ids: list[int]) -> np.ndarray:
        """Every paragraph's score: the sum of bm25s's precomputed per-token columns, each once per query repeat.

        The same sum as `bm25s.BM25.get_scores`, gathered in one `np.bincount` instead of one `np.add.at` per
        query token (which made a pasted paragraph cost hundreds of milliseconds at 100k paragraphs).
        """
        tokens, repeats = np.unique(np.asarray(query_ids, dtype=np.int64), return_counts=True)
        columns = self._bm25.scores
        starts, ends = columns["indptr"][tokens], columns["indptr"][tokens + 1]
        lengths = ends - starts
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        entries = offsets + np.arange(lengths.sum())
        weights = columns["data"][entries] * np.repeat(repeats, lengths)
        return np.bincount(columns["indices"][entries], weights=weights, minlength=columns["num_docs"])

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
        """Load a saved index; refuse one made by another analyzer or with other tokenizer settings."""
        directory = Path(directory)
        try:
            manifest = read_manifest(directory, ARTIFACT, legacy=_manifest_v1)
            ids, tokens, offsets = (np.load(directory / name, allow_pickle=False)
                                    for name in ("ids.npy", "doc_tokens.npy", "doc_offsets.npy"))
            has_scores = (directory / "params.index.json").is_file()  # absent when no paragraph has a word
            bm25 = bm25s.BM25.load(directory, show_progress=False) if has_scores else None
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
        index._bm25 = bm25
        return index

    def _append(self, ids: np.ndarray, token_lists: Sequence[list[str]]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (len(token_lists),):
            raise SearchIndexError(f"expected {len(token_lists)} paragraph ids, got an array of shape {ids.shape}")
        all_ids = np.concatenate([self._ids, ids])
        if len(np.unique(all_ids)) != len(all_ids):
            raise SearchIndexError("paragraph ids must be unique and not already in the keyword index")
        vocab = self._vocab
        new_tokens = [vocab.setdefault(t, len(vocab)) for tokens in token_lists for t in tokens]
        lengths = np.array([len(tokens) for tokens in token_lists], dtype=np.int64)
        self._ids = all_ids
        self._tokens = np.concatenate([self._tokens, np.asarray(new_tokens, dtype=np.int32)])
        self._offsets = np.concatenate([self._offsets, self._offsets[-1] + np.cumsum(lengths)])

    def _fit(self) -> None:
        """Drop words no paragraph uses any more, renumber them, and recompute the bm25s scores."""
        used, self._tokens = np.unique(self._tokens, return_inverse=True)
        self._tokens = self._tokens.astype(np.int32)
        words = np.empty(len(self._vocab), dtype=object)
        words[list(self._vocab.values())] = list(self._vocab.keys())
        self._vocab = {word: i for i, word in enumerate(words[used].tolist())}
        if not self._vocab:
            self._bm25 = None
            return
        docs = [doc.tolist() for doc in np.split(self._tokens, self._offsets[1:-1])]
        self._bm25 = bm25s.BM25(k1=K1, b=B, method=METHOD)
        self._bm25.index((docs, dict(self._vocab)), create_empty_token=False, show_progress=False)


def _manifest_v1(data: dict) -> Manifest:
    """A format-1 keyword-index manifest (flat fields) read into the current shape."""
    if data["format_version"] != 1:
        raise ValueError(f"unknown keyword index format {data['format_version']}")
    return Manifest(ARTIFACT, counts={"paragraphs": data["count"]}, format_version=1,
                    settings={"tokenizer": data["tokenizer"], "tokenizer_signature": data["tokenizer_signature"]},
                    versions={"policy_nlp": data["policy_nlp"], "bm25s": data["bm25s"]})
