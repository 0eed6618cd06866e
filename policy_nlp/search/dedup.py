"""Grouping of near-duplicate search hits: one template or copied policy text shows once, with its copies.

Similarity is the Jaccard index of character 3-gram sets (letters and digits only, NFKC-normalised).
Hits are clustered greedily in score order: a hit joins the first group, best leader first, whose
leader is similar enough; otherwise it leads a new group.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

SHINGLE_SIZE = 3
SIMILARITY_THRESHOLD = 0.5


@dataclass(frozen=True)
class DuplicateGroup:
    """Hits that say the same thing; the leader is the best-scored one and comes first in `member_ids`."""

    leader_id: int
    score: float
    member_ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.member_ids)


def shingles(text: str) -> frozenset[str]:
    """Character n-grams of `text` without whitespace and punctuation (the whole text if shorter)."""
    chars = "".join(ch for ch in unicodedata.normalize("NFKC", text).lower()
                    if unicodedata.category(ch)[0] in "LN")
    if len(chars) <= SHINGLE_SIZE:
        return frozenset([chars]) if chars else frozenset()
    return frozenset(chars[i:i + SHINGLE_SIZE] for i in range(len(chars) - SHINGLE_SIZE + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|; 0 when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def group_duplicates(ids: Sequence[int], texts: Sequence[str], scores: Sequence[float],
                     threshold: float = SIMILARITY_THRESHOLD) -> list[DuplicateGroup]:
    """Group hits whose texts are near-duplicates; groups come best leader first, members best first.

    Order is deterministic: by score descending, then id ascending.
    """
    if not len(ids) == len(texts) == len(scores):
        raise ValueError(f"got {len(ids)} ids, {len(texts)} texts and {len(scores)} scores")
    hits = sorted(zip((int(i) for i in ids), texts, (float(s) for s in scores)), key=lambda h: (-h[2], h[0]))
    postings: dict[str, list[int]] = {}  # shingle -> the groups whose leader has it, so each hit meets only
    sizes: list[int] = []  # the leaders it shares a shingle with (a search ranks hundreds of candidates)
    members: list[list[tuple[int, float]]] = []
    for doc, text, score in hits:
        grams = shingles(text)
        shared = Counter(group for gram in grams for group in postings.get(gram, ()))
        match = next((group for group in sorted(shared)
                      if shared[group] / (len(grams) + sizes[group] - shared[group]) >= threshold), None)
        if match is None:
            for gram in grams:
                postings.setdefault(gram, []).append(len(members))
            sizes.append(len(grams))
            members.append([(doc, score)])
        else:
            members[match].append((doc, score))
    return [DuplicateGroup(leader_id=group[0][0], score=group[0][1], member_ids=tuple(d for d, _ in group))
            for group in members]
