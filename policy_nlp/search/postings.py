"""A keyword index's postings (bm25s's word-major score columns), read one word's slice at a time.

A saved index keeps its postings in `.npy` files that may be large (the character index of a million paragraphs
takes about 3 GB). Reading them through a memory map would make every page a query touches
count in the process's resident memory for as long as the index is open; reading each slice with `os.preadv`
into a fresh buffer leaves the pages in the operating system's shared, reclaimable file cache instead, so
resident memory holds only the current query's postings.
"""

from __future__ import annotations

import os
import weakref

import numpy as np
import scipy.sparse

from policy_nlp.errors import SearchIndexError


class _Slices:
    """Contiguous slices of a 1-D array, concatenated: sliced in memory, or read from the file behind a memory map."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array
        self._fd: int | None = None
        if isinstance(array, np.memmap) and array.filename is not None:
            self._fd = os.open(array.filename, os.O_RDONLY)
            self._offset = array.offset
            weakref.finalize(self, os.close, self._fd)

    def read(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """``array[starts[0]:ends[0]]``, ``array[starts[1]:ends[1]]``, … as one new array."""
        if self._fd is None:
            return np.concatenate([self._array[s:e] for s, e in zip(starts.tolist(), ends.tolist())])
        lengths = ends - starts
        out = np.empty(int(lengths.sum()), self._array.dtype)
        size = out.itemsize
        bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        for start, lo, hi in zip(starts.tolist(), bounds, bounds[1:]):
            view, offset = memoryview(out[lo:hi]).cast("B"), self._offset + start * size
            while len(view):  # a read may return fewer bytes than asked for
                got = os.preadv(self._fd, [view], offset)
                if not got:
                    raise SearchIndexError(f"the keyword index file {self._array.filename} was cut short since it was "
                                           "opened; run `policy-nlp index build` to rebuild it")
                view, offset = view[got:], offset + got
        return out


class Postings:
    """Which paragraphs each word occurs in and the BM25 weight it has there: word w's postings are entries
    ``indptr[w]:indptr[w + 1]`` of `indices` (paragraph positions) and `data` (weights)."""

    def __init__(self, columns: dict) -> None:
        """`columns`: bm25s's score dict (``data``, ``indices``, ``indptr``, ``num_docs``), in memory or memory-mapped."""
        self.indptr = np.array(columns["indptr"], np.int64)  # one entry per word: small, read once
        self.num_docs = int(columns["num_docs"])
        self._indices, self._data = _Slices(columns["indices"]), _Slices(columns["data"])

    def counts(self, words: np.ndarray) -> np.ndarray:
        """How many paragraphs each of `words` occurs in."""
        return self.indptr[words + 1] - self.indptr[words]

    def read(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(paragraph positions, weights) of every posting of `words`, word after word."""
        starts, ends = self.indptr[words], self.indptr[words + 1]
        return self._indices.read(starts, ends), self._data.read(starts, ends)

    def scores(self, words: np.ndarray, repeats: np.ndarray) -> np.ndarray:
        """Every paragraph's sum of the weights of `words`, each counted `repeats` times (float64).

        A sparse matrix-vector product over the words' postings: the same sums, added in the same order, as
        ``np.bincount`` of the concatenated postings, but without its conversions of every posting to int64 and
        float64 (about 5 times faster on a few million postings).
        """
        paragraphs, weights = self.read(words)
        indptr = np.concatenate([[0], np.cumsum(self.counts(words))])
        by_word = scipy.sparse.csc_array((weights, paragraphs, indptr), shape=(self.num_docs, len(words)))
        return by_word @ np.asarray(repeats, np.float64)
