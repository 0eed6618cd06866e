"""Positions of paragraph ids in an index's storage order, looked up without scanning every id per query."""

from __future__ import annotations

import numpy as np


class IdPositions:
    """Where each of an array of unique ids sits: a sorted copy made once, looked up by binary search."""

    def __init__(self, stored: np.ndarray) -> None:
        self._order = np.argsort(stored, kind="stable")
        self._sorted = stored[self._order]

    def of(self, ids: np.ndarray) -> np.ndarray:
        """The storage positions of those `ids` that are stored, in the order of `ids`."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self._sorted):
            return np.empty(0, np.int64)
        at = np.minimum(np.searchsorted(self._sorted, ids), len(self._sorted) - 1)
        return self._order[at[self._sorted[at] == ids]]
