"""Facet counts of a result set: how many ranked paragraphs come from each bureau, level, year and theme."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from ..corpus import StoredParagraph

#: Facet name -> value -> number of paragraphs, most frequent first.
Facets = dict[str, dict[str, int]]
FACET_NAMES = ("bureau", "level", "year", "theme")


def count_facets(paragraphs: Iterable[StoredParagraph], themes: Mapping[int, list[str]]) -> Facets:
    """Count paragraphs per bureau, level, year covered (a 2023-2024 report counts for both) and assigned theme.

    A bureau counts the paragraphs whose bureau contains it, as the bureau filter selects them. Paragraphs
    without a bureau count under "" (unknown); without years or themes they add to no year or theme.
    """
    counts: dict[str, Counter[str]] = {name: Counter() for name in FACET_NAMES}
    for p in paragraphs:
        counts["bureau"][p.bureau] += 1
        counts["level"][p.level] += 1
        counts["year"].update(str(y) for y in set(p.years))
        counts["theme"].update(set(themes.get(p.para_id, ())))
    bureaus = counts["bureau"]  # the bureau filter matches substrings: 教育局 also selects 县教育局's paragraphs
    counts["bureau"] = Counter({b: sum(n for other, n in bureaus.items() if b in other) for b in bureaus})
    return {name: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for name, c in counts.items()}
